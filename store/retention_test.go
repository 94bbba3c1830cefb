package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/tidwall/buntdb"
)

func TestAgeBand(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		hours int
		want  int
	}{{0, 0}, {1, 1}, {3, 1}, {4, 2}, {15, 2}, {16, 3}, {63, 3}, {64, 4}, {255, 4}, {256, 5}, {1023, 5}, {1024, 6}} {
		ms := now.Add(-time.Duration(tt.hours) * time.Hour).UnixMilli()
		if got := ageBand(ms, now); got != tt.want {
			t.Errorf("ageBand(%dh) = %d, want %d", tt.hours, got, tt.want)
		}
	}
}

func TestEvictTarget(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		stored int64
		max    int
		want   int
	}{{100, 1000, 0}, {1001, 1000, 50}, {1100, 1000, 100}, {10, 0, 0}} {
		if got := EvictTarget(tt.stored, tt.max); got != tt.want {
			t.Errorf("EvictTarget(%d, %d) = %d, want %d", tt.stored, tt.max, got, tt.want)
		}
	}
}

// eventIDs walks an issue's chain.
func chainIDs(t *testing.T, db *DB, iss *Issue) []string {
	t.Helper()
	page, err := db.Events(iss, true, 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range page.Events {
		if _, err := db.EventBody(&e); err != nil {
			t.Errorf("body of %s: %v", e.ID, err)
		}
		ids = append(ids, e.ID)
	}
	return ids
}

func TestEvictKeepsFirstEventsAndRareIssues(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := openTest(t, dir)
	p, _ := db.CreateProject("p")
	addEvents(t, db, p.ID, "frequent", 0, 900)
	addEvents(t, db, p.ID, "rare", 900, 20)
	addEvents(t, db, p.ID, "frequent", 920, 100)
	n, err := db.EvictProject(p.ID, 500)
	if err != nil || n != 500 {
		t.Fatalf("EvictProject = %d, %v", n, err)
	}
	freq, _ := db.IssueByRef("P-1")
	rare, _ := db.IssueByRef("P-2")
	if freq.StoredEventCount+rare.StoredEventCount != 520 {
		t.Errorf("stored %d + %d, want 520", freq.StoredEventCount, rare.StoredEventCount)
	}
	// Rare issues keep proportionally more.
	if float64(rare.StoredEventCount)/20 <= float64(freq.StoredEventCount)/1000 {
		t.Errorf("rare kept %d/20, frequent kept %d/1000", rare.StoredEventCount, freq.StoredEventCount)
	}
	// The first event of each issue survives, the chains are intact, the
	// counts match the chains.
	for _, iss := range []*Issue{freq, rare} {
		ids := chainIDs(t, db, iss)
		if int64(len(ids)) != iss.StoredEventCount {
			t.Errorf("%s: chain has %d, count says %d", iss.CalculatedValue, len(ids), iss.StoredEventCount)
		}
	}
	first := fmt.Sprintf("%x", eventID(0))
	if _, _, err := db.Event(hexID(t, first)); err != nil {
		t.Errorf("first event of the frequent issue was evicted: %v", err)
	}
	pr, _ := db.Project(p.ID)
	if pr.StoredEventCount != 520 {
		t.Errorf("project stored = %d", pr.StoredEventCount)
	}
	// Evicted ids are gone and may be stored again.
	db.Close()
	db2 := openTest(t, dir)
	freq2, _ := db2.IssueByRef("P-1")
	if got := chainIDs(t, db2, freq2); int64(len(got)) != freq2.StoredEventCount {
		t.Errorf("after reopen: chain %d, count %d", len(got), freq2.StoredEventCount)
	}
}

func TestEvictOlderThanAndDropSegments(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := openTest(t, dir)
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	p, _ := db.CreateProject("p")
	addEvents(t, db, p.ID, "a", 0, 10)
	now = now.Add(48 * time.Hour)
	addEvents(t, db, p.ID, "a", 10, 5)
	n, err := db.EvictOlderThan(p.ID, now.Add(-24*time.Hour))
	if err != nil || n != 10 {
		t.Fatalf("EvictOlderThan = %d, %v", n, err)
	}
	iss, _ := db.IssueByRef("P-1")
	if ids := chainIDs(t, db, iss); len(ids) != 5 || iss.StoredEventCount != 5 {
		t.Errorf("left %d events (count %d), want 5", len(ids), iss.StoredEventCount)
	}
	if _, err := os.Stat(filepath.Join(dir, "events", fmt.Sprint(p.ID), "seg-0")); err != nil {
		t.Errorf("current segment removed: %v", err)
	}
}

func TestDeleteIssue(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir())
	p, _ := db.CreateProject("p")
	addEvents(t, db, p.ID, "a", 0, 5)
	addEvents(t, db, p.ID, "b", 5, 3)
	a, _ := db.IssueByRef("P-1")
	if err := db.DeleteIssue(a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Issue(a.ID); err != ErrNotFound {
		t.Errorf("issue still there: %v", err)
	}
	if tags, _ := db.IssueTags(a.ID); len(tags) != 0 {
		t.Errorf("tags left: %v", tags)
	}
	pr, _ := db.Project(p.ID)
	if pr.StoredEventCount != 3 {
		t.Errorf("project stored = %d, want 3", pr.StoredEventCount)
	}
	// A new event with the deleted issue's key opens a new issue.
	addEvents(t, db, p.ID, "a", 100, 1)
	issues, _, _ := db.Issues(IssueFilter{Project: p.ID})
	if len(issues) != 2 || issues[1].DigestOrder != 3 || issues[1].StoredEventCount != 1 {
		t.Errorf("issues after delete = %+v", issues)
	}
}

// BenchmarkEvictRound100k measures one retention round over a project
// holding 100,000 events, evicting 5% of them.
func BenchmarkEvictRound100k(b *testing.B) {
	db, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	p, _ := db.CreateProject("p")
	next := 0
	fill := func(n int) {
		for n > 0 {
			k := min(n, 2000)
			digestBatch(b, db, p.ID, next, k, 50, []byte("body"), false)
			next += k
			n -= k
		}
	}
	fill(100000)
	b.ResetTimer()
	for b.Loop() {
		n, err := db.EvictProject(p.ID, 5000)
		if err != nil || n != 5000 {
			b.Fatalf("EvictProject = %d, %v", n, err)
		}
		b.StopTimer()
		fill(5000)
		b.StartTimer()
	}
}

// A crash after the log marked events deleted but before the counts were
// lowered: Open recomputes the counts from the log.
func TestOpenReconcilesCounts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := openTest(t, dir)
	p, _ := db.CreateProject("p")
	addEvents(t, db, p.ID, "a", 0, 6)
	addEvents(t, db, p.ID, "b", 6, 2)
	el := db.eventLog(p.ID)
	var flag [4]byte
	binary.LittleEndian.PutUint32(flag[:], flagDeleted)
	if _, err := el.log.WriteAt(flag[:], 2*recSize+recFlags); err != nil { // the third event, behind the store's back
		t.Fatal(err)
	}
	db.Close()
	forgetClean(t, dir) // as after a crash
	db2 := openTest(t, dir)
	iss, err := db2.IssueByRef("P-1")
	if err != nil {
		t.Fatal(err)
	}
	pr, _ := db2.Project(p.ID)
	if iss.StoredEventCount != 5 || pr.StoredEventCount != 7 {
		t.Errorf("after reopen: issue %d (want 5), project %d (want 7)", iss.StoredEventCount, pr.StoredEventCount)
	}
	if ids := chainIDs(t, db2, iss); len(ids) != 5 {
		t.Errorf("chain has %d events", len(ids))
	}
}

