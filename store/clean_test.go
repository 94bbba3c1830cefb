package store

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
)

// cleanBody is event i's body in the cleaning tests: ~2 KB that compress
// poorly, so that each body takes its own blocks.
func cleanBody(i int) []byte {
	b := fmt.Appendf(nil, `{"n":%d,"pad":"`, i)
	rng := rand.New(rand.NewPCG(uint64(i), 7))
	for range 2000 {
		b = append(b, "abcdefghijklmnopqrstuvwxyz0123456789"[rng.IntN(36)])
	}
	return append(b, `"}`...)
}

// agedProject digests 800 events in 8 batches (so in 8 segments at the
// test's segmentMax) and kills the oldest ones most: event i of batch k
// dies with probability (8-k)/10, as retention leaves a project at its
// maximum. It returns the store and which events are alive; nothing is
// compacted yet.
func agedProject(t *testing.T, dir string) (*DB, int, []bool) {
	t.Helper()
	db := openTest(t, dir)
	p, _ := db.CreateProject("p")
	for k := range 8 {
		addEventsWith(t, db, p.ID, 100*k, 100, func(int) string { return "a" }, cleanBody)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	alive := make([]bool, 800)
	for i := range alive {
		alive[i] = rng.IntN(10) >= 8-i/100
	}
	return db, p.ID, alive
}

// positions returns where the bodies of project pid's live records lie.
func positions(t *testing.T, db *DB, pid int) map[uint32]segPos {
	t.Helper()
	el := db.eventLog(pid)
	el.mu.RLock()
	defer el.mu.RUnlock()
	live, err := el.liveRecords()
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint32]segPos{}
	for _, c := range live {
		out[c.n] = segPos{c.r.Seg, c.r.Off}
	}
	return out
}

// checkBodies checks that exactly the events alive are found, each with
// its own body.
func checkBodies(t *testing.T, db *DB, alive []bool) {
	t.Helper()
	for i, ok := range alive {
		_, body, err := db.Event(eventID(i))
		if !ok {
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("dead event %d: %v", i, err)
			}
			continue
		}
		if err != nil || !bytes.Equal(body, cleanBody(i)) {
			t.Fatalf("event %d: %.24q, %v", i, body, err)
		}
	}
}

func smallSegments(t *testing.T) {
	oldMax, oldDead, oldChunk := segmentMax, compactMinDead, cleanChunk
	t.Cleanup(func() { segmentMax, compactMinDead, cleanChunk = oldMax, oldDead, oldChunk })
	segmentMax, compactMinDead, cleanChunk = 64<<10, 100, 48<<10
}

