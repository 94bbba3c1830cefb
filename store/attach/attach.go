// Package attach keeps the attachments of events (envelope attachment
// items, minidumps) on disk, one directory per event:
//
//	<dir>/<project>/<event id>/meta.json   the list: name, type, size
//	<dir>/<project>/<event id>/<n>         the bytes of item n, as sent
//
// An event's attachments are written to a temporary directory while the
// request is read and renamed into place before the event is spooled, so
// that the digest finds them complete. Each event may hold MaxEventBytes
// and each project MaxProjectBytes; Sweep removes the attachments of
// events that are gone and of those older than the retention.
package attach

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Attachment types (Sentry's attachment_type).
const (
	TypeAttachment = "event.attachment"
	TypeMinidump   = "event.minidump"
)

// Defaults.
const (
	DefaultMaxEventBytes   = 100 << 20
	DefaultMaxProjectBytes = 1 << 30
	DefaultMaxAge          = 90 * 24 * time.Hour
	maxItems               = 32
)

// ErrTooLarge is returned when an attachment would pass a size cap.
var ErrTooLarge = errors.New("attach: over the size cap")

// Item is one stored attachment.
type Item struct {
	N           int    `json:"n"`
	Name        string `json:"name"`
	ContentType string `json:"content_type,omitempty"`
	Type        string `json:"attachment_type"`
	Size        int64  `json:"size"`
}

// Store is the attachments directory.
type Store struct {
	dir             string
	MaxEventBytes   int64
	MaxProjectBytes int64

	mu    sync.Mutex
	usage map[int]int64 // bytes per project, counted on first use
}

// Open returns the store in dir, creating it.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &Store{dir: dir, MaxEventBytes: DefaultMaxEventBytes, MaxProjectBytes: DefaultMaxProjectBytes, usage: map[int]int64{}}, nil
}

func validEventID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func (s *Store) eventDir(project int, id string) string {
	return filepath.Join(s.dir, strconv.Itoa(project), id)
}

// projectUsage returns the bytes a project's attachments take, walking its
// directory the first time.
func (s *Store) projectUsage(project int) int64 {
	if u, ok := s.usage[project]; ok {
		return u
	}
	var total int64
	filepath.WalkDir(filepath.Join(s.dir, strconv.Itoa(project)), func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				total += fi.Size()
			}
		}
		return nil
	})
	s.usage[project] = total
	return total
}

// Writer gathers one event's attachments.
type Writer struct {
	s       *Store
	project int
	tmp     string
	items   []Item
	total   int64
}

// Begin starts the attachments of an event of project.
func (s *Store) Begin(project int) (*Writer, error) {
	pdir := filepath.Join(s.dir, strconv.Itoa(project))
	if err := os.MkdirAll(pdir, 0o700); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(pdir, ".tmp-")
	if err != nil {
		return nil, err
	}
	return &Writer{s: s, project: project, tmp: tmp}, nil
}

// Items returns the attachments written so far.
func (w *Writer) Items() []Item { return w.items }

// Minidump returns the minidump among them.
func (w *Writer) Minidump() (Item, bool) {
	for _, it := range w.items {
		if it.Type == TypeMinidump {
			return it, true
		}
	}
	return Item{}, false
}

// Add writes one attachment read from r. It fails with ErrTooLarge when
// the event's or the project's cap would be passed (what was written of it
// is removed).
func (w *Writer) Add(name, contentType, typ string, r io.Reader) (Item, error) {
	if len(w.items) >= maxItems {
		return Item{}, fmt.Errorf("%w: more than %d attachments", ErrTooLarge, maxItems)
	}
	if typ == "" {
		typ = TypeAttachment
	}
	it := Item{N: len(w.items), Name: cleanName(name), ContentType: truncate(contentType, 100), Type: truncate(typ, 40)}
	path := filepath.Join(w.tmp, strconv.Itoa(it.N))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return Item{}, err
	}
	w.s.mu.Lock()
	room := w.s.MaxProjectBytes - w.s.projectUsage(w.project) - w.total
	w.s.mu.Unlock()
	room = min(room, w.s.MaxEventBytes-w.total)
	n, err := io.Copy(f, io.LimitReader(r, room+1))
	if err == nil && n > room {
		err = fmt.Errorf("%w: the event's attachments may take %d bytes", ErrTooLarge, w.s.MaxEventBytes)
		if room < w.s.MaxEventBytes-w.total {
			err = fmt.Errorf("%w: the project's attachments take their %d bytes", ErrTooLarge, w.s.MaxProjectBytes)
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return Item{}, err
	}
	it.Size = n
	w.total += n
	w.items = append(w.items, it)
	return it, nil
}

