package store

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/tidwall/buntdb"
)

// Filling the search index for issues stored before it existed (or before
// their ifact: key did). Open does not migrate them: at 100,000 issues that
// would hold the start for minutes. The server instead fills them in the
// background (digest.FillSearch) in small batches through Digest, so ingest
// waits at most one batch, and records how far it got under keySearchFill
// in the same transaction as each batch: a restart goes on from there.
//
//	searchfill   the last issue id the fill went past, or "done"
const keySearchFill = "searchfill"

// SearchFill is how far the fill of the search index got.
type SearchFill struct {
	// After is the last issue id checked; Done says every issue is.
	After uint32 `json:"after"`
	Done  bool   `json:"done"`
}

// SearchFillProgress returns how far the fill of the search index got.
func (db *DB) SearchFillProgress() (SearchFill, error) {
	var f SearchFill
	err := db.view(func(tx *kvTx) error {
		v, err := tx.Get(keySearchFill)
		switch {
		case errors.Is(err, buntdb.ErrNotFound):
			return nil
		case err != nil:
			return err
		case v == "done":
			f.Done = true
			return nil
		}
		n, _ := strconv.ParseUint(v, 10, 32)
		f.After = uint32(n)
		return nil
	})
	return f, err
}

// Unindexed is an issue the fill has to index.
type Unindexed struct {
	Issue
	// NeedTerms says it has no search terms; otherwise it lacks only its
	// facts, which storing it again writes.
	NeedTerms bool
}

// UnindexedIssues returns the issues after issue id after (at most scan
// of them read) that have no facts (issues stored before they existed)
// or no search terms, and the last id read; done says no issue follows.
// An old issue that had an event since the upgrade has both, from that
// event: the words of its earlier events' stacks stay unindexed.
func (db *DB) UnindexedIssues(after uint32, scan int) (issues []Unindexed, last uint32, done bool, err error) {
	last, done = after, true
	err = db.view(func(tx *kvTx) error {
		var ierr error
		tx.ascendFrom("issue:", issueKey(after+1), func(k, v string) bool {
			if scan == 0 {
				done = false
				return false
			}
			scan--
			id := parseID(strings.TrimPrefix(k, "issue:"))
			last = id
			u := Unindexed{NeedTerms: true}
			tx.ascend(issueTermsPrefix(id), func(string, string) bool { u.NeedTerms = false; return false })
			if _, err := tx.Get(issueFactsKey(id)); err == nil && !u.NeedTerms {
				return true
			}
			if ierr = json.Unmarshal([]byte(v), &u.Issue); ierr != nil {
				return false
			}
			issues = append(issues, u)
			return true
		})
		return ierr
	})
	return issues, last, done, err
}

// HasSearchTerms reports whether the issue has search terms.
func (t *Tx) HasSearchTerms(iid uint32) bool {
	if it, ok := t.terms[iid]; ok {
		return len(it.all) > 0
	}
	has := false
	t.kv.ascend(issueTermsPrefix(iid), func(string, string) bool { has = true; return false })
	return has
}

// SetSearchFill records how far the fill got, with the batch.
func (t *Tx) SetSearchFill(f SearchFill) error {
	v := strconv.FormatUint(uint64(f.After), 10)
	if f.Done {
		v = "done"
	}
	_, _, err := t.kv.Set(keySearchFill, v, nil)
	return err
}

// deleteChunk is about how many keys one transaction of a bulk delete
// (deleteKeysUnder, deleteProjectIssues) deletes (a variable for tests).
var deleteChunk = 10000

// deleteKeysUnder deletes every key that starts with prefix, in
// transactions of at most deleteChunk deletes, so that neither memory nor
// one transaction grows with how many there are. It returns how many it
// deleted.
func (db *DB) deleteKeysUnder(prefix string) (int, error) {
	n := 0
	for {
		var keys []string
		db.view(func(tx *kvTx) error {
			tx.ascend(prefix, func(k, v string) bool {
				keys = append(keys, k)
				return len(keys) < deleteChunk
			})
			return nil
		})
		if len(keys) == 0 {
			return n, nil
		}
		err := db.update(func(tx *kvTx) error {
			return tx.deleteKeys(keys)
		})
		if err != nil {
			return n, err
		}
		n += len(keys)
	}
}

// DropSearchIndex deletes the whole search index (terms and facts) and the
// fill's progress, in batches of deletes: the data directory is then as
// one written before the index existed, and the next start fills it again.
// The tests of the fill use it.
func (db *DB) DropSearchIndex() error {
	for _, prefix := range []string{"sterm:", "iterm:", "ifact:"} {
		if _, err := db.deleteKeysUnder(prefix); err != nil {
			return err
		}
	}
	return db.update(func(tx *kvTx) error {
		if _, err := tx.Delete(keySearchFill); err != nil && !errors.Is(err, buntdb.ErrNotFound) {
			return err
		}
		return nil
	})
}
