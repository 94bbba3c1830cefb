//go:build unix

package store

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// checkPrivate fails for anything under dir that its group or others may
// use.
func checkPrivate(t *testing.T, dir string) {
	t.Helper()
	n := 0
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		info, _ := d.Info()
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %#o, want no group or other permissions", path, perm)
		}
		n++
		return nil
	})
	if n < 5 {
		t.Fatalf("only %d entries under %s", n, dir)
	}
}

// The data directory and everything the store writes into it (store.db,
// events/, backups, restored directories) are private to the owner, even
// under a lax umask; an existing directory is tightened when opened.
func TestDataDirectoryIsPrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })

	dir := filepath.Join(t.TempDir(), "data")
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := db.CreateProject("web")
	if err != nil {
		t.Fatal(err)
	}
	addEvents(t, db, p.ID, "k", 0, 3)
	var archive bytes.Buffer
	if err := db.Backup(&archive); err != nil {
		t.Fatal(err)
	}
	db.Close()
	checkPrivate(t, dir)

	restored := filepath.Join(t.TempDir(), "restored")
	if _, err := Restore(bytes.NewReader(archive.Bytes()), restored); err != nil {
		t.Fatal(err)
	}
	checkPrivate(t, restored)

	// An install made by an older version, or by hand.
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if d.IsDir() {
			return os.Chmod(path, 0o755)
		}
		return os.Chmod(path, 0o644)
	})
	db, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	checkPrivate(t, dir)
}
