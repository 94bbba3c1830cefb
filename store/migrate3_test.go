package store

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// A format-2 directory (bodies as zstd frames) opens with this build: a
// backup first, then format 3, the old bodies read as they are, and the
// next events stored as S2 beside them in the same log, both kinds read
// back.
func TestMigrateFormat2(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := db.CreateProject("app")
	if err != nil {
		t.Fatal(err)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	bodies := map[[16]byte][]byte{}
	add := func(from int, old bool) {
		err := db.Digest(func(tx *Tx) error {
			pr, err := tx.Project(p.ID)
			if err != nil {
				return err
			}
			iss, err := tx.IssueForGrouping(p.ID, "g")
			if err != nil {
				iss = &Issue{CalculatedType: "E"}
				if err := tx.CreateIssue(pr, iss, "g", "g", "test"); err != nil {
					return err
				}
			}
			for i := from; i < from+5; i++ {
				id := eventID(i)
				body := fmt.Appendf(nil, `{"event_id":"%x","n":%d}`, id, i)
				bodies[id] = body
				stored := CompressBody(body)
				if old {
					stored = enc.EncodeAll(body, nil)
				}
				iss.DigestedEventCount++
				if err := tx.AddEvent(pr, iss, &NewEvent{EventID: id, Ingested: time.Unix(int64(i), 0), Compressed: stored}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	add(0, true)
	setFormat(t, db, 2)
	db.Close()

	db = openTest(t, dir)
	if got := formatOf(t, db); got != strconv.Itoa(formatVersion) || formatVersion != 3 {
		t.Fatalf("format %q after opening, this build's is %d", got, formatVersion)
	}
	if b, _ := filepath.Glob(filepath.Join(dir, "backup-format2-*.tar.zst")); len(b) != 1 {
		t.Errorf("backups = %v, want one", b)
	}
	add(100, false)
	for id, want := range bodies {
		_, got, err := db.Event(id)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("event %x: %q, %v", id, got, err)
		}
	}
}
