package store

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// fillAndEvict digests n events over three issues and evicts all but keep
// of them.
func fillAndEvict(t *testing.T, db *DB, pid, n, keep int) {
	t.Helper()
	for i := 0; i < n; i += 1000 {
		for _, k := range []string{"a", "b", "c"} {
			addEvents(t, db, pid, k, i+map[string]int{"a": 0, "b": 400, "c": 800}[k], map[string]int{"a": 400, "b": 400, "c": 200}[k])
		}
	}
	if _, err := db.EvictProject(pid, n-keep); err != nil {
		t.Fatal(err)
	}
}

func checkProject(t *testing.T, db *DB, pid int, want int64) {
	t.Helper()
	p, _ := db.Project(pid)
	if p.StoredEventCount != want {
		t.Errorf("stored %d, want %d", p.StoredEventCount, want)
	}
	var total int64
	for _, ref := range []string{"P-1", "P-2", "P-3"} {
		total += checkChain(t, db, ref)
	}
	if total != want {
		t.Errorf("chains hold %d events, want %d", total, want)
	}
}

// checkChain checks that the chain of issue ref holds its stored count of
// events, each with a body, and returns how many it holds.
func checkChain(t *testing.T, db *DB, ref string) int64 {
	t.Helper()
	iss, err := db.IssueByRef(ref)
	if err != nil {
		t.Fatal(err)
	}
	ids := chainIDs(t, db, iss) // also reads every body
	if int64(len(ids)) != iss.StoredEventCount {
		t.Errorf("%s: chain %d, count %d", ref, len(ids), iss.StoredEventCount)
	}
	for _, id := range ids {
		if _, body, err := db.Event(hexID(t, id)); err != nil || len(body) == 0 {
			t.Fatalf("event %s: %v", id, err)
		}
	}
	return int64(len(ids))
}

// checkCompacted checks that project pid's log holds n records, that it
// stores n events, and that issue ref's chain holds all of them.
func checkCompacted(t *testing.T, db *DB, pid int, n int, ref string) {
	t.Helper()
	if pr, _ := db.Project(pid); pr.LogLen != uint32(n) || pr.StoredEventCount != int64(n) {
		t.Fatalf("want a compacted log of %d records: log of %d records, %d stored", n, pr.LogLen, pr.StoredEventCount)
	}
	if k := checkChain(t, db, ref); k != int64(n) {
		t.Fatalf("%s's chain holds %d events, want %d", ref, k, n)
	}
}

func TestCompactionAfterEviction(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := openTest(t, dir)
	p, _ := db.CreateProject("p")
	fillAndEvict(t, db, p.ID, 10000, 3000)
	pr, _ := db.Project(p.ID)
	if pr.LogLen != 3000 || pr.SegFirst != 1 || pr.LogNext {
		t.Fatalf("not compacted: %+v", pr)
	}
	pdir := filepath.Join(dir, "events", fmt.Sprint(p.ID))
	if st, _ := os.Stat(filepath.Join(pdir, "log")); st.Size() != 3000*recSize {
		t.Errorf("log is %d bytes", st.Size())
	}
	if _, err := os.Stat(filepath.Join(pdir, "seg-0")); !os.IsNotExist(err) {
		t.Errorf("old segment kept: %v", err)
	}
	checkProject(t, db, p.ID, 3000)
	// Digest goes on after a compaction, duplicates are still known, and
	// everything survives a reopen.
	addEvents(t, db, p.ID, "a", 20000, 50)
	addEvents(t, db, p.ID, "a", 20000, 50)
	checkProject(t, db, p.ID, 3050)
	db.Close()
	db2 := openTest(t, dir)
	checkProject(t, db2, p.ID, 3050)
}

