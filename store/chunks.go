package store

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Chunks. sentry-cli uploads every file (artifact bundles of source maps,
// debug files) as pieces of at most ChunkSize bytes, each named by the
// SHA1 of its bytes, and then asks the server to assemble a file from a
// list of piece checksums. The pieces live in <data>/chunks/, one file per
// checksum, written atomically; nothing of them is kept in memory beyond
// the running total of their sizes.
//
// The directory is bounded: a chunk not used (uploaded, checked for, or
// assembled) for ChunkTTL expires, and a new chunk that would take the
// directory over ChunksMaxBytes first makes the expired ones go and is then
// refused with ErrChunksFull. Assembled files are not the chunks' business:
// AssembleChunks hands the caller an anonymous file to copy or read from.
const (
	chunksDir = "chunks"
	// ChunkSize is the largest chunk accepted (what the upload endpoint
	// advertises to sentry-cli).
	ChunkSize = 8 << 20
	// ChunksMaxBytes bounds all chunks kept together.
	ChunksMaxBytes = 512 << 20
	// MaxAssembledSize bounds a file assembled from chunks.
	MaxAssembledSize = 256 << 20
	// ChunkTTL is how long an unused chunk is kept.
	ChunkTTL = 24 * time.Hour
)

// Chunk errors; their text is meant for the client.
var (
	// ErrChunkChecksum is returned when a chunk's bytes do not have the
	// checksum it was sent under, or a checksum is not 40 hex digits.
	ErrChunkChecksum = errors.New("chunk checksum mismatch")
	// ErrChunkTooLarge is returned for a chunk over ChunkSize or an
	// assembled file over MaxAssembledSize.
	ErrChunkTooLarge = errors.New("chunk too large")
	// ErrChunksFull is returned when the chunk store is at ChunksMaxBytes.
	ErrChunksFull = errors.New("the chunk store is full; try again later")
	// ErrChunkUnreadable is returned when a chunk's bytes cannot be read
	// from the client; the underlying error is wrapped too.
	ErrChunkUnreadable = errors.New("cannot read chunk")
	// ErrChunkMissing is returned by AssembleChunks when a chunk is not
	// (or no longer) stored.
	ErrChunkMissing = errors.New("chunk missing")
)

// chunksMaxBytes is the bound in force; tests lower it.
var chunksMaxBytes int64 = ChunksMaxBytes

// chunkState is the running total of the chunk directory's bytes, read
// from the directory on first use.
type chunkState struct {
	loaded bool
	bytes  int64
}

// IsSHA1 reports whether s is 40 lowercase hex digits.
func IsSHA1(s string) bool {
	if len(s) != 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func (db *DB) chunkPath(sum string) string { return filepath.Join(db.dir, chunksDir, sum) }

// chunkTotalLocked returns the bytes held in chunks; db.chunkMu is held.
func (db *DB) chunkTotalLocked() int64 {
	if !db.chunk.loaded {
		db.chunk.loaded = true
		db.chunk.bytes = 0
		entries, _ := os.ReadDir(filepath.Join(db.dir, chunksDir))
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") {
				continue // a chunk being written
			}
			if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
				db.chunk.bytes += info.Size()
			}
		}
	}
	return db.chunk.bytes
}

// PutChunk stores the bytes read from r as the chunk with SHA1 checksum
// sum. It reads at most ChunkSize+1 bytes; a longer chunk is
// ErrChunkTooLarge, and bytes whose SHA1 is not sum are ErrChunkChecksum.
// A chunk already stored is read, checked and kept (its clock restarts).
func (db *DB) PutChunk(sum string, r io.Reader) error {
	sum = strings.ToLower(sum)
	if !IsSHA1(sum) {
		return fmt.Errorf("%w: %q is not a SHA1 checksum", ErrChunkChecksum, sum)
	}
	dir := filepath.Join(db.dir, chunksDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".put-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	defer tmp.Close()
	h := sha1.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, ChunkSize+1))
	if err != nil {
		return fmt.Errorf("%w %s: %w", ErrChunkUnreadable, sum, err)
	}
	if n > ChunkSize {
		return fmt.Errorf("%w: chunk %s is over %d bytes", ErrChunkTooLarge, sum, ChunkSize)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		return fmt.Errorf("%w: chunk sent as %s has SHA1 %s", ErrChunkChecksum, sum, got)
	}
	db.chunkMu.Lock()
	defer db.chunkMu.Unlock()
	path := db.chunkPath(sum)
	if _, err := os.Stat(path); err == nil {
		now := db.Now()
		return os.Chtimes(path, now, now)
	}
	if db.chunkTotalLocked()+n > chunksMaxBytes {
		db.vacuumChunksLocked(db.Now().Add(-ChunkTTL))
		if db.chunk.bytes+n > chunksMaxBytes {
			return ErrChunksFull
		}
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	db.chunk.bytes += n
	return nil
}

