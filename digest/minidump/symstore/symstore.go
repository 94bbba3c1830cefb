// Package symstore keeps uploaded Breakpad symbol files on disk and their
// indexes (package sym) in a bounded on-disk cache:
//
//	<dir>/files/<DEBUGID>/<name>.sym   the uploaded files, as sent
//	<dir>/cache/<DEBUGID>.idx          their indexes, built on first use
//
// The cache holds at most MaxCacheBytes of indexes (the least recently
// used go first; a file is indexed again when needed) and keeps at most
// maxOpen of them open. Nothing of a symbol file stays in memory.
package symstore

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tinysink/tinysink/budget"
	"github.com/tinysink/tinysink/digest/minidump/sym"
)

// DefaultMaxCacheBytes bounds the index cache on disk.
const DefaultMaxCacheBytes = 256 << 20

const maxOpen = 16

// symbolParser marks the symbol parser loaded at the first index built or
// opened (budget's registry of optional parts).
var symbolParser = budget.FirstUse("breakpad-symbols")

// Store is a directory of symbol files and their index cache. It is safe
// for concurrent use.
type Store struct {
	dir           string
	MaxCacheBytes int64

	mu   sync.Mutex // guards open
	open map[string]*entry
}

type entry struct {
	tab  *sym.Table
	used time.Time
}

// Open returns the store in dir, creating it.
func Open(dir string) (*Store, error) {
	for _, d := range []string{filepath.Join(dir, "files"), filepath.Join(dir, "cache")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	return &Store{dir: dir, MaxCacheBytes: DefaultMaxCacheBytes, open: map[string]*entry{}}, nil
}

// Close closes the open indexes.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, e := range s.open {
		e.tab.Close()
		delete(s.open, id)
	}
	return nil
}

// ErrBadID is returned for a debug id that is not Breakpad's 33-40 hex
// digits.
var ErrBadID = errors.New("symstore: not a debug id")

