package store

import (
	"archive/tar"
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/tinysink/tinysink/internal/xsort"
)

// Backups. An archive is a tar stream compressed with zstd, holding
//
//	tinysink-backup.json      the Manifest (always the first entry)
//	store.db                  a snapshot of the metadata (buntdb's Save)
//	events/<pid>/log          each project's event records, up to its committed length
//	events/<pid>/seg-<n>      its body segments, the last one up to its committed offset
//	spool/<seq>.spool         the ingest spool's segment files
//	attachments/<pid>/<id>/…  events' attachments (store/attach)
//	symbols/files/<ID>/….sym  uploaded Breakpad symbol files (not their index cache)
//	artifacts/<sha1>          uploaded source maps and bundle files (not the
//	                          decoded maps' index cache, <data>/sourcemaps)
//
// Consistency: Backup holds the digest lock (digestMu) from the first
// byte to the last. Every change to the event files — a digest batch, a
// retention round, an issue deletion — happens under that lock, so the
// files do not change while they are copied, and the metadata snapshot,
// taken under the same lock, describes exactly the committed extents
// copied. Everything else that writes metadata (logins, issue actions,
// the alert outbox) touches buntdb only, and Save copies buntdb in one
// read transaction.
//
// Ingest goes on meanwhile: it only appends to the spool. The digest waits
// for the lock, so the spool is not released either, and every event
// acknowledged before the backup started is either digested (in the
// snapshot) or still in a spool file (copied). Restoring puts the spool
// back and the digest replays it from the position recorded in the
// snapshot; event ids make the replay idempotent.

// ArchiveFormat is the version of the backup archive layout.
const ArchiveFormat = 1

// manifestName is the archive's first entry.
const manifestName = "tinysink-backup.json"

// Manifest describes a backup archive.
type Manifest struct {
	ArchiveFormat int       `json:"archive_format"`
	DataFormat    int       `json:"data_format"` // the data directory's meta:format
	Created       time.Time `json:"created"`
	// SpoolPos is the spool position the digest had committed.
	SpoolPos string            `json:"spool_pos"`
	Projects []ManifestProject `json:"projects"`
	// SpoolFiles and SpoolBytes are the spool segments copied.
	SpoolFiles int   `json:"spool_files"`
	SpoolBytes int64 `json:"spool_bytes"`
}

// ManifestProject is one project's committed extents at the backup.
type ManifestProject struct {
	ID           int    `json:"id"`
	Slug         string `json:"slug"`
	StoredEvents int64  `json:"stored_events"`
	LogLen       uint32 `json:"log_len"`
	Seg          uint32 `json:"seg"`
	SegOff       uint32 `json:"seg_off"`
	SegFirst     uint32 `json:"seg_first,omitempty"`
}

// StoredEvents is the number of events stored in all projects.
func (m *Manifest) StoredEvents() int64 {
	var n int64
	for _, p := range m.Projects {
		n += p.StoredEvents
	}
	return n
}

// ErrNotEmpty is returned by Restore for a directory that holds files.
var ErrNotEmpty = errors.New("store: directory is not empty")

// BackupRunning reports whether a Backup holds the digest lock now.
func (db *DB) BackupRunning() bool { return db.ops.backups.Load() > 0 }

// Backup writes a consistent archive of the data directory to w (see the
// comment above). Digest batches and retention rounds wait until it
// returns; ingest does not.
func (db *DB) Backup(w io.Writer) error {
	db.digestMu.Lock()
	defer db.digestMu.Unlock()
	db.ops.backups.Add(1)
	defer db.ops.backups.Add(-1)
	return db.backupLocked(w)
}

// newArchiveWriter returns the zstd stream an archive is written through:
// one goroutine, small window and memory (event bodies are zstd frames
// already, so there is little left to gain).
func newArchiveWriter(w io.Writer) (*zstd.Encoder, error) {
	return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithLowerEncoderMem(true), zstd.WithWindowSize(1<<20))
}

