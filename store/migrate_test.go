package store

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func setFormat(t *testing.T, db *DB, v int) {
	t.Helper()
	err := db.update(func(tx *kvTx) error {
		_, _, err := tx.Set(keyFormat, strconv.Itoa(v), nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func formatOf(t *testing.T, db *DB) string {
	t.Helper()
	var v string
	db.view(func(tx *kvTx) error {
		v, _ = tx.Get(keyFormat)
		return nil
	})
	return v
}

// A data directory of a newer format is refused, untouched.
func TestOpenRefusesNewerFormat(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	setFormat(t, db, formatVersion+1)
	db.Close()
	before, _ := os.ReadFile(filepath.Join(dir, "store.db"))
	if _, err := Open(dir); !errors.Is(err, ErrNewerFormat) {
		t.Fatalf("Open = %v, want ErrNewerFormat", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "store.db"))
	if string(before) != string(after) {
		t.Error("Open changed a directory of a newer format")
	}
}

// An older format is backed up before the first migration step runs; a
// failed step leaves the format where it was and the next Open resumes;
// the backup restores the directory as it was before the migration.
func TestOpenMigratesAfterBackup(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := db.CreateProject("app")
	addEvents(t, db, p.ID, "a", 0, 10)
	// Pretend this directory was written by a build of format v-1.
	old := formatVersion - 1
	setFormat(t, db, old)
	db.Close()

	backups := func() []string {
		m, _ := filepath.Glob(filepath.Join(dir, "backup-format"+strconv.Itoa(old)+"-*.tar.zst"))
		return m
	}
	fail := true
	var sawBackup []string
	// The real step from old (if any) comes back after the test: other
	// tests migrate format-1 directories.
	prev, had := migrations[old]
	migrations[old] = func(db *DB) error {
		sawBackup = backups()
		if fail {
			return errors.New("step failed")
		}
		return db.update(func(tx *kvTx) error {
			_, _, err := tx.Set("migrated", "yes", nil)
			return err
		})
	}
	t.Cleanup(func() {
		if had {
			migrations[old] = prev
		} else {
			delete(migrations, old)
		}
	})

	if _, err := Open(dir); err == nil || err.Error() == "" {
		t.Fatal("Open with a failing migration step succeeded")
	}
	if len(sawBackup) != 1 {
		t.Fatalf("backups when the step ran: %v, want one", sawBackup)
	}
	fail = false
	db2 := openTest(t, dir)
	if b := backups(); len(b) != 1 || b[0] != sawBackup[0] {
		t.Errorf("backups after the second attempt: %v, want the first one only", b)
	}
	if got := formatOf(t, db2); got != strconv.Itoa(formatVersion) {
		t.Errorf("format after migrating = %q, want %d", got, formatVersion)
	}
	var migrated string
	db2.view(func(tx *kvTx) error { migrated, _ = tx.Get("migrated"); return nil })
	if migrated != "yes" {
		t.Error("the migration step did not run")
	}
	if pr, _ := db2.Project(p.ID); pr.StoredEventCount != 10 {
		t.Errorf("stored events after migrating = %d", pr.StoredEventCount)
	}

	// The automatic backup is the directory as it was: old format, no
	// migration, every event.
	f, err := os.Open(backups()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := Restore(f, filepath.Join(t.TempDir(), "restored"))
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if m.DataFormat != old || m.StoredEvents() != 10 {
		t.Errorf("manifest of the automatic backup = %+v", m)
	}
}