func TestCompactionCrashes(t *testing.T) {
	t.Parallel()
	for _, stage := range []string{"written", "committed"} {
		t.Run(stage, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			db := openTest(t, dir)
			p, _ := db.CreateProject("p")
			crash := errors.New("crash")
			db.compactCrash = func(s string) error {
				if s == stage {
					return crash
				}
				return nil
			}
			for i := 0; i < 10000; i += 1000 {
				for _, k := range []string{"a", "b", "c"} {
					addEvents(t, db, p.ID, k, i+map[string]int{"a": 0, "b": 400, "c": 800}[k], map[string]int{"a": 400, "b": 400, "c": 200}[k])
				}
			}
			if _, err := db.EvictProject(p.ID, 7000); !errors.Is(err, crash) {
				t.Fatalf("EvictProject = %v, want the crash", err)
			}
			db.compactCrash = nil
			db.Close()
			db2 := openTest(t, dir)
			pr, _ := db2.Project(p.ID)
			wantLen := uint32(10000)
			if stage == "committed" {
				wantLen = 3000
			}
			if pr.LogLen != wantLen || pr.LogNext {
				t.Errorf("after the crash: %+v", pr)
			}
			pdir := filepath.Join(dir, "events", fmt.Sprint(p.ID))
			if _, err := os.Stat(filepath.Join(pdir, "log.new")); !os.IsNotExist(err) {
				t.Errorf("log.new left: %v", err)
			}
			checkProject(t, db2, p.ID, 3000)
			addEvents(t, db2, p.ID, "b", 50000, 10)
			checkProject(t, db2, p.ID, 3010)
		})
	}
}

// Deleting an issue compacts the project's files when that leaves enough
// of them dead, and only then.
func TestCompactionAfterDeleteIssue(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir())
	p, _ := db.CreateProject("p")
	addEvents(t, db, p.ID, "a", 0, 6000)
	addEvents(t, db, p.ID, "b", 6000, 2000)
	addEvents(t, db, p.ID, "c", 8000, 10)
	c, _ := db.IssueByRef("P-3")
	if err := db.DeleteIssue(c.ID); err != nil {
		t.Fatal(err)
	}
	if pr, _ := db.Project(p.ID); pr.LogLen != 8010 {
		t.Fatalf("10 dead records compacted: log of %d records", pr.LogLen)
	}
	a, _ := db.IssueByRef("P-1")
	if err := db.DeleteIssue(a.ID); err != nil {
		t.Fatal(err)
	}
	// 6,010 of 8,010 died.
	checkCompacted(t, db, p.ID, 2000, "P-2")
}

// TestCompactionCopiesBodies compacts a log whose bodies span several
// segments, into segments small enough that the copy starts new ones
// mid-run: every kept event still has its own body.
func TestCompactionCopiesBodies(t *testing.T) {
	defer func(old uint32) { segmentMax = old }(segmentMax)
	segmentMax = 32 << 10
	dir := t.TempDir()
	db := openTest(t, dir)
	p, _ := db.CreateProject("p")
	fillAndEvict(t, db, p.ID, 8000, 2000)
	pr, _ := db.Project(p.ID)
	if pr.LogLen != 2000 || pr.SegFirst == 0 {
		t.Fatalf("not compacted: %+v", pr)
	}
	if segs, _ := filepath.Glob(filepath.Join(dir, "events", fmt.Sprint(p.ID), "seg-*")); len(segs) < 3 {
		t.Fatalf("compaction wrote %d segments, want several", len(segs))
	}
	check := func(db *DB) {
		t.Helper()
		n := 0
		for i := 0; i < 8000; i++ {
			id := eventID(i)
			_, body, err := db.Event(id)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if want := fmt.Sprintf(`{"event_id":"%x","n":%d}`, id, i); err != nil || string(body) != want {
				t.Fatalf("event %d: body %q, %v; want %q", i, body, err, want)
			}
			n++
		}
		if n != 2000 {
			t.Errorf("%d events kept, want 2000", n)
		}
	}
	check(db)
	db.Close()
	check(openTest(t, dir))
}

// interleaved digests n events alternating between issues "a" and "b", each
// with a body of about size incompressible bytes, and deletes issue "b":
// every other body dies, each between two live ones.
func interleaved(t *testing.T, db *DB, pid, n, size int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, uint64(size)))
	addEventsWith(t, db, pid, 0, n, func(i int) string { return "ab"[i%2 : i%2+1] }, func(i int) []byte {
		raw := make([]byte, size*3/4)
		for k := range raw {
			raw[k] = byte(rng.Uint32())
		}
		return fmt.Appendf(nil, `{"n":%d,"pad":%q}`, i, base64.StdEncoding.EncodeToString(raw))
	})
	b, err := db.IssueByRef("P-2")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteIssue(b.ID); err != nil {
		t.Fatal(err)
	}
}

// segmentUse returns the disk space and the live bodies' bytes of project
// pid.
func segmentUse(t *testing.T, db *DB, pid int) (disk, live int64) {
	t.Helper()
	el := db.eventLog(pid)
	el.mu.RLock()
	defer el.mu.RUnlock()
	disk, err := el.segmentDisk()
	if err != nil {
		t.Fatal(err)
	}
	err = el.scanLive(func(_ uint32, r *record) { live += int64(r.Len) })
	if err != nil {
		t.Fatal(err)
	}
	return disk, live
}