// Evicted bodies give their disk space back (holes punched in the
// segment): before EvictProject returns; once the puncher has run for the
// digest's rounds (EvictProjectFreeLater), or at once when its queue is
// full. The events left survive a reopen.
func TestEvictionReclaimsDisk(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"now", "later", "later, queue full"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			db, dir, pid, seg := noiseProject(t, 2000, 8192)
			before := diskBytes(t, seg)
			evict := db.EvictProject
			if mode != "now" {
				evict = db.EvictProjectFreeLater
			}
			if mode == "later, queue full" {
				db.punch.limit = -1 // no room for even one hole
			}
			if n, err := evict(pid, 1500); err != nil || n != 1500 {
				t.Fatalf("evict = %d, %v", n, err)
			}
			if mode == "later" {
				db.punch.wait()
			}
			after := diskBytes(t, seg)
			t.Logf("segment on disk: %d -> %d bytes", before, after)
			if mode != "now" {
				// The digest's rounds leave gaps under laterMinHole (most
				// of the one to four random bodies between the survivors
				// here) to compaction, which gives them back.
				if after >= before {
					t.Errorf("segment uses %d bytes on disk after evicting 75%% of its events, as many as before", after)
				}
				if ok, err := db.compactForSpace(pid, 1); err != nil || !ok {
					t.Fatalf("compactForSpace = %v, %v", ok, err)
				}
				after, _ = segmentUse(t, db, pid)
				t.Logf("segments on disk after compaction: %d bytes", after)
			}
			if after > before/2 {
				t.Errorf("segment uses %d bytes on disk after evicting 75%% of its events, %d before", after, before)
			}
			db.Close()
			if n := checkChain(t, openTest(t, dir), "P-1"); n != 500 {
				t.Errorf("%d events left after a reopen, want 500", n)
			}
		})
	}
}

