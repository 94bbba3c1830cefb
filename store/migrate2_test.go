package store

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/buntdb"
)

// restoreFormat1 restores the fixture written by the format-1 build
// (genformat1_test.go) into a new directory.
func restoreFormat1(t *testing.T) string {
	t.Helper()
	f, err := os.Open("testdata/format1.tar.zst")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := filepath.Join(t.TempDir(), "data")
	m, err := Restore(f, dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.DataFormat != 1 {
		t.Fatalf("fixture format = %d", m.DataFormat)
	}
	return dir
}

// checkMigrated compares what the store shows with what the format-1
// build showed, before and after the counters roll up, and checks that
// buntdb kept none of the moved families.
func checkMigrated(t *testing.T, db *DB) {
	t.Helper()
	want, err := os.ReadFile("testdata/format1.dump.json")
	if err != nil {
		t.Fatal(err)
	}
	db.Now = func() time.Time { return format1Now }
	if got := dumpStore(t, db, format1Now); got != string(want) {
		os.WriteFile(filepath.Join(t.TempDir(), "got.json"), []byte(got), 0o644)
		t.Fatalf("the migrated store shows something else than format 1 did:\n%s", firstDiff(got, string(want)))
	}
	if _, err := db.RollUp(); err != nil {
		t.Fatal(err)
	}
	if got := dumpStore(t, db, format1Now); got != string(want) {
		t.Fatalf("after the roll-up the store shows something else:\n%s", firstDiff(got, string(want)))
	}
	var left []string
	db.kv.View(func(tx *buntdb.Tx) error {
		return tx.AscendKeys("*", func(k, v string) bool {
			if onDisk(k) {
				left = append(left, k)
			}
			return true
		})
	})
	if len(left) > 0 {
		t.Errorf("keys left in buntdb: %q", left)
	}
	if v, _ := func() (string, error) {
		var v string
		err := db.view(func(tx *kvTx) error { v, _ = tx.Get(keyFormat); return nil })
		return v, err
	}(); v != strconv.Itoa(formatVersion) {
		t.Errorf("format = %q", v)
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			lo := max(0, i-8)
			return "got:\n" + strings.Join(al[lo:min(len(al), i+3)], "\n") + "\nwant:\n" + strings.Join(bl[lo:min(len(bl), i+3)], "\n")
		}
	}
	return "lengths differ"
}

// A data directory written by the format-1 build opens with this one:
// a backup first, then every event, issue, state, comment, tag count,
// counter, release, deploy and outbox entry carried over.
func TestMigrateFormat1(t *testing.T) {
	t.Parallel()
	dir := restoreFormat1(t)
	db := openTest(t, dir)
	checkMigrated(t, db)
	if b, _ := filepath.Glob(filepath.Join(dir, "backup-format1-*.tar.zst")); len(b) != 1 {
		t.Errorf("backups = %v, want one", b)
	}
	// The migrated store keeps working: a new event of an old issue.
	p, _ := db.ProjectBySlug("app")
	addEvents(t, db, p.ID, "g0", 100000, 2)
}

// A migration stopped between two of its transactions (as by a crash)
// resumes at the next open and ends with the same store.
func TestMigrateFormat1Resumes(t *testing.T) {
	dir := restoreFormat1(t)
	migrateChunk = 7
	stops := 0
	migrateHook = func() error {
		stops++
		if stops%5 == 0 {
			return errors.New("simulated crash")
		}
		return nil
	}
	t.Cleanup(func() { migrateChunk, migrateHook = 1000, nil })
	for tries := 0; ; tries++ {
		db, err := Open(dir)
		if err == nil {
			migrateHook = nil
			t.Cleanup(func() { db.Close() })
			checkMigrated(t, db)
			if tries < 3 {
				t.Errorf("the migration finished after %d interruptions; the test wants several", tries)
			}
			return
		}
		if !strings.Contains(err.Error(), "simulated crash") || tries > 200 {
			t.Fatal(err)
		}
	}
}
