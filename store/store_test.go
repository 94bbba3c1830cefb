package store

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func openTest(t *testing.T, dir string) *DB {
	t.Helper()
	db, err := Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func eventID(n int) [16]byte {
	var id [16]byte
	copy(id[:], fmt.Sprintf("%016d", n))
	return id
}

// addEvents digests n events of one grouping key into project p in one
// batch, the way digest does.
func addEvents(t *testing.T, db *DB, pid int, hash string, from, n int) {
	t.Helper()
	addEventsWith(t, db, pid, from, n, func(int) string { return hash }, nil)
}

// countKeys returns how many keys of db start with prefix.
func countKeys(db *DB, prefix string) int {
	n := 0
	db.view(func(tx *kvTx) error {
		tx.ascend(prefix, func(k, v string) bool { n++; return true })
		return nil
	})
	return n
}

// addEventsWith digests events from to from+n-1 into project p in one
// batch: event i in the issue of grouping key hashOf(i), with the body
// bodyOf(i) (when bodyOf is set; a short JSON object naming the event when
// not).
func addEventsWith(t *testing.T, db *DB, pid int, from, n int, hashOf func(i int) string, bodyOf func(i int) []byte) {
	t.Helper()
	err := db.Digest(func(tx *Tx) error {
		p, err := tx.Project(pid)
		if err != nil {
			return err
		}
		for i := from; i < from+n; i++ {
			id := eventID(i)
			if tx.HasEvent(pid, id) {
				continue
			}
			hash := hashOf(i)
			iss, err := tx.IssueForGrouping(pid, hash)
			if errors.Is(err, ErrNotFound) {
				iss = &Issue{CalculatedType: "E", CalculatedValue: hash, FirstSeen: time.Unix(int64(i), 0)}
				if err := tx.CreateIssue(p, iss, hash, hash, "test"); err != nil {
					return err
				}
			} else if err != nil {
				return err
			}
			iss.DigestedEventCount++
			p.DigestedEventCount++
			var body []byte
			if bodyOf != nil {
				body = bodyOf(i)
			} else {
				body = fmt.Appendf(nil, `{"event_id":"%x","n":%d}`, id, i)
			}
			if err := tx.AddEvent(p, iss, &NewEvent{EventID: id, Ingested: time.Unix(int64(i), 0), Timestamp: time.Unix(int64(i), 0), Body: body}); err != nil {
				return err
			}
			if err := tx.CountTag(iss, "server_name", fmt.Sprintf("host%d", i%3)); err != nil {
				return err
			}
		}
		return tx.SetSpoolPos(fmt.Sprint(from + n))
	})
	if err != nil {
		t.Fatalf("Digest: %v", err)
	}
}

func TestDigestStoresAndReopens(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := openTest(t, dir)
	p, err := db.CreateProject("My App")
	if err != nil {
		t.Fatal(err)
	}
	if p.Slug != "my-app" || len(p.Key) != 32 {
		t.Fatalf("project = %+v", p)
	}
	if k, ok := db.ProjectKey(p.ID); !ok || k != p.Key {
		t.Errorf("ProjectKey = %q, %v", k, ok)
	}
	addEvents(t, db, p.ID, "a", 0, 10)
	addEvents(t, db, p.ID, "b", 10, 5)
	addEvents(t, db, p.ID, "a", 5, 5) // duplicates: stores nothing
	addEvents(t, db, p.ID, "a", 15, 5)
	check := func(db *DB) {
		t.Helper()
		issues, more, err := db.Issues(IssueFilter{Project: p.ID})
		if err != nil || more || len(issues) != 2 {
			t.Fatalf("Issues = %d, %v, %v", len(issues), more, err)
		}
		a := issues[0]
		if a.StoredEventCount != 15 || a.DigestedEventCount != 15 || a.DigestOrder != 1 {
			t.Errorf("issue a = %+v", a)
		}
		page, err := db.Events(&a, false, 0, 4)
		if err != nil || len(page.Events) != 4 || page.Next == 0 {
			t.Fatalf("Events = %+v, %v", page, err)
		}
		if got, want := page.Events[0].DigestOrder, 15; got != want {
			t.Errorf("newest digest order = %d, want %d", got, want)
		}
		var all []Event
		for cur := uint32(0); ; {
			pg, err := db.Events(&a, true, cur, 4)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, pg.Events...)
			if pg.Next == 0 {
				break
			}
			cur = pg.Next
		}
		if len(all) != 15 || all[0].DigestOrder != 1 || all[14].DigestOrder != 15 {
			t.Errorf("ascending walk: %d events, first %d", len(all), all[0].DigestOrder)
		}
		ev, body, err := db.Event(hexID(t, all[3].ID))
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf(`{"event_id":"%s","n":3}`, all[3].ID); string(body) != want || ev.IssueID != a.ID {
			t.Errorf("Event body = %s, want %s", body, want)
		}
		tags, _ := db.IssueTags(a.ID)
		if len(tags) != 3 {
			t.Errorf("tags = %+v", tags)
		}
		pos, _ := db.SpoolPos()
		if pos != "20" && pos != "15" {
			t.Errorf("SpoolPos = %q", pos)
		}
		pr, _ := db.Project(p.ID)
		if pr.StoredEventCount != 20 || pr.IssueCount != 2 {
			t.Errorf("project counts = %+v", pr)
		}
		if iss, err := db.IssueByRef("MY-APP-2"); err != nil || iss.CalculatedValue != "b" {
			t.Errorf("IssueByRef = %+v, %v", iss, err)
		}
	}
	check(db)
	db.Close()
	db2 := openTest(t, dir)
	check(db2)
	// Duplicates are still known after a reopen.
	addEvents(t, db2, p.ID, "a", 0, 15)
	check(db2)
}

func TestDigestErrorWritesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := openTest(t, dir)
	p, _ := db.CreateProject("p")
	addEvents(t, db, p.ID, "a", 0, 3)
	boom := errors.New("boom")
	err := db.Digest(func(tx *Tx) error {
		pr, _ := tx.Project(p.ID)
		iss, _ := tx.IssueForGrouping(p.ID, "a")
		iss.DigestedEventCount++
		if err := tx.AddEvent(pr, iss, &NewEvent{EventID: eventID(99), Body: []byte("{}")}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Digest err = %v", err)
	}
	err = db.Digest(func(tx *Tx) error { panic("in batch") })
	if err == nil {
		t.Fatal("panic in batch: no error")
	}
	if _, _, err := db.Event(hexID(t, fmt.Sprintf("%x", eventID(99)))); !errors.Is(err, ErrNotFound) {
		t.Errorf("event of a failed batch is visible: %v", err)
	}
	iss, _ := db.IssueByRef("P-1")
	if iss.StoredEventCount != 3 || iss.DigestedEventCount != 3 {
		t.Errorf("issue after failed batch = %+v", iss)
	}
	addEvents(t, db, p.ID, "a", 3, 2)
	iss, _ = db.IssueByRef("P-1")
	if iss.StoredEventCount != 5 {
		t.Errorf("stored = %d, want 5", iss.StoredEventCount)
	}
}

// A crash after the files were written but before buntdb committed leaves
// bytes past the committed extents; Open cuts them off.
func TestOpenCutsUncommittedTail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := openTest(t, dir)
	p, _ := db.CreateProject("p")
	addEvents(t, db, p.ID, "a", 0, 4)
	db.Close()
	pdir := filepath.Join(dir, "events", fmt.Sprint(p.ID))
	for _, name := range []string{"log", "seg-0"} {
		f, err := os.OpenFile(filepath.Join(pdir, name), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(make([]byte, 123))
		f.Close()
	}
	os.WriteFile(filepath.Join(pdir, "seg-1"), []byte("junk"), 0o640)
	db2 := openTest(t, dir)
	st, _ := os.Stat(filepath.Join(pdir, "log"))
	if st.Size() != 4*recSize {
		t.Errorf("log size = %d, want %d", st.Size(), 4*recSize)
	}
	if _, err := os.Stat(filepath.Join(pdir, "seg-1")); !os.IsNotExist(err) {
		t.Errorf("uncommitted segment kept: %v", err)
	}
	addEvents(t, db2, p.ID, "a", 4, 2)
	iss, _ := db2.IssueByRef("P-1")
	page, _ := db2.Events(iss, false, 0, 0)
	if len(page.Events) != 6 {
		t.Fatalf("events = %d, want 6", len(page.Events))
	}
	for _, ev := range page.Events {
		if _, err := db2.EventBody(&ev); err != nil {
			t.Errorf("body of %s: %v", ev.ID, err)
		}
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	openTest(t, dir)
	if _, err := Open(dir); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open err = %v, want ErrLocked", err)
	}
}

func TestRepairDamagedTail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := openTest(t, dir)
	p, _ := db.CreateProject("p")
	db.Close()
	f, _ := os.OpenFile(filepath.Join(dir, "store.db"), os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("*3\r\n$3\r\nset\r\n$2\r\nxx") // torn command
	f.WriteString("garbage\r\n")
	f.Close()
	db2 := openTest(t, dir)
	if got, err := db2.Project(p.ID); err != nil || got.Name != "p" {
		t.Fatalf("after repair: %+v, %v", got, err)
	}
}

// hexID decodes an event id the tests hold as 32 hex digits.
func hexID(t testing.TB, s string) [16]byte {
	t.Helper()
	var id [16]byte
	if n, err := hex.Decode(id[:], []byte(s)); err != nil || n != 16 {
		t.Fatalf("event id %q: %v", s, err)
	}
	return id
}