// TestEvictionPunchesWholeBlocks evicts small bodies in two rounds: a
// lone body between two live ones frees no whole block, so nothing is
// punched for it, but once its neighbours go too, their gaps together are
// punched, old ones included. The same holds for holes punched at once
// and for holes left to the puncher.
func TestEvictionPunchesWholeBlocks(t *testing.T) {
	t.Parallel()
	for _, later := range []bool{false, true} {
		t.Run(fmt.Sprintf("later=%v", later), func(t *testing.T) {
			t.Parallel()
			const n = 1000
			db, _, pid, seg := noiseProject(t, n, 2500)
			before := diskBytes(t, seg)
			evict := func(keep func(n uint32) bool) {
				t.Helper()
				removeWhere(t, db, pid, later, func(c *candidate) bool { return !keep(c.n) })
				if u := db.eventLog(pid).unpunched.Load(); u != 0 {
					t.Errorf("%d bytes still counted as queued once the puncher stopped", u)
				}
			}
			// Every other event: each gap is one body, less than a block.
			evict(func(k uint32) bool { return k%2 == 1 })
			if mid := diskBytes(t, seg); mid < before-before/10 {
				t.Errorf("lone small gaps freed %d of %d bytes; punching them frees no whole block", before-mid, before)
			}
			// Then the odd ones of the first half: whole blocks are free now.
			evict(func(k uint32) bool { return k >= n/2 })
			after := diskBytes(t, seg)
			if want := before / 2; after > want+want/5 {
				t.Errorf("segment uses %d bytes on disk with its first half evicted, %d before", after, before)
			}
			t.Logf("segment on disk: %d -> %d bytes", before, after)
		})
	}
}

// A hole covers only the whole blocks of its gap: the bytes of a dead
// body in the blocks it shares with live ones are left as they are (and
// their pages clean), the blocks between read as zeros.
func TestHolesCoverWholeBlocksOnly(t *testing.T) {
	t.Parallel()
	db, _, pid, seg := noiseProject(t, 40, 2500)
	before, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	// Records 10 to 19 die: the gap runs from the end of body 9 to the
	// start of body 20.
	var from, to int64
	removeWhere(t, db, pid, false, func(c *candidate) bool {
		switch c.n {
		case 9:
			from = int64(c.r.Off) + int64(c.r.Len)
		case 20:
			to = int64(c.r.Off)
		}
		return c.n > 9 && c.n < 20
	})
	start, end := wholeBlocks(from, to)
	if start == from || end == to || end-start < 2*punchBlock {
		t.Fatalf("gap [%d, %d) does not have partial blocks at both ends and whole ones between", from, to)
	}
	after, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after[:start], before[:start]) || !bytes.Equal(after[end:], before[end:]) {
		t.Error("bytes outside the gap's whole blocks changed")
	}
	if !bytes.Equal(after[start:end], make([]byte, end-start)) {
		t.Errorf("the gap's whole blocks [%d, %d) were not punched", start, end)
	}
	if used := diskBytes(t, seg); used > int64(len(before))-(end-start)+punchBlock {
		t.Errorf("segment uses %d bytes on disk, %d before, with %d bytes of whole blocks dead", used, len(before), end-start)
	}
}

