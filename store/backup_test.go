package store

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tinysink/tinysink/store/disk"
)

// addBigEvents stores n events of incompressible bodies of size bytes, so
// that a test fills more than one body segment.
func addBigEvents(t *testing.T, db *DB, pid int, from, n, size int) map[[16]byte][]byte {
	t.Helper()
	bodies := map[[16]byte][]byte{}
	err := db.Digest(func(tx *Tx) error {
		p, err := tx.Project(pid)
		if err != nil {
			return err
		}
		iss, err := tx.IssueForGrouping(pid, "big")
		if errors.Is(err, ErrNotFound) {
			iss = &Issue{CalculatedType: "Big"}
			if err := tx.CreateIssue(p, iss, "big", "big", "test"); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		for i := from; i < from+n; i++ {
			body := make([]byte, size)
			rand.Read(body)
			id := eventID(i)
			bodies[id] = body
			iss.DigestedEventCount++
			if err := tx.AddEvent(p, iss, &NewEvent{EventID: id, Ingested: time.Unix(int64(i), 0), Compressed: CompressBody(body)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Digest: %v", err)
	}
	return bodies
}

// A backup restores to a directory that holds the same projects, issues,
// events and bodies, spool files included; events evicted before the
// backup stay gone and their holes stay holes.
func TestBackupRestoreRoundTrip(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	db := openTest(t, src)
	p, err := db.CreateProject("app")
	if err != nil {
		t.Fatal(err)
	}
	q, err := db.CreateProject("other")
	if err != nil {
		t.Fatal(err)
	}
	// Digested long ago, so evicted below: the small events and 16 MiB of
	// big ones (a hole in seg-0).
	db.Now = func() time.Time { return time.Unix(1000, 0) }
	addEvents(t, db, p.ID, "a", 0, 30)
	addBigEvents(t, db, p.ID, 900, 8, 2<<20)
	db.Now = time.Now
	addEvents(t, db, q.ID, "b", 100, 5)
	// Two segments: a batch that starts past segmentMax (64 MiB) starts a
	// new one.
	big := map[[16]byte][]byte{}
	for i := range 4 {
		for id, b := range addBigEvents(t, db, p.ID, 1000+10*i, 8, 2<<20) {
			big[id] = b
		}
	}
	if n, err := db.EvictOlderThan(p.ID, time.Unix(2000, 0)); err != nil || n == 0 {
		t.Fatalf("EvictOlderThan = %d, %v", n, err)
	}
	if _, err := os.Stat(filepath.Join(src, "events", fmt.Sprint(p.ID), "seg-1")); err != nil {
		t.Fatalf("the test wants a second segment: %v", err)
	}
	spoolData := []byte("TSSPOOL\x01 pretend records")
	os.MkdirAll(filepath.Join(src, "spool"), 0o700)
	os.WriteFile(filepath.Join(src, "spool", "0000000000000003.spool"), spoolData, 0o600)
	os.WriteFile(filepath.Join(src, "spool", "not-a-segment"), []byte("x"), 0o600)

	var buf bytes.Buffer
	if err := db.Backup(&buf); err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if db.BackupRunning() {
		t.Error("BackupRunning after Backup returned")
	}
	m, err := ReadManifest(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("ReadManifest: %v", err)
	}
	pr, _ := db.Project(p.ID)
	if len(m.Projects) != 2 || m.Projects[0].LogLen != pr.LogLen || m.Projects[0].SegOff != pr.SegOff || m.StoredEvents() != pr.StoredEventCount+5 {
		t.Errorf("manifest = %+v, project = %+v", m, pr)
	}

	dst := filepath.Join(t.TempDir(), "restored")
	if _, err := Restore(bytes.NewReader(buf.Bytes()), dst); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(dst, "spool", "0000000000000003.spool")); err != nil || !bytes.Equal(got, spoolData) {
		t.Errorf("spool file = %q, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(dst, "spool", "not-a-segment")); err == nil {
		t.Error("a file that is not a spool segment was backed up")
	}
	rdb := openTest(t, dst)
	for _, pid := range []int{p.ID, q.ID} {
		a, _ := db.Project(pid)
		b, err := rdb.Project(pid)
		if err != nil || a.StoredEventCount != b.StoredEventCount || a.LogLen != b.LogLen || a.Key != b.Key {
			t.Errorf("project %d: restored %+v, want %+v (%v)", pid, b, a, err)
		}
	}
	for id, want := range big {
		_, got, err := rdb.ProjectEvent(p.ID, id)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("big event %x: %d bytes, %v", id, len(got), err)
		}
	}
	for i := range 30 {
		_, _, err := rdb.ProjectEvent(p.ID, eventID(i))
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("evicted event %d: %v, want ErrNotFound", i, err)
		}
	}
	for i := 100; i < 105; i++ {
		if _, body, err := rdb.ProjectEvent(q.ID, eventID(i)); err != nil || !bytes.Contains(body, fmt.Appendf(nil, `"n":%d`, i)) {
			t.Errorf("event %d: %s, %v", i, body, err)
		}
	}
	// Evicted bodies were holes punched in seg-0; they are holes again.
	seg0 := filepath.Join(src, "events", fmt.Sprint(p.ID), "seg-0")
	rseg0 := filepath.Join(dst, "events", fmt.Sprint(p.ID), "seg-0")
	a, _ := os.Stat(seg0)
	b, _ := os.Stat(rseg0)
	if a.Size() != b.Size() || allocatedOf(t, rseg0) > allocatedOf(t, seg0)+64<<10 || allocatedOf(t, rseg0) > a.Size()-15<<20 {
		t.Errorf("seg-0: restored size %d (%d allocated), original %d (%d allocated)", b.Size(), allocatedOf(t, rseg0), a.Size(), allocatedOf(t, seg0))
	}
}

func allocatedOf(t *testing.T, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return disk.Allocated(fi)
}

func TestRestoreRefusals(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	db := openTest(t, src)
	var good bytes.Buffer
	if err := db.Backup(&good); err != nil {
		t.Fatal(err)
	}

	t.Run("non-empty directory", func(t *testing.T) {
		dst := t.TempDir()
		os.WriteFile(filepath.Join(dst, "keep"), []byte("mine"), 0o600)
		if _, err := Restore(bytes.NewReader(good.Bytes()), dst); !errors.Is(err, ErrNotEmpty) {
			t.Fatalf("Restore = %v, want ErrNotEmpty", err)
		}
		if b, _ := os.ReadFile(filepath.Join(dst, "keep")); string(b) != "mine" {
			t.Error("Restore touched a file it did not write")
		}
	})

	archive := func(m *Manifest, names ...string) []byte {
		var buf bytes.Buffer
		zw, _ := newArchiveWriter(&buf)
		tw := tar.NewWriter(zw)
		mb := fmt.Appendf(nil, `{"archive_format":%d,"data_format":%d}`, m.ArchiveFormat, m.DataFormat)
		writeEntry(tw, manifestName, int64(len(mb)), time.Now(), bytes.NewReader(mb))
		for _, n := range names {
			writeEntry(tw, n, 1, time.Now(), bytes.NewReader([]byte("x")))
		}
		tw.Close()
		zw.Close()
		return buf.Bytes()
	}
	for _, tt := range []struct {
		name    string
		archive []byte
		want    error
	}{
		{"newer data format", archive(&Manifest{ArchiveFormat: 1, DataFormat: formatVersion + 1}, "store.db"), ErrNewerFormat},
		{"newer archive format", archive(&Manifest{ArchiveFormat: ArchiveFormat + 1, DataFormat: 1}, "store.db"), ErrNewerFormat},
		{"path outside the directory", archive(&Manifest{ArchiveFormat: 1, DataFormat: 1}, "store.db", "../evil"), nil},
		{"unknown file", archive(&Manifest{ArchiveFormat: 1, DataFormat: 1}, "store.db", "events/1/../../x"), nil},
		{"no store", archive(&Manifest{ArchiveFormat: 1, DataFormat: 1}, "events/1/log"), nil},
		{"not an archive", []byte("hello"), nil},
		{"truncated", good.Bytes()[:good.Len()/2], nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			dst := filepath.Join(parent, "data")
			_, err := Restore(bytes.NewReader(tt.archive), dst)
			if err == nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Restore = %v, want an error (%v)", err, tt.want)
			}
			if entries, _ := os.ReadDir(dst); len(entries) != 0 {
				t.Errorf("a failed restore left %v", entries)
			}
			if _, err := os.Stat(filepath.Join(parent, "evil")); err == nil {
				t.Error("the archive wrote outside the directory")
			}
		})
	}
}

// Digest batches wait while a backup runs, and go on when it ends.
func TestBackupHoldsDigest(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir())
	p, _ := db.CreateProject("app")
	addEvents(t, db, p.ID, "a", 0, 3)
	pr, pw := io.Pipe()
	backupDone := make(chan error, 1)
	go func() {
		err := db.Backup(pw)
		pw.CloseWithError(err)
		backupDone <- err
	}()
	// The first bytes of the archive arrive once the lock is held.
	first := make([]byte, 1)
	if _, err := io.ReadFull(pr, first); err != nil {
		t.Fatal(err)
	}
	if !db.BackupRunning() {
		t.Error("BackupRunning = false during a backup")
	}
	digested := make(chan struct{})
	go func() {
		addEvents(t, db, p.ID, "a", 3, 1)
		close(digested)
	}()
	select {
	case <-digested:
		t.Fatal("a digest batch committed during the backup")
	case <-time.After(100 * time.Millisecond):
	}
	rest, err := io.ReadAll(pr)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-backupDone; err != nil {
		t.Fatalf("Backup: %v", err)
	}
	<-digested
	m, err := ReadManifest(io.MultiReader(bytes.NewReader(first), bytes.NewReader(rest)))
	if err != nil || m.Projects[0].LogLen != 3 {
		t.Errorf("manifest = %+v, %v; want the 3 events committed before the backup", m, err)
	}
}

