package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestQuarantineAddListRawDelete(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir())
	base := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	for i := range 5 {
		e := &QuarantineEntry{Project: 1 + i%2, EventID: fmt.Sprintf("%032x", i), IngestedAt: base.Add(time.Duration(i) * time.Second),
			Error: "boom " + strings.Repeat("x", i), Stack: "goroutine 1"}
		if err := db.QuarantineAdd(e, []byte(fmt.Sprintf(`{"n":%d}`, i))); err != nil {
			t.Fatal(err)
		}
		if !validQuarantineID(e.ID) {
			t.Fatalf("QuarantineAdd gave id %q, which does not validate", e.ID)
		}
	}
	got, more, err := db.Quarantined(0, 3)
	if err != nil || !more || len(got) != 3 {
		t.Fatalf("Quarantined(0, 3) = %d entries, more %v, %v; want 3, true", len(got), more, err)
	}
	if got[0].EventID != fmt.Sprintf("%032x", 4) || got[0].Project != 1 || got[0].Error != "boom xxxx" || got[0].Size != 7 {
		t.Errorf("newest entry = %+v", got[0])
	}
	rest, more, err := db.Quarantined(3, 3)
	if err != nil || more || len(rest) != 2 || rest[1].EventID != fmt.Sprintf("%032x", 0) {
		t.Fatalf("Quarantined(3, 3) = %+v, more %v, %v", rest, more, err)
	}
	rc, n, err := db.QuarantinedRaw(got[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != `{"n":4}` || n != 7 {
		t.Errorf("raw = %q (%d bytes)", b, n)
	}
	fi, err := os.Stat(filepath.Join(db.Dir(), "quarantine", got[0].ID+".raw"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("raw file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if err := db.QuarantineDelete(got[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := db.QuarantineDelete(got[0].ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	if _, _, err := db.QuarantinedRaw(got[0].ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("raw of a deleted entry: %v, want ErrNotFound", err)
	}
	if n, _ := db.QuarantineCount(); n != 4 {
		t.Errorf("count = %d, want 4", n)
	}
	for _, id := range []string{"", "../store.db", "0000000000000000001-1-../../x", got[1].ID + "/", "x-1-none"} {
		if _, _, err := db.QuarantinedRaw(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("QuarantinedRaw(%q) = %v, want ErrNotFound", id, err)
		}
	}
}

func TestQuarantineIsBounded(t *testing.T) {
	db := openTest(t, t.TempDir())
	defer func(n int, b int64) { quarantineMaxEntries, quarantineMaxBytes = n, b }(quarantineMaxEntries, quarantineMaxBytes)
	quarantineMaxEntries, quarantineMaxBytes = 4, 1000
	base := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	add := func(i, size int) {
		t.Helper()
		e := &QuarantineEntry{Project: 1, EventID: fmt.Sprintf("%032x", i), IngestedAt: base.Add(time.Duration(i) * time.Second)}
		if err := db.QuarantineAdd(e, make([]byte, size)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 6 {
		add(i, 10)
	}
	// A leftover of a crash between the two files goes too.
	os.WriteFile(filepath.Join(db.Dir(), "quarantine", "0000000000000000001-1-none.raw"), []byte("x"), 0o600)
	add(6, 10)
	got, _, _ := db.Quarantined(0, 100)
	if len(got) != 4 || got[0].EventID != fmt.Sprintf("%032x", 6) || got[3].EventID != fmt.Sprintf("%032x", 3) {
		t.Fatalf("after 7 additions with a bound of 4: %d entries, %+v", len(got), got)
	}
	add(7, 900) // 900 + 10 + 10 + 10 ≤ 1000, the next one is over
	if got, _, _ := db.Quarantined(0, 100); len(got) != 4 {
		t.Errorf("under the byte bound: %d entries, want 4", len(got))
	}
	add(8, 900)
	if got, _, _ := db.Quarantined(0, 100); len(got) != 1 || got[0].EventID != fmt.Sprintf("%032x", 8) {
		t.Errorf("over the byte bound: %+v, want only the newest", got)
	}
	des, _ := os.ReadDir(filepath.Join(db.Dir(), "quarantine"))
	if len(des) != 2 {
		t.Errorf("directory holds %d files, want 2", len(des))
	}
}
