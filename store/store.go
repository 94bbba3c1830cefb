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

// formatVersion is the data-directory format this build reads and writes.
const formatVersion = 1

// DB is an open data directory.
type DB struct {
	dir  string
	kv   *buntdb.DB
	lock *os.File
	// Now returns the current time; tests replace it.
	Now func() time.Time

	mu     sync.RWMutex // guards logs and keys
	logs   map[int]*eventLog
	keys   map[int]string      // project id → DSN key, for ingest auth
	quotas map[int]QuotaLimits // project id → its own quota, if any

	digestMu sync.Mutex // serialises Digest batches

	ops opsState // counters for monitoring; see AlertStats, BackupRunning
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
	db := &DB{dir: dir, lock: lock, Now: time.Now, logs: map[int]*eventLog{}, keys: map[int]string{}, quotas: map[int]QuotaLimits{}}
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
	if err := db.checkFormat(); err != nil {
		kv.Close()
		return err
	}
	projects, err := db.Projects()
	if err != nil {
		kv.Close()
		return err
	}
	for _, p := range projects {
		if err := db.openProject(&p); err != nil {
			db.Close()
			return err
		}
	}
	return nil
}

func (db *DB) checkFormat() error {
	from := formatVersion
	err := db.update(func(tx *buntdb.Tx) error {
		v, err := tx.Get(keyFormat)
		if errors.Is(err, buntdb.ErrNotFound) {
			_, _, err = tx.Set(keyFormat, strconv.Itoa(formatVersion), nil)
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
	el, err := openEventLog(db.projectDir(p.ID), p.LogLen, p.SegFirst, p.Seg, p.SegOff, p.LogNext)
	if err != nil {
		return fmt.Errorf("open events of project %d: %w", p.ID, err)
	}
	db.mu.Lock()
	db.logs[p.ID] = el
	db.mu.Unlock()
	db.cacheProject(p.ID, p.Key, p.Quota, true)
	if p.LogNext {
		// openEventLog finished the compaction; a stale flag would make
		// the next open take an uncommitted log.new for the log.
		if err := db.clearLogNext(p.ID); err != nil {
			return err
		}
	}
	err = db.reconcile(p.ID, el.live)
	el.live = nil
	return err
}

// reconcile makes the stored counts and chain ends agree with the log. They
// differ only after a crash in the middle of a retention round.
func (db *DB) reconcile(pid int, live map[uint32]*liveIssue) error {
	return db.update(func(tx *buntdb.Tx) error {
		var total int64
		var ids []uint32
		err := tx.AscendKeys(projectIssuePrefix(pid)+"*", func(k, v string) bool {
			ids = append(ids, parseID(v))
			return true
		})
		if err != nil {
			return err
		}
		// Writes wait until the iteration is over (buntdb refuses them
		// inside it).
		for _, id := range ids {
			var iss Issue
			if err := getJSON(tx, issueKey(id), &iss); err != nil {
				return err
			}
			li := live[id]
			if li == nil {
				li = &liveIssue{}
			}
			total += li.count
			if iss.StoredEventCount != li.count || iss.FirstRec != li.first || iss.LastRec != li.last {
				iss.StoredEventCount, iss.FirstRec, iss.LastRec = li.count, li.first, li.last
				if err := setJSON(tx, issueKey(id), &iss); err != nil {
					return err
				}
			}
		}
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

func (db *DB) projectDir(id int) string {
	return filepath.Join(db.dir, "events", strconv.Itoa(id))
}

// Dir returns the data directory.
func (db *DB) Dir() string { return db.dir }

// Close closes the store and releases the directory lock.
func (db *DB) Close() error {
	var errs []error
	db.mu.Lock()
	for id, el := range db.logs {
		errs = append(errs, el.close())
		delete(db.logs, id)
	}
	db.mu.Unlock()
	if db.kv != nil {
		errs = append(errs, db.kv.Close())
	}
	unlockDir(db.lock)
	return errors.Join(errs...)
}

// update runs fn in a buntdb write transaction. A panic inside fn rolls the
// transaction back and becomes an error (buntdb would otherwise commit the
// partial writes).
func (db *DB) update(fn func(tx *buntdb.Tx) error) error {
	return db.kv.Update(func(tx *buntdb.Tx) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("store: panic in transaction: %v", r)
			}
		}()
		return fn(tx)
	})
}

func (db *DB) view(fn func(tx *buntdb.Tx) error) error { return db.kv.View(fn) }

func getJSON(tx *buntdb.Tx, key string, v any) error {
	s, err := tx.Get(key)
	if errors.Is(err, buntdb.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(s), v)
}

func setJSON(tx *buntdb.Tx, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, _, err = tx.Set(key, string(b), nil)
	return err
}

// nextSeq increments and returns the counter name.
func nextSeq(tx *buntdb.Tx, name string) (uint64, error) {
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