// MissingChunks returns those of sums that are not stored, in the order
// given (each once). The stored ones are marked used, so they do not expire
// between this check and the assembly. A checksum that is not 40 hex
// digits is ErrChunkChecksum.
func (db *DB) MissingChunks(sums []string) ([]string, error) {
	missing := []string{}
	seen := make(map[string]bool, len(sums))
	now := db.Now()
	for _, s := range sums {
		s = strings.ToLower(s)
		if !IsSHA1(s) {
			return nil, fmt.Errorf("%w: %q is not a SHA1 checksum", ErrChunkChecksum, s)
		}
		if seen[s] {
			continue
		}
		seen[s] = true
		if err := os.Chtimes(db.chunkPath(s), now, now); err != nil {
			missing = append(missing, s)
		}
	}
	return missing, nil
}

// AssembleChunks concatenates the chunks sums, in order, into an anonymous
// temporary file (already unlinked: closing it frees its space) and checks
// that the whole has the SHA1 checksum (when checksum is not empty). It
// returns the file positioned at its start, and its size. The caller
// closes it. A chunk not stored is ErrChunkMissing; a whole over
// MaxAssembledSize is ErrChunkTooLarge; a whole with another checksum is
// ErrChunkChecksum.
func (db *DB) AssembleChunks(checksum string, sums []string) (*os.File, int64, error) {
	checksum = strings.ToLower(checksum)
	if checksum != "" && !IsSHA1(checksum) {
		return nil, 0, fmt.Errorf("%w: %q is not a SHA1 checksum", ErrChunkChecksum, checksum)
	}
	dir := filepath.Join(db.dir, chunksDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, 0, err
	}
	f, err := os.CreateTemp(dir, ".assemble-*")
	if err != nil {
		return nil, 0, err
	}
	os.Remove(f.Name())
	h := sha1.New()
	w := io.MultiWriter(f, h)
	var size int64
	fail := func(err error) (*os.File, int64, error) {
		f.Close()
		return nil, 0, err
	}
	now := db.Now()
	for _, s := range sums {
		s = strings.ToLower(s)
		if !IsSHA1(s) {
			return fail(fmt.Errorf("%w: %q is not a SHA1 checksum", ErrChunkChecksum, s))
		}
		c, err := os.Open(db.chunkPath(s))
		if errors.Is(err, fs.ErrNotExist) {
			return fail(fmt.Errorf("%w: %s", ErrChunkMissing, s))
		}
		if err != nil {
			return fail(err)
		}
		n, err := io.Copy(w, io.LimitReader(c, MaxAssembledSize-size+1))
		c.Close()
		if err != nil {
			return fail(err)
		}
		os.Chtimes(db.chunkPath(s), now, now)
		size += n
		if size > MaxAssembledSize {
			return fail(fmt.Errorf("%w: the assembled file is over %d bytes", ErrChunkTooLarge, MaxAssembledSize))
		}
	}
	if got := hex.EncodeToString(h.Sum(nil)); checksum != "" && got != checksum {
		return fail(fmt.Errorf("%w: the chunks make a file with SHA1 %s, not %s", ErrChunkChecksum, got, checksum))
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fail(err)
	}
	return f, size, nil
}

// VacuumChunks deletes the chunks unused since before cutoff and returns
// how many it deleted.
func (db *DB) VacuumChunks(cutoff time.Time) int {
	db.chunkMu.Lock()
	defer db.chunkMu.Unlock()
	return db.vacuumChunksLocked(cutoff)
}

func (db *DB) vacuumChunksLocked(cutoff time.Time) int {
	db.chunkTotalLocked()
	dir := filepath.Join(db.dir, chunksDir)
	entries, _ := os.ReadDir(dir)
	n := 0
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		// Leftovers of a crash in the middle of PutChunk go too, once old.
		if info.ModTime().Before(cutoff) {
			if os.Remove(filepath.Join(dir, e.Name())) == nil && !strings.HasPrefix(e.Name(), ".") {
				db.chunk.bytes -= info.Size()
				n++
			}
		}
	}
	return n
}