// backupLocked writes the archive. Callers hold digestMu.
func (db *DB) backupLocked(w io.Writer) error {
	// The metadata snapshot goes to a temporary file first: tar needs its
	// size up front, and it must not cost its size in memory.
	tmp, err := os.CreateTemp(db.dir, "backup-*.tmp")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	treeTmp, err := os.CreateTemp(db.dir, "backup-*.tmp")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer func() {
		treeTmp.Close()
		os.Remove(treeTmp.Name())
	}()
	if err := db.snapshotMeta(tmp, treeTmp); err != nil {
		return fmt.Errorf("backup: snapshot store: %w", err)
	}
	m, err := db.manifest()
	if err != nil {
		return err
	}
	spoolFiles, err := listSpool(filepath.Join(db.dir, "spool"))
	if err != nil {
		return err
	}
	for _, name := range spoolFiles {
		if st, err := os.Stat(filepath.Join(db.dir, "spool", name)); err == nil {
			m.SpoolFiles++
			m.SpoolBytes += st.Size()
		}
	}

	zw, err := newArchiveWriter(w)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := writeEntry(tw, manifestName, int64(len(mb)), m.Created, strings.NewReader(string(mb))); err != nil {
		return err
	}
	st, err := tmp.Stat()
	if err != nil {
		return err
	}
	if err := writeEntry(tw, "store.db", st.Size(), m.Created, io.NewSectionReader(tmp, 0, st.Size())); err != nil {
		return err
	}
	if st, err = treeTmp.Stat(); err != nil {
		return err
	}
	if err := writeEntry(tw, "tree.db", st.Size(), m.Created, io.NewSectionReader(treeTmp, 0, st.Size())); err != nil {
		return err
	}
	for _, p := range m.Projects {
		if err := db.backupProject(tw, p, m.Created); err != nil {
			return err
		}
	}
	for _, name := range spoolFiles {
		if err := copyFileEntry(tw, filepath.Join(db.dir, "spool", name), "spool/"+name, -1, true); err != nil {
			return err
		}
	}
	if err := db.backupFiles(tw); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// snapshotMeta writes buntdb's snapshot to kvw and the tree's to treew.
// It holds the tree's writer for both, and every metadata write begins by
// taking it, so the two agree on the tree sequence (see kvtx.go).
func (db *DB) snapshotMeta(kvw, treew io.Writer) error {
	t := db.tree.Begin()
	defer t.Rollback()
	bw := bufio.NewWriterSize(kvw, 64<<10)
	if err := db.kv.Save(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	bw = bufio.NewWriterSize(treew, 64<<10)
	if err := t.WriteSnapshot(bw); err != nil {
		return err
	}
	return bw.Flush()
}

// manifest describes the committed state. Callers hold digestMu.
func (db *DB) manifest() (*Manifest, error) {
	m := &Manifest{ArchiveFormat: ArchiveFormat, Created: db.Now().UTC()}
	var err error
	if m.SpoolPos, err = db.SpoolPos(); err != nil {
		return nil, err
	}
	err = db.view(func(tx *kvTx) error {
		v, err := tx.Get(keyFormat)
		m.DataFormat, _ = strconv.Atoi(v)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("backup: read the format: %w", err)
	}
	ps, err := db.Projects()
	if err != nil {
		return nil, err
	}
	// Under digestMu the committed extents in the project rows are those
	// of the open event logs; the rows are also right before the logs are
	// opened (a backup before a format migration).
	for _, p := range ps {
		m.Projects = append(m.Projects, ManifestProject{ID: p.ID, Slug: p.Slug, StoredEvents: p.StoredEventCount,
			LogLen: p.LogLen, Seg: p.Seg, SegOff: p.SegOff, SegFirst: p.SegFirst})
	}
	xsort.SortFunc(m.Projects, func(a, b ManifestProject) int { return a.ID - b.ID })
	return m, nil
}

// backupProject writes one project's log and segments up to the committed
// extents.
func (db *DB) backupProject(tw *tar.Writer, p ManifestProject, at time.Time) error {
	dir := db.projectDir(p.ID)
	prefix := "events/" + strconv.Itoa(p.ID) + "/"
	if err := copyFileEntry(tw, filepath.Join(dir, "log"), prefix+"log", int64(p.LogLen)*recSize, false); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("backup: %w", err)
	}
	var segs []uint32
	for _, e := range entries {
		if n, ok := segmentNumber(e.Name()); ok && n <= p.Seg && n >= p.SegFirst {
			segs = append(segs, n)
		}
	}
	slices.Sort(segs)
	for _, n := range segs {
		size := int64(-1) // an older segment: all of it
		if n == p.Seg {
			size = int64(p.SegOff)
		}
		name := "seg-" + strconv.FormatUint(uint64(n), 10)
		if err := copyFileEntry(tw, filepath.Join(dir, name), prefix+name, size, false); err != nil {
			return err
		}
	}
	return nil
}

// listSpool returns the spool's segment file names, sorted.
func listSpool(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	var out []string
	for _, e := range entries {
		if spoolName().MatchString(e.Name()) && e.Type().IsRegular() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// backupFiles adds the attachments of events, the uploaded symbol files
// and the uploaded source-map artifacts (not the index caches, which are
// rebuilt on use). Files deleted
// meanwhile (retention) are skipped.
func (db *DB) backupFiles(tw *tar.Writer) error {
	for _, top := range []string{"attachments", "symbols/files", artifactsDir} {
		root := filepath.Join(db.dir, filepath.FromSlash(top))
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			rel, err := filepath.Rel(db.dir, path)
			if err != nil {
				return err
			}
			name := filepath.ToSlash(rel)
			if !archiveName().MatchString(name) {
				return nil // a temporary file of a request in progress
			}
			return copyFileEntry(tw, path, name, -1, true)
		})
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
	}
	return nil
}

// copyFileEntry writes the first size bytes of the file at path (all of it
// when size < 0) as entry name. With mayVanish, a file deleted meanwhile
// is skipped (a spool segment the digest released).
func copyFileEntry(tw *tar.Writer, path, name string, size int64, mayVanish bool) error {
	f, err := os.Open(path)
	if mayVanish && errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if errors.Is(err, fs.ErrNotExist) && size == 0 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if size < 0 {
		size = st.Size()
	}
	if st.Size() < size {
		return fmt.Errorf("backup: %s holds %d bytes, fewer than the %d committed", path, st.Size(), size)
	}
	var r io.Reader = io.NewSectionReader(f, 0, size)
	if mayVanish {
		// A spool segment is cut back after a failed write: pad it with
		// zeros, which the spool reads as the end of the segment.
		r = io.LimitReader(io.MultiReader(r, zeros{}), size)
	}
	return writeEntry(tw, name, size, st.ModTime(), r)
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}

func writeEntry(tw *tar.Writer, name string, size int64, mtime time.Time, r io.Reader) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o600, ModTime: mtime, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if n, err := io.Copy(tw, r); err != nil {
		return fmt.Errorf("backup: %s: %w", name, err)
	} else if n != size {
		return fmt.Errorf("backup: %s: copied %d of %d bytes", name, n, size)
	}
	return nil
}

// The entries an archive may hold besides the manifest; anything else is
// refused, so a crafted archive cannot write outside the directory. Both
// are compiled on first use (a backup or restore), not at start-up: the
// second alone cost every process ~80 page faults and ~200 KB of heap.
var (
	spoolName   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-f]{16}\.spool$`) })
	archiveName = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(store\.db|tree\.db|events/[1-9][0-9]{0,9}/(log|seg-(0|[1-9][0-9]{0,9}))|spool/[0-9a-f]{16}\.spool` +
			`|attachments/[1-9][0-9]{0,9}/[0-9a-f]{32}/(meta\.json|original\.json|[0-9]{1,3})|symbols/files/[0-9A-F]{33,40}/[^/.][^/]{0,250}\.sym|artifacts/[0-9a-f]{40})$`)
	})
)