// Attachments, uploaded symbol files and source-map artifacts are in the
// archive; temporary files and the index caches are not.
func TestBackupAttachmentsAndSymbols(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	db := openTest(t, src)
	id := strings.Repeat("ab", 16)
	files := map[string]string{
		"attachments/1/" + id + "/meta.json":                           `[{"n":0}]`,
		"attachments/1/" + id + "/0":                                   "MDMP...",
		"attachments/1/" + id + "/original.json":                       "{}",
		"symbols/files/5A9832E5287241C1838ED98914E9B7FF1/test_app.sym": "MODULE windows x86 5A9832E5287241C1838ED98914E9B7FF1 test_app.pdb\n",
		"artifacts/" + strings.Repeat("0f", 20):                        `{"version":3,"sources":[],"names":[],"mappings":""}`,
	}
	skipped := []string{"attachments/1/.tmp-123/0", "symbols/cache/5A9832E5287241C1838ED98914E9B7FF1.idx",
		"sourcemaps/" + strings.Repeat("0f", 20) + ".smx", "artifacts/.tmp-1"}
	for _, name := range append(slices.Collect(maps.Keys(files)), skipped...) {
		path := filepath.Join(src, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(path), 0o700)
		if err := os.WriteFile(path, []byte(files[name]), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := db.Backup(&buf); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "restored")
	if _, err := Restore(bytes.NewReader(buf.Bytes()), dst); err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(dst, filepath.FromSlash(name)))
		if err != nil || string(got) != want {
			t.Errorf("%s: %q, %v", name, got, err)
		}
	}
	for _, name := range skipped {
		if _, err := os.Stat(filepath.Join(dst, filepath.FromSlash(name))); err == nil {
			t.Errorf("%s was archived", name)
		}
	}
}
