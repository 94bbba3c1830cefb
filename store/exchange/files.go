package exchange

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"
)

// A sink takes the files of an export, in order.
type sink interface {
	// file writes a file whose content is known.
	file(name string, b []byte) error
	// create returns a writer for a file of unknown size; the file is
	// complete when the writer is closed.
	create(name string) (io.WriteCloser, error)
	// stream writes a file of size bytes read from r.
	stream(name string, size int64, r io.Reader) error
}

// NewDirSink returns a sink that writes the export into dir, which must be
// empty or not exist.
func newDirSink(dir string) (sink, error) {
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("%s is not empty: export into a new directory", dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &dirSink{dir: dir}, nil
}

type dirSink struct{ dir string }

func (s *dirSink) path(name string) (string, error) {
	p := filepath.Join(s.dir, filepath.FromSlash(name))
	return p, os.MkdirAll(filepath.Dir(p), 0o755)
}

func (s *dirSink) file(name string, b []byte) error {
	p, err := s.path(name)
	if err != nil {
		return err
	}
	return os.WriteFile(p, b, 0o644)
}

func (s *dirSink) stream(name string, size int64, r io.Reader) error {
	w, err := s.create(name)
	if err != nil {
		return err
	}
	n, err := io.Copy(w, io.LimitReader(r, size))
	if err == nil && n < size {
		err = fmt.Errorf("write %s: %d of %d bytes", name, n, size)
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *dirSink) create(name string) (io.WriteCloser, error) {
	p, err := s.path(name)
	if err != nil {
		return nil, err
	}
	return os.Create(p)
}

// tarSink writes the export as a tar stream. A file of unknown size is
// spooled to a temporary file first (tar needs the size up front).
type tarSink struct {
	tw  *tar.Writer
	at  time.Time
	tmp string // where spooled files go: the data directory, not a tmpfs
}

func (s *tarSink) header(name string, size int64) error {
	return s.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: s.at, Format: tar.FormatPAX})
}

func (s *tarSink) file(name string, b []byte) error {
	if err := s.header(name, int64(len(b))); err != nil {
		return err
	}
	_, err := s.tw.Write(b)
	return err
}

func (s *tarSink) stream(name string, size int64, r io.Reader) error {
	if err := s.header(name, size); err != nil {
		return err
	}
	n, err := io.Copy(s.tw, io.LimitReader(r, size))
	if err == nil && n < size {
		err = fmt.Errorf("write %s: %d of %d bytes", name, n, size)
	}
	return err
}

func (s *tarSink) create(name string) (io.WriteCloser, error) {
	f, err := os.CreateTemp(s.tmp, "export-*.tmp")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name()) // unlinked: gone however the export ends
	return &tarFile{s: s, name: name, f: f}, nil
}

type tarFile struct {
	s    *tarSink
	name string
	f    *os.File
}

func (t *tarFile) Write(b []byte) (int, error) { return t.f.Write(b) }

func (t *tarFile) Close() error {
	defer t.f.Close()
	size, err := t.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	if err := t.s.header(t.name, size); err != nil {
		return err
	}
	_, err = io.Copy(t.s.tw, io.NewSectionReader(t.f, 0, size))
	return err
}

// A source gives the files of an export by name, in the order they were
// written.
type source interface {
	// open returns the named file, or an error wrapping fs.ErrNotExist
	// when there is none (in a stream: when the next file is another).
	// The file is read before the next open.
	open(name string) (io.ReadCloser, error)
	// next names the file a stream holds next ("" at its end, or for a
	// directory), for error messages.
	next() string
}

type dirSource struct{ dir string }

func (s dirSource) open(name string) (io.ReadCloser, error) {
	return os.Open(filepath.Join(s.dir, filepath.FromSlash(name)))
}

func (dirSource) next() string { return "" }

// readFile reads the named file of src whole, up to limit bytes.
func readFile(src source, name string, limit int64) ([]byte, error) {
	f, err := src.open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLimited(name, f, limit)
}

func readLimited(name string, r io.Reader, limit int64) ([]byte, error) {
	var b bytes.Buffer
	n, err := b.ReadFrom(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if n > limit {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrFormat, name, limit)
	}
	return b.Bytes(), nil
}

// tarSource reads an export from a tar stream.
type tarSource struct {
	tr      *tar.Reader
	pending *tar.Header
	done    bool
}

func newTarSource(r io.Reader) *tarSource { return &tarSource{tr: tar.NewReader(r)} }

// peek reads the next regular file's header, skipping directories.
func (s *tarSource) peek() (*tar.Header, error) {
	for s.pending == nil && !s.done {
		h, err := s.tr.Next()
		if err == io.EOF {
			s.done = true
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: tar stream: %v", ErrFormat, err)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg:
			h.Name = path.Clean(h.Name) // "./events/…" from `tar c .`
			s.pending = h
		default:
			return nil, fmt.Errorf("%w: tar entry %q is not a regular file", ErrFormat, h.Name)
		}
	}
	return s.pending, nil
}

func (s *tarSource) open(name string) (io.ReadCloser, error) {
	h, err := s.peek()
	if err != nil {
		return nil, err
	}
	if h == nil || h.Name != name {
		return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	s.pending = nil
	return io.NopCloser(s.tr), nil
}

func (s *tarSource) next() string {
	if h, err := s.peek(); err == nil && h != nil {
		return h.Name
	}
	return ""
}