// ReadManifest reads the manifest at the start of an archive.
func ReadManifest(r io.Reader) (*Manifest, error) {
	zr, err := newArchiveReader(r)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	return readManifest(tar.NewReader(zr))
}

func newArchiveReader(r io.Reader) (*zstd.Decoder, error) {
	zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(8<<20))
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	return zr, nil
}

func readManifest(tr *tar.Reader) (*Manifest, error) {
	hdr, err := tr.Next()
	if err != nil {
		return nil, fmt.Errorf("restore: not a tinysink backup: %w", err)
	}
	if hdr.Name != manifestName || hdr.Size > 1<<20 {
		return nil, fmt.Errorf("restore: not a tinysink backup (first entry %q)", hdr.Name)
	}
	var m Manifest
	if err := json.NewDecoder(io.LimitReader(tr, 1<<20)).Decode(&m); err != nil {
		return nil, fmt.Errorf("restore: manifest: %w", err)
	}
	if m.ArchiveFormat > ArchiveFormat || m.DataFormat > formatVersion {
		return nil, fmt.Errorf("%w: the backup has archive format %d and data format %d; this build knows %d and %d",
			ErrNewerFormat, m.ArchiveFormat, m.DataFormat, ArchiveFormat, formatVersion)
	}
	return &m, nil
}