func validID(id string) bool {
	if len(id) < 33 || len(id) > 40 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// Info describes a stored symbol file.
type Info struct {
	DebugID string    `json:"debug_id"`
	Name    string    `json:"name"`
	OS      string    `json:"os"`
	Arch    string    `json:"arch"`
	Size    int64     `json:"size"`
	Added   time.Time `json:"added"`
	Notes   []string  `json:"notes,omitempty"`
}

// Add stores the .sym file read from r. It checks the file by indexing it
// (the MODULE line names the debug id it is stored under) and returns what
// it read; a file that is not a Breakpad symbol file is refused.
func (s *Store) Add(r io.Reader) (*Info, error) {
	symbolParser()
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "files"), ".upload-*")
	if err != nil {
		return nil, err
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	size, err := io.Copy(tmp, r)
	if err != nil {
		return nil, err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	idxTmp := tmp.Name() + ".idx"
	defer os.Remove(idxTmp)
	st, err := sym.Build(tmp, idxTmp)
	if err != nil {
		return nil, err
	}
	id := strings.ToUpper(st.DebugID)
	if !validID(id) {
		return nil, fmt.Errorf("%w: the MODULE line's id %q", ErrBadID, st.DebugID)
	}
	name := filepath.Base(strings.ReplaceAll(st.Name, `\`, "/"))
	name = strings.TrimSuffix(strings.TrimSuffix(name, ".pdb"), ".dbg")
	if name == "" || name == "." || strings.HasPrefix(name, ".") {
		name = "module"
	}
	if err := tmp.Sync(); err != nil {
		return nil, err
	}
	dir := filepath.Join(s.dir, "files", id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// One symbol file per debug id: a new upload replaces the old one.
	olds, _ := filepath.Glob(filepath.Join(dir, "*.sym"))
	final := filepath.Join(dir, name+".sym")
	if err := os.Rename(tmp.Name(), final); err != nil {
		return nil, err
	}
	for _, o := range olds {
		if o != final {
			os.Remove(o)
		}
	}
	s.mu.Lock()
	if e, ok := s.open[id]; ok {
		e.tab.Close()
		delete(s.open, id)
	}
	s.mu.Unlock()
	if err := os.Rename(idxTmp, s.indexPath(id)); err != nil {
		return nil, err
	}
	s.trim()
	return &Info{DebugID: id, Name: st.Name, OS: st.OS, Arch: st.Arch, Size: size, Added: time.Now().UTC(), Notes: st.Notes}, nil
}

func (s *Store) indexPath(id string) string { return filepath.Join(s.dir, "cache", id+".idx") }

// symPath returns the stored .sym of id, or "".
func (s *Store) symPath(id string) string {
	m, _ := filepath.Glob(filepath.Join(s.dir, "files", id, "*.sym"))
	if len(m) == 0 {
		return ""
	}
	return m[0]
}

// Has reports whether symbols for the debug id are stored.
func (s *Store) Has(id string) bool { return validID(id) && s.symPath(id) != "" }

// List returns the stored symbol files.
func (s *Store) List() ([]Info, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, "files"))
	if err != nil {
		return nil, err
	}
	var out []Info
	for _, e := range ents {
		if !e.IsDir() || !validID(e.Name()) {
			continue
		}
		p := s.symPath(e.Name())
		if p == "" {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		out = append(out, Info{DebugID: e.Name(), Name: strings.TrimSuffix(filepath.Base(p), ".sym"), Size: fi.Size(), Added: fi.ModTime().UTC()})
	}
	return out, nil
}

// Table returns the index of the debug id's symbols, building it from the
// stored file when the cache does not hold it; nil when there are no
// symbols for id (or they do not read).
func (s *Store) Table(id string) *sym.Table {
	if !validID(id) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.open[id]; ok {
		e.used = time.Now()
		return e.tab
	}
	src := s.symPath(id)
	if src == "" {
		return nil
	}
	symbolParser()
	idx := s.indexPath(id)
	tab, err := sym.Open(idx)
	if err != nil {
		f, err := os.Open(src)
		if err != nil {
			return nil
		}
		_, err = sym.Build(f, idx)
		f.Close()
		if err != nil {
			return nil
		}
		if tab, err = sym.Open(idx); err != nil {
			return nil
		}
		go s.trim()
	}
	now := time.Now()
	os.Chtimes(idx, now, now) // the cache's LRU order
	if len(s.open) >= maxOpen {
		var oldest string
		for k, e := range s.open {
			if oldest == "" || e.used.Before(s.open[oldest].used) {
				oldest = k
			}
		}
		// Tables handed out may still be read by a walk in progress:
		// closing is left to the garbage collector's finalizer on the
		// file.
		delete(s.open, oldest)
	}
	s.open[id] = &entry{tab: tab, used: now}
	return tab
}

// trim deletes the least recently used indexes while the cache is over
// its size.
func (s *Store) trim() {
	ents, err := os.ReadDir(filepath.Join(s.dir, "cache"))
	if err != nil {
		return
	}
	type f struct {
		name string
		size int64
		mod  time.Time
	}
	var fs []f
	var total int64
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil || !strings.HasSuffix(e.Name(), ".idx") {
			continue
		}
		fs = append(fs, f{e.Name(), fi.Size(), fi.ModTime()})
		total += fi.Size()
	}
	if total <= s.MaxCacheBytes {
		return
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].mod.Before(fs[j].mod) })
	for _, x := range fs {
		if total <= s.MaxCacheBytes {
			break
		}
		os.Remove(filepath.Join(s.dir, "cache", x.name))
		total -= x.size
	}
}

// Delete removes the symbols of a debug id.
func (s *Store) Delete(id string) error {
	if !validID(id) {
		return ErrBadID
	}
	s.mu.Lock()
	if e, ok := s.open[id]; ok {
		e.tab.Close()
		delete(s.open, id)
	}
	s.mu.Unlock()
	os.Remove(s.indexPath(id))
	return os.RemoveAll(filepath.Join(s.dir, "files", id))
}