// Bodies of several blocks give their space back when they die, so half of
// a log's records dying is not a reason to copy the other half.
func TestNoCompactionWhenHolesFreedTheSpace(t *testing.T) {
	defer func(old int) { compactMinDead = old }(compactMinDead)
	compactMinDead = 100
	db := openTest(t, t.TempDir())
	p, _ := db.CreateProject("p")
	interleaved(t, db, p.ID, 600, 24<<10)
	disk, live := segmentUse(t, db, p.ID)
	if 2*disk >= 3*live {
		t.Skipf("the file system gave back no space: %d bytes on disk for %d live", disk, live)
	}
	pr, _ := db.Project(p.ID)
	if pr.LogLen != 600 || pr.StoredEventCount != 300 {
		t.Fatalf("compacted although the segments take %d bytes for %d live: log of %d records, %d stored", disk, live, pr.LogLen, pr.StoredEventCount)
	}
	// The log rule still holds: once twice as many records are dead as
	// live, the log is compacted whatever the disk use.
	if _, err := db.EvictProject(p.ID, 201); err != nil {
		t.Fatal(err)
	}
	checkCompacted(t, db, p.ID, 99, "P-1") // 501 of 600 records dead
}

// Bodies smaller than a block free nothing when they die between live
// ones: once the segments take half again as much disk as the live bodies,
// they are cleaned (clean.go), although the log is only half dead: the
// space comes back, and the log keeps its records.
func TestCompactionReclaimsUnpunchedSpace(t *testing.T) {
	defer func(old int) { compactMinDead = old }(compactMinDead)
	compactMinDead = 100
	dir := t.TempDir()
	db := openTest(t, dir)
	p, _ := db.CreateProject("p")
	interleaved(t, db, p.ID, 600, 400)
	check := func(db *DB) {
		t.Helper()
		if pr, _ := db.Project(p.ID); pr.LogLen != 600 || pr.StoredEventCount != 300 || pr.SegFirst != 0 {
			t.Fatalf("log of %d records, %d stored, first segment %d: want 600, 300, 0", pr.LogLen, pr.StoredEventCount, pr.SegFirst)
		}
		if k := checkChain(t, db, "P-1"); k != 300 {
			t.Fatalf("P-1's chain holds %d events, want 300", k)
		}
		if disk, live := segmentUse(t, db, p.ID); 5*disk >= 7*live+5*4096 {
			t.Errorf("after cleaning the segments take %d bytes for %d live", disk, live)
		}
	}
	check(db)
	db.Close()
	check(openTest(t, dir))
}

// A log two-thirds dead whose segments waste little is compacted in
// place: only the log is rewritten, the bodies stay where they are, and a
// crash at either stage leaves the project whole.
func TestCompactionInPlace(t *testing.T) {
	for _, stage := range []string{"", "written", "committed"} {
		t.Run("crash="+stage, func(t *testing.T) {
			defer func(old int) { compactMinDead = old }(compactMinDead)
			compactMinDead = 100
			dir := t.TempDir()
			db := openTest(t, dir)
			p, _ := db.CreateProject("p")
			interleaved(t, db, p.ID, 600, 24<<10) // P-2's 300 bodies punched out
			if used, live := segmentUse(t, db, p.ID); 2*used >= 3*live {
				t.Skipf("the file system gave back no space: %d bytes on disk for %d live", used, live)
			}
			pdir := filepath.Join(dir, "events", fmt.Sprint(p.ID))
			segsBefore, _ := filepath.Glob(filepath.Join(pdir, "seg-*"))
			crash := errors.New("crash")
			db.compactCrash = func(s string) error {
				if s == stage {
					return crash
				}
				return nil
			}
			// 201 more die: 501 of 600 records dead, twice the live ones.
			if _, err := db.EvictProject(p.ID, 201); stage != "" && !errors.Is(err, crash) || stage == "" && err != nil {
				t.Fatalf("EvictProject = %v", err)
			}
			if stage != "" {
				db.compactCrash = nil
				db.Close()
				db = openTest(t, dir)
			}
			pr, _ := db.Project(p.ID)
			wantLen := uint32(99)
			if stage == "written" {
				wantLen = 600 // not committed: the old log stays
			}
			if pr.LogLen != wantLen || pr.StoredEventCount != 99 || pr.SegFirst != 0 || pr.LogNext {
				t.Fatalf("log of %d records (want %d), %d stored, first segment %d, log.new pending %v", pr.LogLen, wantLen, pr.StoredEventCount, pr.SegFirst, pr.LogNext)
			}
			if segs, _ := filepath.Glob(filepath.Join(pdir, "seg-*")); !slices.Equal(segs, segsBefore) {
				t.Errorf("segments %v, before %v: bodies were copied", segs, segsBefore)
			}
			check := func(db *DB, chain int64) {
				t.Helper()
				kept := 0
				for i := 0; i < 600; i++ {
					_, body, err := db.Event(eventID(i))
					if errors.Is(err, ErrNotFound) {
						continue
					}
					if err != nil || !strings.HasPrefix(string(body), fmt.Sprintf(`{"n":%d,`, i)) {
						t.Fatalf("event %d: %.20q, %v", i, body, err)
					}
					kept++
				}
				if kept != 99 {
					t.Errorf("%d events found, want 99", kept)
				}
				if n := checkChain(t, db, "P-1"); n != chain {
					t.Errorf("P-1's chain holds %d events, want %d", n, chain)
				}
			}
			check(db, 99)
			// New events go on after the kept ones and everything survives
			// a reopen.
			addEvents(t, db, p.ID, "a", 1000, 10)
			db.Close()
			check(openTest(t, dir), 109)
		})
	}
}

