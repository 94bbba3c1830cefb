// Package store is the only package that touches the data directory: the
// buntdb file with all metadata (projects, users, issues, groupings,
// releases, tag counts) and the per-project event logs and compressed event
// bodies beside it.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/tidwall/buntdb"
	"github.com/valyala/fastjson"

	"github.com/tinysink/tinysink/store/btree"
)

// Errors returned by the store.
var (
	// ErrNotFound is returned when the requested object does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrExists is returned when creating an object whose name is taken.
	ErrExists = errors.New("store: already exists")
	// ErrLocked is returned by Open when another process holds the data
	// directory.
	ErrLocked = errors.New("store: data directory is in use by another process")
	// ErrNewerFormat is returned by Open for a data directory written by a
	// newer tinysink.
	ErrNewerFormat = errors.New("store: data directory has a newer format")
)

// formatVersion is the data-directory format this build reads and writes
// (migrate.go: 2 moved the metadata into the tree, 3 stores new event
// bodies as S2).
const formatVersion = 3

// DB is an open data directory.
type DB struct {
	dir  string
	kv   *buntdb.DB
	tree *btree.DB // the growing metadata; see kvtx.go
	lock *os.File
	// Now returns the current time; tests replace it.
	Now func() time.Time
	// compactCrash, set by tests, is called after a compaction's new files
	// are written and after its commit; an error stops the compaction
	// there, leaving the files as a crash would.
	compactCrash func(stage string) error

	mu     sync.RWMutex // guards logs and keys
	logs   map[int]*eventLog
	keys   map[int]string      // project id → DSN key, for ingest auth
	quotas map[int]QuotaLimits // project id → its own quota, if any
	// forwards maps a project id to its own forward DSN, if any.
	forwards map[int]string

	// cleanOpen says the directory was closed cleanly (keyClean was set),
	// so Open can trust the stored counts; set only while opening.
	cleanOpen bool
	opened    bool // Open finished: Close may mark the stop clean

	digestMu sync.Mutex // serialises Digest batches
	punch    puncher    // gives evicted bodies' space back in the background
	// cands is the array the last removal listed a project's live records
	// in (liveCandidates), kept for the next (guarded by digestMu): at a
	// project's retention maximum every few digest batches list them all,
	// 48 bytes each, and a new array each time was a twentieth of the
	// bytes the server allocated at full speed.
	cands []candidate
	// spans is the array the last removal listed the surviving bodies
	// of the segments it touched in (applyRemoval), kept for the next
	// likewise: 16 bytes a body, ~3 % of the bytes the server allocated
	// at full speed when each round made its own.
	spans [][2]int64
	// batch is what the last digest batch grew one event at a time, kept
	// for the next (guarded by digestMu; see batchScratch).
	batch    batchScratch
	rolledUp string // the day RollUp last ran in Digest; guarded by digestMu

	ops opsState // counters for monitoring; see AlertStats, BackupRunning

	chunkMu sync.Mutex // guards chunk
	chunk   chunkState // bytes held in <data>/chunks (chunks.go)
}