// A compaction of wasteful segments cleans them: it copies the live bodies
// of their most wasteful parts only, to the end, gives back the space
// around them, and renumbers nothing.
func TestCleaningCopiesTheWastefulParts(t *testing.T) {
	smallSegments(t)
	dir := t.TempDir()
	db, pid, alive := agedProject(t, dir)
	compactMinDead = 1 << 30 // the round leaves the waste in place
	removeWhere(t, db, pid, true, func(c *candidate) bool { return !alive[c.n] })
	compactMinDead = 100
	disk1, liveBytes := segmentUse(t, db, pid)
	if disk1*2 < liveBytes*3 {
		t.Fatalf("the segments take %d bytes for %d live: not wasteful", disk1, liveBytes)
	}
	before := positions(t, db, pid)
	// A page of events read before the cleaning still gives each
	// event's body after it (EventBody follows the record).
	iss, err := db.IssueByRef("P-1")
	if err != nil {
		t.Fatal(err)
	}
	page, err := db.Events(iss, true, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := db.CompactProject(pid); !ok || err != nil {
		t.Fatalf("CompactProject = %v, %v", ok, err)
	}
	for _, ev := range page.Events {
		var i int
		body, err := db.EventBody(&ev)
		if _, serr := fmt.Sscanf(string(body), `{"n":%d,`, &i); err != nil || serr != nil || !bytes.Equal(body, cleanBody(i)) {
			t.Fatalf("event %s read before the cleaning: %.24q, %v", ev.ID, body, err)
		}
	}
	after := positions(t, db, pid)
	var copied int64
	moved := 0
	el := db.eventLog(pid)
	for n, p := range after {
		if p != before[n] {
			moved++
			r, _ := el.readRecord(n)
			copied += int64(r.Len)
		}
	}
	disk2, _ := segmentUse(t, db, pid)
	if moved == 0 || 2*moved > len(after) || disk1-disk2 < copied {
		t.Fatalf("%d of %d live bodies copied (%d bytes), %d bytes given back: want some, at most half, each byte copied giving one back",
			moved, len(after), copied, disk1-disk2)
	}
	if waste := disk2 - liveBytes; waste*cleanToDen > liveBytes*cleanToNum {
		t.Errorf("after cleaning the segments waste %d bytes for %d live", waste, liveBytes)
	}
	pr, _ := db.Project(pid)
	if pr.LogLen != 800 || pr.SegFirst != 0 || pr.StoredEventCount != int64(len(after)) {
		t.Fatalf("log of %d records, first segment %d, %d stored: want 800, 0, %d", pr.LogLen, pr.SegFirst, pr.StoredEventCount, len(after))
	}
	checkBodies(t, db, alive)
	// The digest goes on after the copies, and everything survives a
	// reopen.
	addEventsWith(t, db, pid, 800, 50, func(int) string { return "a" }, cleanBody)
	alive = append(alive, make([]bool, 50)...)
	for i := 800; i < 850; i++ {
		alive[i] = true
	}
	checkBodies(t, db, alive)
	db.Close()
	db = openTest(t, dir)
	checkBodies(t, db, alive)
	checkChain(t, db, "P-1")
}

// A crash after the copies are committed, or after the records name them,
// loses nothing: each record names one of two identical bodies, and the
// next cleaning gives the space back.
func TestCleaningCrashes(t *testing.T) {
	for _, stage := range []string{"copied", "relocated"} {
		t.Run(stage, func(t *testing.T) {
			smallSegments(t)
			dir := t.TempDir()
			db, pid, alive := agedProject(t, dir)
			crash := errors.New("crash")
			db.compactCrash = func(s string) error {
				if s == stage {
					return crash
				}
				return nil
			}
			_, err := db.removeEvents(pid, true, func(cands []candidate) (out []uint32) {
				for _, c := range cands {
					if !alive[c.n] {
						out = append(out, c.n)
					}
				}
				return out
			})
			if !errors.Is(err, crash) {
				t.Fatalf("removeEvents = %v, want the crash", err)
			}
			db.compactCrash = nil
			db.punch.wait()
			db.Close()

			db = openTest(t, dir)
			checkBodies(t, db, alive)
			if ok, err := db.CompactProject(pid); !ok || err != nil {
				t.Fatalf("CompactProject = %v, %v", ok, err)
			}
			disk, liveBytes := segmentUse(t, db, pid)
			if waste := disk - liveBytes; waste*cleanToDen > liveBytes*cleanToNum+8*punchBlock*cleanToDen {
				t.Errorf("after cleaning again the segments waste %d bytes for %d live", waste, liveBytes)
			}
			checkBodies(t, db, alive)
			db.Close()
			checkBodies(t, openTest(t, dir), alive)
		})
	}
}

// Where a hole gives nothing back, cleaning stops after its first pass and
// the project is compacted as before: every live body copied.
func TestCleaningFallsBackToCompaction(t *testing.T) {
	smallSegments(t)
	defer func(old func(*os.File, int64, int64)) { cleanPunch = old }(cleanPunch)
	cleanPunch = func(*os.File, int64, int64) {}
	dir := t.TempDir()
	db, pid, alive := agedProject(t, dir)
	removeWhere(t, db, pid, true, func(c *candidate) bool { return !alive[c.n] })
	live := 0
	for _, ok := range alive {
		if ok {
			live++
		}
	}
	pr, _ := db.Project(pid)
	if pr.LogLen != uint32(live) || pr.SegFirst == 0 {
		t.Fatalf("log of %d records, first segment %d: want %d records in new segments", pr.LogLen, pr.SegFirst, live)
	}
	checkBodies(t, db, alive)
	db.Close()
	checkBodies(t, openTest(t, dir), alive)
}

// Wasteful segments are cleaned once their waste reaches compactMinWaste,
// however few records are dead: a compaction of the log alone resets
// that count but not the waste.
func TestCleaningNeedsNoDeadMinimum(t *testing.T) {
	for _, minWaste := range []int64{64 << 10, 1 << 40} {
		t.Run(fmt.Sprint(minWaste), func(t *testing.T) {
			smallSegments(t)
			defer func(old int64) { compactMinWaste = old }(compactMinWaste)
			compactMinDead, compactMinWaste = 1<<30, minWaste
			db, pid, alive := agedProject(t, t.TempDir())
			removeWhere(t, db, pid, true, func(c *candidate) bool { return !alive[c.n] })
			disk, live := segmentUse(t, db, pid)
			cleaned := (disk-live)*cleanToDen <= live*cleanToNum
			if want := minWaste < 1<<40; cleaned != want {
				t.Errorf("%d bytes on disk for %d live: cleaned %v, want %v", disk, live, cleaned, want)
			}
			checkBodies(t, db, alive)
		})
	}
}

// A segment is deleted only once no live body is left in it: when the
// events retention keeps longest leave more segments than the live bodies
// need, those with the fewest live bytes are emptied and deleted.
func TestCleaningDeletesCrowdedSegments(t *testing.T) {
	smallSegments(t)
	segmentMax = 16 << 10 // a segment for each batch of 10
	dir := t.TempDir()
	db := openTest(t, dir)
	p, _ := db.CreateProject("p")
	for k := range 60 {
		addEventsWith(t, db, p.ID, 10*k, 10, func(int) string { return "a" }, cleanBody)
	}
	alive := make([]bool, 600)
	for i := range alive {
		alive[i] = i >= 500 || i%10 < 3 // 3 of each old batch survive
	}
	el := db.eventLog(p.ID)
	files, _, _ := el.segmentFiles()
	removeWhere(t, db, p.ID, false, func(c *candidate) bool { return !alive[c.n] })
	after, _, _ := el.segmentFiles()
	_, live := segmentUse(t, db, p.ID)
	// (One more: the waste's passes after it may start a segment.)
	if files != 60 || after > segmentsNeeded(live)+1 {
		t.Errorf("%d segments, %d after the round: want at most %d for %d live bytes", files, after, segmentsNeeded(live)+1, live)
	}
	if pr, _ := db.Project(p.ID); pr.LogLen != 600 || pr.SegFirst != 0 {
		t.Errorf("log of %d records, first segment %d: want 600, 0 (not compacted)", pr.LogLen, pr.SegFirst)
	}
	checkBodies(t, db, alive)
	db.Close()
	checkBodies(t, openTest(t, dir), alive)
}
