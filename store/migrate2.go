package store

import (
	"strings"
)

// Format 2 moves the metadata that grows with traffic and time out of
// buntdb into the tree (kvtx.go): issues, groupings, tag counts, releases,
// deploys, history and the outbox move as they are; issues gain their list
// indexes and state counts (issueindex.go) and groupings their reverse
// keys; hourly counters change layout from hourly:<subject>:<day> to the
// day-first families of hourly.go, and the next roll-up folds the old days.
// Keys move in transactions of migrateChunk, each of which deletes from
// buntdb what it writes to the tree, so a crash resumes where it stopped.
func init() { migrations[1] = migrateTo2 }

// migrateChunk is how many keys one step-2 transaction moves; migrateHook,
// set by tests, runs after each and can stop the migration there as a
// crash would.
var (
	migrateChunk = 1000
	migrateHook  func() error
)

func migrateTo2(db *DB) error {
	for _, fam := range []string{"issue", "grouping", "itag", "itagn", "release", "deploy", "history", "outbox", "hourly", "pissue"} {
		for {
			n := 0
			err := db.update(func(tx *kvTx) error {
				type kv struct{ k, v string }
				var batch []kv
				err := tx.kv.AscendKeys(fam+":*", func(k, v string) bool {
					batch = append(batch, kv{k, v})
					return len(batch) < migrateChunk
				})
				if err != nil {
					return err
				}
				for _, e := range batch {
					if err := migrateKey2(tx, e.k, e.v); err != nil {
						return err
					}
					if _, err := tx.kv.Delete(e.k); err != nil {
						return err
					}
				}
				n = len(batch)
				return nil
			})
			if err != nil {
				return err
			}
			if migrateHook != nil && n > 0 {
				if err := migrateHook(); err != nil {
					return err
				}
			}
			if n < migrateChunk {
				break
			}
		}
	}
	return nil
}

// migrateKey2 writes one format-1 key into the tree in its format-2 form.
func migrateKey2(tx *kvTx, k, v string) error {
	fam, rest, _ := strings.Cut(k, ":")
	switch fam {
	case "issue":
		var iss Issue
		if err := jsonUnmarshal(v, &iss); err != nil {
			return err
		}
		return putIssue(tx, &iss)
	case "grouping":
		var g Grouping
		if err := jsonUnmarshal(v, &g); err != nil {
			return err
		}
		hash := rest[strings.IndexByte(rest, ':')+1:]
		if _, _, err := tx.Set(issueGroupingKey(g.Issue, hash), "", nil); err != nil {
			return err
		}
	case "hourly":
		// hourly:<subject>:<yyyymmdd> → <family><yyyymmdd>:<subject>
		i := strings.LastIndexByte(rest, ':')
		subject, day := rest[:i], rest[i+1:]
		_, _, err := tx.Set(hourlyFamily(subject)+day+":"+subject, v, nil)
		return err
	}
	_, _, err := tx.Set(k, v, nil)
	return err
}