// Open opens (creating if needed) the data directory dir. It takes an
// exclusive lock on the directory, so a second process gets ErrLocked.
func Open(dir string) (*DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	db := &DB{dir: dir, lock: lock, Now: time.Now, logs: map[int]*eventLog{}, keys: map[int]string{}, quotas: map[int]QuotaLimits{}, forwards: map[int]string{}}
	if err := db.open(); err != nil {
		unlockDir(lock)
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	tightenModes(dir)
	return db, nil
}

func (db *DB) open() error {
	path := filepath.Join(db.dir, "store.db")
	kv, err := buntdb.Open(path)
	if err != nil && errors.Is(err, buntdb.ErrInvalid) {
		// A damaged tail (torn write, garbage) makes buntdb refuse the whole
		// file: keep a copy and cut the file at the last whole command.
		if rerr := repairAOF(path); rerr != nil {
			return fmt.Errorf("%w (repair: %v)", err, rerr)
		}
		kv, err = buntdb.Open(path)
	}
	if err != nil {
		return err
	}
	// Every digest batch is one transaction, so one fsync per batch.
	// buntdb rewrites its append-only file once it is twice the size it had
	// after the last rewrite (and at least 32 MB), so the file stays
	// proportional to the live metadata.
	if err := kv.SetConfig(buntdb.Config{
		SyncPolicy:           buntdb.Always,
		AutoShrinkPercentage: 100,
		AutoShrinkMinSize:    32 << 20,
		AutoShrinkDisabled:   false,
	}); err != nil {
		kv.Close()
		return err
	}
	db.kv = kv
	if err := db.openTree(); err != nil {
		kv.Close()
		return err
	}
	if err := db.checkFormat(); err != nil {
		db.tree.Close()
		kv.Close()
		return err
	}
	projects, err := db.Projects()
	if err != nil {
		kv.Close()
		return err
	}
	if err := db.takeClean(); err != nil {
		kv.Close()
		return err
	}
	// Best effort: a directory that cannot be removed now is tried again
	// at the next start, and nothing reads it meanwhile.
	db.removeDeletedProjectFiles(projects)
	for _, p := range projects {
		if err := db.openProject(&p); err != nil {
			db.Close()
			return err
		}
	}
	db.cleanOpen = false
	db.opened = true
	return nil
}

// takeClean reads and removes keyClean.
func (db *DB) takeClean() error {
	return db.update(func(tx *kvTx) error {
		_, err := tx.Delete(keyClean)
		db.cleanOpen = err == nil
		if errors.Is(err, buntdb.ErrNotFound) {
			return nil
		}
		return err
	})
}

func (db *DB) checkFormat() error {
	from := formatVersion
	err := db.update(func(tx *kvTx) error {
		v, err := tx.Get(keyFormat)
		if errors.Is(err, buntdb.ErrNotFound) {
			if _, _, err = tx.Set(keyFormat, strconv.Itoa(formatVersion), nil); err != nil {
				return err
			}
			// Nor any search key left by an older build's deletes.
			if _, _, err = tx.Set(keySearchSweep, "done", nil); err != nil {
				return err
			}
			// A new store has no issue stored before the search index:
			// nothing for digest.FillSearch to scan at the first start.
			empty := true
			tx.ascend("issue:", func(string, string) bool { empty = false; return false })
			if empty {
				_, _, err = tx.Set(keySearchFill, "done", nil)
			}
			return err
		}
		if err != nil {
			return err
		}
		n, _ := strconv.Atoi(v)
		if n > formatVersion {
			return fmt.Errorf("%w (%d; this build knows %d)", ErrNewerFormat, n, formatVersion)
		}
		from = n
		return nil
	})
	if err != nil || from >= formatVersion {
		return err
	}
	return db.migrate(from) // see migrate.go
}

func (db *DB) openProject(p *Project) error {
	// After a clean stop the stored counts are right: no need to count
	// every issue's events in the log (a map as large as the issues). A
	// compaction to finish renumbers the chains, which the counting fixes.
	count := !db.cleanOpen || p.LogNext
	el, err := openEventLog(db.projectDir(p.ID), p.LogLen, p.SegFirst, p.Seg, p.SegOff, p.LogNext, count)
	if err != nil {
		return fmt.Errorf("open events of project %d: %w", p.ID, err)
	}
	db.mu.Lock()
	db.logs[p.ID] = el
	db.mu.Unlock()
	db.cacheProject(p.ID, p.Key, p.Quota, true)
	db.cacheForward(p.ID, p.ForwardDSN)
	if p.LogNext {
		// openEventLog finished the compaction; a stale flag would make
		// the next open take an uncommitted log.new for the log.
		if err := db.clearLogNext(p.ID); err != nil {
			return err
		}
	}
	if !count {
		return nil
	}
	err = db.reconcile(p.ID, el.live)
	el.live = nil
	return err
}

// reconcile makes the stored counts and chain ends agree with the log. They
// differ only after a crash in the middle of a retention round or of a
// compaction.
func (db *DB) reconcile(pid int, live map[uint32]*liveIssue) error {
	var total int64
	err := db.updateIssues(pid, nil, func(iss *Issue) bool {
		li := live[iss.ID]
		if li == nil {
			li = &liveIssue{}
		}
		total += li.count
		if iss.StoredEventCount == li.count && iss.FirstRec == li.first && iss.LastRec == li.last {
			return false
		}
		iss.StoredEventCount, iss.FirstRec, iss.LastRec = li.count, li.first, li.last
		return true
	})
	if err != nil {
		return err
	}
	return db.update(func(tx *kvTx) error {
		var p Project
		if err := getJSON(tx, projectKey(pid), &p); err != nil {
			return err
		}
		if p.StoredEventCount != total {
			p.StoredEventCount = total
			return setJSON(tx, projectKey(pid), &p)
		}
		return nil
	})
}

// updateIssues calls fn for every issue of the project, in digest order,
// and saves those for which it returns true. With need set, an issue for
// which need returns false, given its chainFields, is neither decoded nor
// passed to fn. It works in transactions of at most issueChunk issues, so
// that memory does not grow with the number of issues; callers make sure
// that stopping between two of them is safe.
func (db *DB) updateIssues(pid int, need func(id uint32, c chainFields) bool, fn func(iss *Issue) bool) error {
	from := projectIssuePrefix(pid)
	var parser fastjson.Parser
	for {
		var last string
		n := 0
		err := db.update(func(tx *kvTx) error {
			var ids []uint32
			tx.ascendFrom(projectIssuePrefix(pid), from, func(k, v string) bool {
				ids = append(ids, parseID(v))
				last = k
				return len(ids) < issueChunk
			})
			n = len(ids)
			for _, id := range ids {
				b, err := tx.getBytes(issueKey(id))
				if errors.Is(err, buntdb.ErrNotFound) {
					continue
				} else if err != nil {
					return err
				}
				if need != nil {
					if c, ok := peekChain(&parser, b); ok && !need(id, c) {
						continue
					}
				}
				var iss Issue
				if err := json.Unmarshal(b, &iss); err != nil {
					return err
				}
				if fn(&iss) {
					if err := putIssue(tx, &iss); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil || n < issueChunk {
			return err
		}
		from = last + "\x00"
	}
}

// chainFields are an issue's record numbers (+1) of its first and last
// events, which a compaction renumbers.
type chainFields struct{ first, last uint32 }

// peekChain reads an issue's chainFields from its JSON with fastjson, a
// fraction of what decoding the whole Issue costs: a compaction checks
// every issue of the project and changes only those with live events (at
// the default retention, at most 10,000 of an old project's issues).
// BenchmarkCompactionIssuePass, 20,000 issues: 143-150 ms a pass when
// each was decoded, 48-51 ms peeked. ok is false when b is not an object;
// the caller then decodes it, as before.
func peekChain(p *fastjson.Parser, b []byte) (c chainFields, ok bool) {
	o, err := p.ParseBytes(b)
	if err != nil || o.Type() != fastjson.TypeObject {
		return c, false
	}
	return chainFields{uint32(o.GetUint("first_rec")), uint32(o.GetUint("last_rec"))}, true
}

// issueChunk is how many issues one updateIssues transaction handles.
const issueChunk = 1000

func (db *DB) projectDir(id int) string {
	return filepath.Join(db.dir, "events", strconv.Itoa(id))
}

// Dir returns the data directory.
func (db *DB) Dir() string { return db.dir }

// Close closes the store and releases the directory lock.
func (db *DB) Close() error {
	db.punch.wait()
	var errs []error
	db.mu.Lock()
	clean := true
	for id, el := range db.logs {
		err := el.close()
		clean = clean && err == nil && el.broken == nil
		errs = append(errs, err)
		delete(db.logs, id)
	}
	db.mu.Unlock()
	if clean && db.opened {
		errs = append(errs, db.update(func(tx *kvTx) error {
			_, _, err := tx.Set(keyClean, "1", nil)
			return err
		}))
	}
	if db.tree != nil {
		errs = append(errs, db.tree.Close())
	}
	if db.kv != nil {
		errs = append(errs, db.kv.Close())
	}
	unlockDir(db.lock)
	return errors.Join(errs...)
}

// treeCache bounds the tree's page cache: 64 pages, which hold the root
// and its children that every lookup passes through (a year-old tree of
// 1.1 GB has ~30 of them) beside the pages the digest writes. 512 KiB took
// 0.4 MiB more of the fully warmed server's RSS for ~1 ms less server CPU
// per API issue list of 250 rows.
const treeCache = 256 << 10

// batchTreeCache bounds the tree's page cache while the digest works
// (WidenTreeCache): a batch of loadgen's events reads and rewrites about
// a hundred pages, so with 64 cached the pages each batch wrote pushed out
// those the next one reads, which it read again into fresh buffers: ~3 KB
// of allocation per event, 15 % of what the server allocated under load.
// ReleaseBuffers narrows it back when the digest goes idle, so an idle
// server holds what it did.
const batchTreeCache = 512 << 10

// openTree opens tree.db, redoing its journal up to the sequence that
// buntdb recorded (see kvtx.go).
func (db *DB) openTree() error {
	var committed uint64
	err := db.kv.View(func(tx *buntdb.Tx) error {
		s, err := tx.Get(treeSeqKey)
		if errors.Is(err, buntdb.ErrNotFound) {
			return nil
		}
		committed, _ = strconv.ParseUint(s, 10, 64)
		return err
	})
	if err != nil {
		return err
	}
	t, err := btree.Open(filepath.Join(db.dir, "tree.db"), committed, btree.Options{CacheBytes: treeCache})
	if err != nil {
		return fmt.Errorf("open tree: %w", err)
	}
	db.tree = t
	return nil
}

// update runs fn in one write transaction over buntdb and the tree. A panic
// inside fn rolls both back and becomes an error (buntdb would otherwise
// commit the partial writes).
func (db *DB) update(fn func(tx *kvTx) error) error {
	t := db.tree.Begin()
	err := db.kv.Update(func(btx *buntdb.Tx) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("store: panic in transaction: %v", r)
			}
		}()
		if err := fn(&kvTx{kv: btx, t: t}); err != nil {
			return err
		}
		return prepareTree(btx, t)
	})
	if err != nil {
		t.Rollback()
		return err
	}
	return t.Apply()
}

// prepareTree journals the tree's changes and records their sequence in
// the buntdb transaction that commits them.
func prepareTree(btx *buntdb.Tx, t *btree.Tx) error {
	if err := setTreeSeq(btx, t); err != nil {
		return err
	}
	return t.Prepare()
}

// setTreeSeq records the sequence of a tree transaction that changed
// something in the buntdb transaction that commits it.
func setTreeSeq(btx *buntdb.Tx, t *btree.Tx) error {
	if !t.Dirty() {
		return nil
	}
	_, _, err := btx.Set(treeSeqKey, strconv.FormatUint(t.Seq(), 10), nil)
	return err
}

// view runs fn in a read transaction over buntdb and the tree. Views must
// not nest.
func (db *DB) view(fn func(tx *kvTx) error) error {
	return db.tree.View(func(t *btree.Tx) error {
		return db.kv.View(func(btx *buntdb.Tx) error { return fn(&kvTx{kv: btx, t: t}) })
	})
}

func getJSON(tx *kvTx, key string, v any) error {
	b, err := tx.getBytes(key)
	if errors.Is(err, buntdb.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func setJSON(tx *kvTx, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, _, err = tx.Set(key, string(b), nil)
	return err
}

// nextSeq increments and returns the counter name.
func nextSeq(tx *kvTx, name string) (uint64, error) {
	var n uint64
	s, err := tx.Get(seqKey(name))
	if err == nil {
		n, _ = strconv.ParseUint(s, 10, 64)
	} else if !errors.Is(err, buntdb.ErrNotFound) {
		return 0, err
	}
	n++
	_, _, err = tx.Set(seqKey(name), strconv.FormatUint(n, 10), nil)
	return n, err
}