// Commit moves the attachments to the event's directory, with their list.
// It does nothing without attachments.
func (w *Writer) Commit(eventID string) error {
	if len(w.items) == 0 {
		return w.Abort()
	}
	if !validEventID(eventID) {
		w.Abort()
		return fmt.Errorf("attach: bad event id %q", eventID)
	}
	meta, _ := json.Marshal(w.items)
	if err := writeSync(filepath.Join(w.tmp, "meta.json"), meta); err != nil {
		w.Abort()
		return err
	}
	final := w.s.eventDir(w.project, eventID)
	if _, err := os.Stat(final); err == nil {
		// A retry of an event already received: keep the first copy.
		return w.Abort()
	}
	if err := os.Rename(w.tmp, final); err != nil {
		w.Abort()
		return err
	}
	if d, err := os.Open(filepath.Dir(final)); err == nil {
		d.Sync()
		d.Close()
	}
	w.s.mu.Lock()
	w.s.usage[w.project] = w.s.projectUsage(w.project) + w.total
	w.s.mu.Unlock()
	return nil
}

// Abort removes what was written.
func (w *Writer) Abort() error { return os.RemoveAll(w.tmp) }

func writeSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// List returns an event's attachments (none: nil, nil).
func (s *Store) List(project int, eventID string) ([]Item, error) {
	if !validEventID(eventID) {
		return nil, nil
	}
	b, err := os.ReadFile(filepath.Join(s.eventDir(project, eventID), "meta.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var items []Item
	if err := json.Unmarshal(b, &items); err != nil {
		return nil, fmt.Errorf("attach: %s's list: %w", eventID, err)
	}
	return items, nil
}

// Open opens attachment n of an event.
func (s *Store) Open(project int, eventID string, n int) (*os.File, Item, error) {
	items, err := s.List(project, eventID)
	if err != nil {
		return nil, Item{}, err
	}
	for _, it := range items {
		if it.N == n {
			f, err := os.Open(filepath.Join(s.eventDir(project, eventID), strconv.Itoa(n)))
			return f, it, err
		}
	}
	return nil, Item{}, os.ErrNotExist
}

// Path returns the file of attachment n of an event.
func (s *Store) Path(project int, eventID string, n int) string {
	return filepath.Join(s.eventDir(project, eventID), strconv.Itoa(n))
}

// Clone gives event to the attachments of event from (hard links where
// the file system allows, copies otherwise), for processing an event
// again under a new id.
func (s *Store) Clone(project int, from, to string) error {
	if !validEventID(from) || !validEventID(to) {
		return fmt.Errorf("attach: bad event id")
	}
	src := s.eventDir(project, from)
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Join(s.dir, strconv.Itoa(project)), ".tmp-")
	if err != nil {
		return err
	}
	for _, e := range ents {
		a, b := filepath.Join(src, e.Name()), filepath.Join(tmp, e.Name())
		if err := os.Link(a, b); err != nil {
			if err := copyFile(a, b); err != nil {
				os.RemoveAll(tmp)
				return err
			}
		}
	}
	if err := os.Rename(tmp, s.eventDir(project, to)); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	return nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// Delete removes an event's attachments.
func (s *Store) Delete(project int, eventID string) error {
	if !validEventID(eventID) {
		return nil
	}
	dir := s.eventDir(project, eventID)
	var size int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				size += fi.Size()
			}
		}
		return nil
	})
	err := os.RemoveAll(dir)
	s.mu.Lock()
	if u, ok := s.usage[project]; ok {
		s.usage[project] = max(0, u-size)
	}
	s.mu.Unlock()
	return err
}

// Sweep removes the attachments of events that exists says are gone, those
// older than maxAge (0: no age limit), and temporary directories an
// interrupted request left. It returns how many events' attachments it
// removed.
func (s *Store) Sweep(exists func(project int, eventID string) bool, maxAge time.Duration) int {
	projects, err := os.ReadDir(s.dir)
	if err != nil {
		return 0
	}
	removed := 0
	now := time.Now()
	for _, p := range projects {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || !p.IsDir() {
			continue
		}
		events, err := os.ReadDir(filepath.Join(s.dir, p.Name()))
		if err != nil {
			continue
		}
		for _, e := range events {
			fi, err := e.Info()
			if err != nil {
				continue
			}
			name := e.Name()
			switch {
			case strings.HasPrefix(name, ".tmp-"):
				if now.Sub(fi.ModTime()) > time.Hour {
					os.RemoveAll(filepath.Join(s.dir, p.Name(), name))
				}
			case !validEventID(name):
			case maxAge > 0 && now.Sub(fi.ModTime()) > maxAge,
				// Not yet digested events are younger than a few minutes.
				now.Sub(fi.ModTime()) > 10*time.Minute && !exists(pid, name):
				s.Delete(pid, name)
				removed++
			}
		}
	}
	return removed
}

func cleanName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '/' || r == '\\' || r == '"' {
			return '_'
		}
		return r
	}, s)
	if s == "" {
		s = "attachment"
	}
	return truncate(s, 200)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return strings.ToValidUTF8(s, "?")
	}
	return strings.ToValidUTF8(s[:n], "?")
}