// Space that queued holes will give back is not waste: it does not make a
// project due for compaction.
func TestCompactDueIgnoresQueuedHoles(t *testing.T) {
	defer func(old int) { compactMinDead = old }(compactMinDead)
	compactMinDead = 10
	db := openTest(t, t.TempDir())
	p, _ := db.CreateProject("p")
	addNoiseEvents(t, db, p.ID, 100, 8192)
	el := db.eventLog(p.ID)
	used, live := segmentUse(t, db, p.ID)
	// As if half the records were dead and their bodies still on disk.
	if due, _ := el.compactDue(50, live/2); !due {
		t.Fatalf("%d bytes on disk for %d live: not due", used, live/2)
	}
	el.unpunched.Add(used / 2)
	defer el.unpunched.Add(-used / 2)
	if due, _ := el.compactDue(50, live/2); due {
		t.Errorf("due although %d of the %d bytes on disk are queued holes", used/2, used)
	}
}

// addNoiseEvents stores n events of one new issue in project pid, with
// bodies of size poorly compressible bytes.
func addNoiseEvents(t *testing.T, db *DB, pid, n, size int) {
	t.Helper()
	err := db.Digest(func(tx *Tx) error {
		pr, _ := tx.Project(pid)
		iss := &Issue{}
		if err := tx.CreateIssue(pr, iss, "h", "h", "test"); err != nil {
			return err
		}
		for i := range n {
			body := make([]byte, size)
			for j := range body {
				body[j] = byte((i*7919 + j*104729) >> 3) // poorly compressible
			}
			iss.DigestedEventCount++
			if err := tx.AddEvent(pr, iss, &NewEvent{EventID: eventID(i), Body: body}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// noiseProject opens a store in a new directory with one project holding
// n events of one issue (addNoiseEvents), and returns the store, its
// directory, the project and the path of its first segment.
func noiseProject(t *testing.T, n, size int) (db *DB, dir string, pid int, seg string) {
	t.Helper()
	dir = t.TempDir()
	db = openTest(t, dir)
	p, _ := db.CreateProject("p")
	addNoiseEvents(t, db, p.ID, n, size)
	return db, dir, p.ID, filepath.Join(dir, "events", fmt.Sprint(p.ID), "seg-0")
}

// removeWhere removes the live records of project pid that doomed picks
// (it sees every live record, in log order), as a retention round does
// (with later, one of the digest's), and waits for the puncher.
func removeWhere(t *testing.T, db *DB, pid int, later bool, doomed func(c *candidate) bool) {
	t.Helper()
	_, err := db.removeEvents(pid, later, func(cands []candidate) []uint32 {
		var out []uint32
		for i := range cands {
			if doomed(&cands[i]) {
				out = append(out, cands[i].n)
			}
		}
		return out
	})
	if err != nil {
		t.Fatal(err)
	}
	db.punch.wait()
}

func diskBytes(t *testing.T, path string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

// forgetClean removes the mark a clean Close leaves, as if the process had
// died instead.
func forgetClean(t *testing.T, dir string) {
	t.Helper()
	kv, err := buntdb.Open(filepath.Join(dir, "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	if err := kv.Update(func(tx *buntdb.Tx) error { _, err := tx.Delete(keyClean); return err }); err != nil {
		t.Fatal(err)
	}
}

// After a clean stop Open trusts the stored counts and does not count the
// issues' events again; after an unclean one it does.
func TestOpenTrustsCleanStop(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := openTest(t, dir)
	p, _ := db.CreateProject("p")
	addEvents(t, db, p.ID, "a", 0, 6)
	db.Close()
	db2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if el := db2.eventLog(p.ID); el.live != nil {
		t.Error("a clean open counted the log")
	}
	// The mark is gone while the store is open: a crash now is unclean.
	var v string
	db2.kv.View(func(tx *buntdb.Tx) error { v, _ = tx.Get(keyClean); return nil })
	if v != "" {
		t.Error("the clean mark survived Open")
	}
	db2.Close()
}

// pickBySort is the eviction order spelled out: never-evict last, highest
// score first, oldest first among equals.
func pickBySort(cands []candidate, target int, now time.Time) []uint32 {
	type key struct {
		n     uint32
		score int
		never bool
	}
	keys := make([]key, len(cands))
	for i, c := range cands {
		keys[i] = key{c.n, int(c.r.Irrelevance) + ageBand(c.r.Digested, now), c.r.Flags&flagNeverEvict != 0}
	}
	slices.SortFunc(keys, func(a, b key) int {
		if a.never != b.never {
			if a.never {
				return 1
			}
			return -1
		}
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return cmp.Compare(a.n, b.n)
	})
	var out []uint32
	for _, k := range keys[:min(max(target, 0), len(keys))] {
		out = append(out, k.n)
	}
	slices.Sort(out)
	return out
}

// TestPickEvictMatchesSort checks the counting selection against a sort,
// over candidates with many ties, never-evict ones, all ages and targets
// from none to more than all.
func TestPickEvictMatchesSort(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		n := rng.IntN(400)
		cands := make([]candidate, n)
		next := uint32(rng.IntN(5))
		for i := range cands {
			c := &cands[i]
			c.n = next
			next += 1 + uint32(rng.IntN(3)) // gaps: records deleted before
			c.r.Irrelevance = uint8(rng.IntN(4 + round%20))
			if round%7 == 0 {
				c.r.Irrelevance = uint8(rng.IntN(256))
			}
			age := time.Duration(rng.Int64N(int64(24 * time.Hour << (round % 12))))
			c.r.Digested = now.Add(-age).UnixMilli()
			if rng.IntN(5) == 0 {
				c.r.Flags |= flagNeverEvict
			}
		}
		for _, target := range []int{0, 1, n / 20, n / 2, n - 1, n, n + 5, rng.IntN(n + 1)} {
			got := pickEvict(cands, target, now)
			if len(got) != min(max(target, 0), n) {
				t.Fatalf("round %d target %d: picked %d", round, target, len(got))
			}
			slices.Sort(got)
			if want := pickBySort(cands, target, now); !slices.Equal(got, want) {
				t.Fatalf("round %d target %d of %d:\n got %v\nwant %v", round, target, n, got, want)
			}
		}
	}
}

// TestPatchRecords patches scattered fields of a log in windows and checks
// every byte against the same patches written one by one.
func TestPatchRecords(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const n = 3 * patchWindow
	orig := make([]byte, n*recSize)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range orig {
		orig[i] = byte(rng.Uint32())
	}
	got, err := os.Create(filepath.Join(dir, "got"))
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if _, err := got.Write(orig); err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(orig)
	var patches []recPatch
	for k := uint32(0); k < n; k += 1 + uint32(rng.IntN(40)) {
		off := []int{recFlags, recPrev}[rng.IntN(2)]
		p := recPatch{n: k, off: off, v: rng.Uint32()}
		patches = append(patches, p)
		binary.LittleEndian.PutUint32(want[int(k)*recSize+off:], p.v)
	}
	// The last record, so that a window ends at the file's end.
	patches = append(patches, recPatch{n: n - 1, off: recFlags, v: 7})
	binary.LittleEndian.PutUint32(want[(n-1)*recSize+recFlags:], 7)
	if _, err := patchRecords(got, patches, nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(got.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(b, want) {
		for i := range b {
			if b[i] != want[i] {
				t.Fatalf("byte %d (record %d): %d, want %d", i, i/recSize, b[i], want[i])
			}
		}
	}
}

// TestEvictReusesCandidateArray: the arrays the live records and the
// surviving bodies are listed in are kept from one removal to the next,
// across projects, and given up by ReleaseBuffers; what each removal
// evicts is unchanged by them.
func TestEvictReusesCandidateArray(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir())
	a, _ := db.CreateProject("a")
	b, _ := db.CreateProject("b")
	addEvents(t, db, a.ID, "a", 0, 300)
	addEvents(t, db, b.ID, "b", 300, 200)
	if n, err := db.EvictProject(a.ID, 100); err != nil || n != 100 {
		t.Fatalf("EvictProject(a) = %d, %v", n, err)
	}
	db.digestMu.Lock()
	kept, spans := db.cands, db.spans
	db.digestMu.Unlock()
	if cap(kept) < 300 || len(kept) != 0 {
		t.Fatalf("after a's round DB.cands has len %d cap %d, want 0 and at least 300", len(kept), cap(kept))
	}
	if cap(spans) < 200 {
		t.Fatalf("after a's round DB.spans has cap %d, want at least the 200 survivors", cap(spans))
	}
	// An issue's deletion lists its project's records in the same array.
	bi, err := db.IssueByRef("B-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteIssue(bi.ID); err != nil {
		t.Fatal(err)
	}
	if pb, _ := db.Project(b.ID); pb.StoredEventCount != 0 {
		t.Errorf("b stores %d events after its only issue's deletion", pb.StoredEventCount)
	}
	if n, err := db.EvictProject(a.ID, 50); err != nil || n != 50 {
		t.Fatalf("EvictProject(a) again = %d, %v", n, err)
	}
	db.digestMu.Lock()
	same := cap(db.cands) == cap(kept) && &db.cands[:1][0] == &kept[:1][0] &&
		cap(db.spans) == cap(spans) && &db.spans[:1][0] == &spans[:1][0]
	db.digestMu.Unlock()
	if !same {
		t.Error("the second round did not reuse the kept arrays")
	}
	ai, err := db.IssueByRef("A-1")
	if err != nil {
		t.Fatal(err)
	}
	if ids := chainIDs(t, db, ai); len(ids) != 150 || ai.StoredEventCount != 150 {
		t.Errorf("a's issue: chain %d, count %d, want 150", len(ids), ai.StoredEventCount)
	}
	db.ReleaseBuffers()
	db.digestMu.Lock()
	defer db.digestMu.Unlock()
	if db.cands != nil || db.spans != nil {
		t.Error("ReleaseBuffers kept the candidate or the span array")
	}
}

// The digest's rounds (later) leave a gap of fewer than laterMinHole bytes
// of whole blocks for a later round, which punches it merged with its
// neighbours' gaps once they die too. The other evictions punch it at once.
func TestLaterRoundsWaitForLargerGaps(t *testing.T) {
	t.Parallel()
	for _, later := range []bool{false, true} {
		t.Run(fmt.Sprintf("later=%v", later), func(t *testing.T) {
			t.Parallel()
			db, dir, pid, seg := noiseProject(t, 100, 2500)
			// evict removes records lo to hi-1 and returns the whole
			// blocks of the gap between live records prev and hi.
			evict := func(prev, lo, hi uint32) (start, end int64) {
				t.Helper()
				var from, to int64
				removeWhere(t, db, pid, later, func(c *candidate) bool {
					switch c.n {
					case prev:
						from = int64(c.r.Off) + int64(c.r.Len)
					case hi:
						to = int64(c.r.Off)
					}
					return c.n >= lo && c.n < hi
				})
				return wholeBlocks(from, to)
			}
			zeros := func(start, end int64) bool {
				t.Helper()
				b, err := os.ReadFile(seg)
				if err != nil {
					t.Fatal(err)
				}
				return bytes.Equal(b[start:end], make([]byte, end-start))
			}
			before := diskBytes(t, seg)
			// Five bodies: two or three whole blocks, under laterMinHole.
			start, end := evict(9, 10, 15)
			if end-start < punchBlock || end-start >= laterMinHole {
				t.Fatalf("gap of %d bytes of whole blocks; the test needs one of 1 to %d", end-start, laterMinHole-1)
			}
			if punched := zeros(start, end); punched == later {
				t.Errorf("small gap punched: %v, want %v", punched, !later)
			}
			if mid := diskBytes(t, seg); later && mid != before {
				t.Errorf("segment uses %d bytes on disk after a small gap was left, %d before", mid, before)
			}
			// Its neighbours die: the gap from record 9 to record 40 is
			// punched whole, the small one within it included.
			start, end = evict(9, 15, 40)
			if end-start < laterMinHole {
				t.Fatalf("gap of %d bytes of whole blocks, want at least %d", end-start, laterMinHole)
			}
			if !zeros(start, end) {
				t.Errorf("the merged gap's whole blocks [%d, %d) were not punched", start, end)
			}
			if after := diskBytes(t, seg); after > before-(end-start)+punchBlock {
				t.Errorf("segment uses %d bytes on disk, %d before, with %d bytes of whole blocks dead", after, before, end-start)
			}
			db.Close()
			if n := checkChain(t, openTest(t, dir), "P-1"); n != 70 {
				t.Errorf("%d events left after a reopen, want 70", n)
			}
		})
	}
}
