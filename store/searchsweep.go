package store

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/tidwall/buntdb"
)

// keySearchSweep is "done" once SweepSearchLeftovers has run through (a
// new store starts with it: checkFormat).
const keySearchSweep = "searchsweep"

// sweepScan is how many keys one read of the sweep looks at: a read holds
// off the digest's commits, so it stays short.
const sweepScan = 1000

// SweepSearchLeftovers deletes the search keys nothing reaches any more:
// the postings (sterm:<pid>:...) of projects that no longer exist, and the
// term lists (iterm:) and facts (ifact:) of issues that no longer exist.
// Project deletes before the sixteenth round left them in the tree. Ids
// of projects and issues are never reused, so a key found without its
// project or issue stays so, whatever runs meanwhile. Reads look at
// sweepScan keys at a time and deletes go in chunks (deleteKeysUnder), so
// memory does not grow with the store. It runs through once per store:
// done, it records keySearchSweep, and later calls return at once; cut
// short (ctx), the next call starts again. It returns how many keys it
// deleted.
func (db *DB) SweepSearchLeftovers(ctx context.Context) (int, error) {
	done := false
	db.view(func(tx *kvTx) error {
		v, err := tx.Get(keySearchSweep)
		done = err == nil && v == "done"
		return nil
	})
	if done {
		return 0, nil
	}
	n, err := db.sweepPostings(ctx)
	if err == nil {
		var m int
		m, err = db.sweepIssueKeys(ctx, "ifact:")
		n += m
	}
	if err == nil {
		var m int
		m, err = db.sweepIssueKeys(ctx, "iterm:")
		n += m
	}
	if err != nil {
		return n, err
	}
	return n, db.update(func(tx *kvTx) error {
		_, _, err := tx.Set(keySearchSweep, "done", nil)
		return err
	})
}

// sweepPostings deletes the postings of every project id under "sterm:"
// that has no project.
func (db *DB) sweepPostings(ctx context.Context) (int, error) {
	n := 0
	from := "sterm:"
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		var key, prefix string
		gone := false
		db.view(func(tx *kvTx) error {
			tx.ascendFrom("sterm:", from, func(k, v string) bool {
				key = k
				if i := strings.IndexByte(k[len("sterm:"):], ':'); i >= 0 {
					prefix = k[:len("sterm:")+i+1]
				}
				return false
			})
			if prefix == "" {
				return nil
			}
			pid, err := strconv.Atoi(prefix[len("sterm:") : len(prefix)-1])
			if err != nil {
				return nil // not a posting's key: left alone
			}
			_, err = tx.Get(projectKey(pid))
			gone = errors.Is(err, buntdb.ErrNotFound)
			return nil
		})
		switch {
		case key == "":
			return n, nil
		case prefix == "":
			// Not a posting's key (no project id): left alone.
			from = key + "\x00"
			continue
		}
		if gone {
			m, err := db.deleteKeysUnder(prefix)
			n += m
			if err != nil {
				return n, err
			}
		}
		// Past every key under prefix: ';' follows ':'.
		from = prefix[:len(prefix)-1] + ";"
	}
}

// sweepIssueKeys deletes the keys under family ("ifact:" or "iterm:",
// followed by the issue id in ten digits) whose issue does not exist.
func (db *DB) sweepIssueKeys(ctx context.Context, family string) (int, error) {
	n := 0
	from := family
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		var orphans []string
		read, last := 0, ""
		db.view(func(tx *kvTx) error {
			lastID, lastGone := "", false
			tx.ascendFrom(family, from, func(k, v string) bool {
				read++
				last = k
				if len(k) < len(family)+10 {
					return read < sweepScan
				}
				id := k[len(family) : len(family)+10]
				if id != lastID {
					_, err := tx.Get("issue:" + id)
					lastID, lastGone = id, errors.Is(err, buntdb.ErrNotFound)
				}
				if lastGone {
					orphans = append(orphans, k)
				}
				return read < sweepScan
			})
			return nil
		})
		if len(orphans) > 0 {
			if err := db.update(func(tx *kvTx) error { return tx.deleteKeys(orphans) }); err != nil {
				return n, err
			}
			n += len(orphans)
		}
		if read < sweepScan {
			return n, nil
		}
		from = last + "\x00" // the next key after last
	}
}