// Restore unpacks an archive made by Backup into dir, which must be empty
// or not exist. Each file is synced; on error, what was unpacked is
// removed again. Open the directory afterwards to check it.
func Restore(r io.Reader, dir string) (*Manifest, error) {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotEmpty, dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	m, err := restore(r, dir)
	if err != nil {
		for _, name := range []string{"store.db", "events", "spool", "attachments", "symbols", artifactsDir} {
			os.RemoveAll(filepath.Join(dir, name))
		}
		return nil, err
	}
	return m, nil
}

func restore(r io.Reader, dir string) (*Manifest, error) {
	zr, err := newArchiveReader(r)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	m, err := readManifest(tr)
	if err != nil {
		return nil, err
	}
	dirs := map[string]bool{dir: true}
	sawStore := false
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
		if hdr.Typeflag != tar.TypeReg || !archiveName().MatchString(hdr.Name) {
			return nil, fmt.Errorf("restore: unexpected entry %q in the archive", hdr.Name)
		}
		path := filepath.Join(dir, filepath.FromSlash(hdr.Name))
		parent := filepath.Dir(path)
		if !dirs[parent] {
			if err := os.MkdirAll(parent, 0o700); err != nil {
				return nil, fmt.Errorf("restore: %w", err)
			}
			dirs[parent] = true
			dirs[filepath.Dir(parent)] = true
		}
		if err := writeSparse(path, tr, hdr.Size); err != nil {
			return nil, fmt.Errorf("restore: %s: %w", hdr.Name, err)
		}
		sawStore = sawStore || hdr.Name == "store.db"
	}
	if !sawStore {
		return nil, errors.New("restore: the archive holds no store.db")
	}
	for d := range dirs {
		if err := syncDir(d); err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
	}
	return m, nil
}

// writeSparse creates path from the size bytes of r, skipping over
// all-zero blocks so that holes punched by retention stay holes.
func writeSparse(path string, r io.Reader, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	var off int64
	for off < size {
		n, err := io.ReadFull(r, buf[:min(int64(len(buf)), size-off)])
		if err != nil {
			return fmt.Errorf("archive ends early: %w", err)
		}
		for i := 0; i < n; i += 4096 {
			b := buf[i:min(i+4096, n)]
			if len(b) == 4096 && allZero(b) {
				continue
			}
			if _, err := f.WriteAt(b, off+int64(i)); err != nil {
				return err
			}
		}
		off += int64(n)
	}
	if err := f.Truncate(size); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