// TestCompactionClearsStaleChainEnds checks that a compaction, which reads
// only the chain ends of the issues whose events it does not move, still
// clears the ends of an issue that has no live event but claims some (as
// after a crash in the middle of a retention round): left as they were,
// they would name records of the new log that are other issues' events.
func TestCompactionClearsStaleChainEnds(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir())
	p, _ := db.CreateProject("p")
	addEvents(t, db, p.ID, "a", 0, 6000)
	addEvents(t, db, p.ID, "b", 6000, 2000)
	var stale uint32
	err := db.Digest(func(tx *Tx) error {
		pr, _ := tx.Project(p.ID)
		iss := &Issue{CalculatedType: "E"}
		if err := tx.CreateIssue(pr, iss, "stale", "stale", "test"); err != nil {
			return err
		}
		stale = iss.ID
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.update(func(tx *kvTx) error {
		var iss Issue
		if err := getJSON(tx, issueKey(stale), &iss); err != nil {
			return err
		}
		iss.FirstRec, iss.LastRec = 5, 7000
		return putIssue(tx, &iss)
	})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := db.IssueByRef("P-1")
	if err := db.DeleteIssue(a.ID); err != nil { // 6,000 of 8,000 die: compacted
		t.Fatal(err)
	}
	checkCompacted(t, db, p.ID, 2000, "P-2")
	iss, err := db.Issue(stale)
	if err != nil {
		t.Fatal(err)
	}
	if iss.FirstRec != 0 || iss.LastRec != 0 {
		t.Errorf("an issue with no live event kept chain ends %d..%d across a compaction", iss.FirstRec, iss.LastRec)
	}
}

// BenchmarkCompactionIssuePass is the pass a compaction makes over every
// issue of the project to renumber chain ends, over 20,000 issues none of
// which has a live event: decoding each issue (as before), or reading its
// chain ends with fastjson first (peekChain).
func BenchmarkCompactionIssuePass(b *testing.B) {
	db, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	p, _ := db.CreateProject("p")
	for batch := range 20 {
		err := db.Digest(func(tx *Tx) error {
			pr, _ := tx.Project(p.ID)
			for i := range 1000 {
				k := fmt.Sprint(batch*1000 + i)
				iss := &Issue{CalculatedType: "ValueError", CalculatedValue: "invalid literal for int() with base 10: " + k,
					Transaction: "/api/orders/{id}", FirstSeen: time.Unix(1e9, 0), LastSeen: time.Unix(1e9, 0), DigestedEventCount: 12}
				if err := tx.CreateIssue(pr, iss, k, k, "test"); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	ends := map[uint32][2]uint32{}
	fn := func(iss *Issue) bool {
		e := ends[iss.ID]
		return iss.FirstRec != e[0] || iss.LastRec != e[1]
	}
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			if err := db.updateIssues(p.ID, nil, fn); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("peek", func(b *testing.B) {
		need := func(id uint32, c chainFields) bool { e := ends[id]; return c != chainFields{e[0], e[1]} }
		for b.Loop() {
			if err := db.updateIssues(p.ID, need, fn); err != nil {
				b.Fatal(err)
			}
		}
	})
}
