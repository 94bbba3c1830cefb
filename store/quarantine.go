package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Quarantine. An event that digest cannot store (its processing panics or
// fails, or a batch holding it cannot commit while the store itself works)
// is set aside as two files in <data>/quarantine/, so that digest can go
// on with the events after it:
//
//	<id>.raw   the payload exactly as ingest spooled it
//	<id>.json  a QuarantineEntry: project, event id, times, error, stack
//
// An id is "<ingest time as 19 digits of Unix nanoseconds>-<project>-<event
// id>", so names sort by ingest time, and setting the same spool record
// aside twice (a crash before digest recorded that it moved past it) writes
// the same files again. Both files are written atomically (0600), the .raw
// first: an entry exists once its .json does. Nothing of the quarantine is
// kept in memory; listings read the directory's names and then the .json
// files of one page.
//
// The directory is bounded: after each addition the oldest entries are
// deleted until at most QuarantineMaxEntries remain and their .raw files
// take at most QuarantineMaxBytes.
const (
	quarantineDir        = "quarantine"
	QuarantineMaxEntries = 1000
	QuarantineMaxBytes   = 64 << 20
	// maxQuarantineError and maxQuarantineStack bound the texts kept.
	maxQuarantineError = 4 << 10
	maxQuarantineStack = 8 << 10
)

// quarantineMaxEntries and quarantineMaxBytes are the bounds in force;
// tests lower them.
var (
	quarantineMaxEntries       = QuarantineMaxEntries
	quarantineMaxBytes   int64 = QuarantineMaxBytes
)

// QuarantineEntry describes one quarantined event.
type QuarantineEntry struct {
	ID            string    `json:"id"`
	Project       int       `json:"project"`
	EventID       string    `json:"event_id"`
	IngestedAt    time.Time `json:"ingested_at"`
	QuarantinedAt time.Time `json:"quarantined_at"`
	// Error says why the event could not be stored; Stack is the panic's
	// stack when one caused it.
	Error string `json:"error"`
	Stack string `json:"stack,omitempty"`
	// Size is the length of the raw payload.
	Size int64 `json:"size"`
}

func (db *DB) quarantinePath(name string) string {
	return filepath.Join(db.dir, quarantineDir, name)
}

// QuarantineAdd sets raw aside as the payload of event e.EventID of project
// e.Project, ingested at e.IngestedAt, and fills in e.ID, e.Size and
// (when zero) e.QuarantinedAt. It returns only once both files are durable.
// It then deletes the oldest entries over the bounds.
func (db *DB) QuarantineAdd(e *QuarantineEntry, raw []byte) error {
	at := e.IngestedAt
	if at.IsZero() {
		at = db.Now()
	}
	evID := e.EventID
	if !isLowerHex32(evID) {
		evID = "none"
	}
	e.ID = fmt.Sprintf("%019d-%d-%s", max(at.UnixNano(), 0), max(e.Project, 0), evID)
	e.Size = int64(len(raw))
	if e.QuarantinedAt.IsZero() {
		e.QuarantinedAt = db.Now().UTC()
	}
	e.Error = cut(e.Error, maxQuarantineError)
	e.Stack = cut(e.Stack, maxQuarantineStack)
	meta, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(db.dir, quarantineDir), 0o700); err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	write := func(name string, b []byte) error {
		return WriteFileAtomic(db.quarantinePath(name), func(f *os.File) error {
			_, err := f.Write(b)
			return err
		})
	}
	if err := write(e.ID+".raw", raw); err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	if err := write(e.ID+".json", meta); err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	return db.pruneQuarantine(e.ID)
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func isLowerHex32(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// validQuarantineID reports whether id has the form QuarantineAdd gives,
// so that it can name a file (no separators, no dots).
func validQuarantineID(id string) bool {
	ns, rest, ok := strings.Cut(id, "-")
	if !ok || len(ns) != 19 {
		return false
	}
	pid, ev, ok := strings.Cut(rest, "-")
	if !ok || (ev != "none" && !isLowerHex32(ev)) {
		return false
	}
	if _, err := strconv.ParseUint(ns, 10, 64); err != nil {
		return false
	}
	_, err := strconv.ParseUint(pid, 10, 31)
	return err == nil
}

// quarantineIDs returns the ids of the entries (those with a .json file),
// newest first, and the directory's other files by name.
func (db *DB) quarantineIDs() (ids []string, files []fs.DirEntry, err error) {
	des, err := os.ReadDir(filepath.Join(db.dir, quarantineDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	for _, de := range des {
		if id, ok := strings.CutSuffix(de.Name(), ".json"); ok && validQuarantineID(id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	slices.Reverse(ids)
	return ids, des, nil
}

// pruneQuarantine deletes the oldest entries over the bounds, and leftovers
// of interrupted writes (a .raw without its .json, temporary files). It
// never deletes keep, the entry just added.
func (db *DB) pruneQuarantine(keep string) error {
	ids, des, err := db.quarantineIDs()
	if err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	live := make(map[string]bool, len(ids))
	for _, id := range ids {
		live[id] = true
	}
	size := map[string]int64{}
	for _, de := range des {
		name := de.Name()
		id, isRaw := strings.CutSuffix(name, ".raw")
		switch {
		case isRaw && live[id]:
			if fi, err := de.Info(); err == nil {
				size[id] = fi.Size()
			}
		case isRaw && id != keep, strings.HasPrefix(name, ".") && strings.HasSuffix(name, ".tmp"):
			os.Remove(db.quarantinePath(name))
		}
	}
	var total int64
	for i, id := range ids { // newest first
		total += size[id]
		if id != keep && (i >= quarantineMaxEntries || total > quarantineMaxBytes) {
			if err := db.QuarantineDelete(id); err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
		}
	}
	return nil
}

// Quarantined returns up to limit entries after skipping offset, newest
// (latest ingested) first, and whether more follow. It reads the directory's
// names and the .json files of the entries it returns; an entry whose file
// cannot be read is returned with only the fields its name carries and the
// read error as Error.
func (db *DB) Quarantined(offset, limit int) ([]QuarantineEntry, bool, error) {
	ids, _, err := db.quarantineIDs()
	if err != nil {
		return nil, false, fmt.Errorf("quarantine: %w", err)
	}
	offset = min(max(offset, 0), len(ids))
	end := min(offset+max(limit, 0), len(ids))
	out := make([]QuarantineEntry, 0, end-offset)
	for _, id := range ids[offset:end] {
		e, err := db.QuarantineEntry(id)
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			e = entryFromID(id)
			e.Error = "cannot read the entry: " + err.Error()
		}
		out = append(out, e)
	}
	return out, end < len(ids), nil
}

// entryFromID returns the fields the id carries.
func entryFromID(id string) QuarantineEntry {
	e := QuarantineEntry{ID: id}
	ns, rest, _ := strings.Cut(id, "-")
	pid, ev, _ := strings.Cut(rest, "-")
	if n, err := strconv.ParseInt(ns, 10, 64); err == nil && n > 0 {
		e.IngestedAt = time.Unix(0, n).UTC()
	}
	e.Project, _ = strconv.Atoi(pid)
	if ev != "none" {
		e.EventID = ev
	}
	return e
}

// QuarantineEntry returns the entry id, or ErrNotFound.
func (db *DB) QuarantineEntry(id string) (QuarantineEntry, error) {
	if !validQuarantineID(id) {
		return QuarantineEntry{}, ErrNotFound
	}
	b, err := os.ReadFile(db.quarantinePath(id + ".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return QuarantineEntry{}, ErrNotFound
	}
	if err != nil {
		return QuarantineEntry{}, err
	}
	var e QuarantineEntry
	if err := json.Unmarshal(b, &e); err != nil {
		return QuarantineEntry{}, err
	}
	e.ID = id
	return e, nil
}

// QuarantinedRaw opens the raw payload of entry id, or returns ErrNotFound.
// The caller closes it.
func (db *DB) QuarantinedRaw(id string) (io.ReadCloser, int64, error) {
	if !validQuarantineID(id) {
		return nil, 0, ErrNotFound
	}
	if _, err := os.Stat(db.quarantinePath(id + ".json")); errors.Is(err, fs.ErrNotExist) {
		return nil, 0, ErrNotFound
	}
	f, err := os.Open(db.quarantinePath(id + ".raw"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// QuarantineDelete deletes entry id, or returns ErrNotFound.
func (db *DB) QuarantineDelete(id string) error {
	if !validQuarantineID(id) {
		return ErrNotFound
	}
	// The .json goes first: without it the entry is gone, and a .raw left
	// by a crash here is removed by the next prune.
	err := os.Remove(db.quarantinePath(id + ".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if err := os.Remove(db.quarantinePath(id + ".raw")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// QuarantineCount returns how many entries the quarantine holds.
func (db *DB) QuarantineCount() (int, error) {
	ids, _, err := db.quarantineIDs()
	return len(ids), err
}
