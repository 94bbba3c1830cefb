package store

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

func idsPath(dir string, pid int) string {
	return filepath.Join(dir, "events", fmt.Sprint(pid), "ids")
}

// idsHeader reads the header of the ids file at path.
func idsHeader(t *testing.T, path string) (x idIndex, clean bool, covered uint32) {
	t.Helper()
	p, clean, covered, err := readIDIndex(path)
	if err != nil {
		t.Fatalf("ids header: %v", err)
	}
	p.f.Close()
	return *p, clean, covered
}

// checkIDs checks that the events from..to-1 (eventID numbering) are found
// by id, with their bodies, exactly when want says so, both by id and by a
// digest batch's HasEvent.
func checkIDs(t *testing.T, db *DB, pid, from, to int, want func(i int) bool) {
	t.Helper()
	has := map[int]bool{}
	err := db.Digest(func(tx *Tx) error {
		for i := from; i < to; i++ {
			has[i] = tx.HasEvent(pid, eventID(i))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for i := from; i < to && bad < 5; i++ {
		_, body, err := db.ProjectEvent(pid, eventID(i))
		switch {
		case want(i) && (err != nil || !bytes.Contains(body, fmt.Appendf(nil, `"n":%d}`, i))):
			t.Errorf("event %d: %v, body %q", i, err, body)
			bad++
		case !want(i) && !errors.Is(err, ErrNotFound):
			t.Errorf("event %d found (%v), want absent", i, err)
			bad++
		case has[i] != want(i):
			t.Errorf("HasEvent(%d) = %v, want %v", i, has[i], want(i))
			bad++
		}
	}
}

func all(int) bool { return true }

// idNumber returns i for the hex form of eventID(i).
func idNumber(t *testing.T, s string) int {
	t.Helper()
	b, _ := hex.DecodeString(s)
	i, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatalf("event id %s: %v", s, err)
	}
	return i
}

func TestIDIndexGrowsAcrossDoublings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := openTest(t, dir)
	p, _ := db.CreateProject("p")
	path := idsPath(dir, p.ID)
	var sizes []int64
	for i := 0; i < 6000; i += 300 {
		addEvents(t, db, p.ID, "a", i, 300)
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(sizes) == 0 || sizes[len(sizes)-1] != st.Size() {
			sizes = append(sizes, st.Size())
		}
	}
	// 1024 slots hold 512 ids; 6000 need 16384 slots: four doublings.
	want := []int64{}
	for s := int64(1024); s <= 16384; s *= 2 {
		want = append(want, idxHdrSize+s*idxSlotSize)
	}
	if fmt.Sprint(sizes) != fmt.Sprint(want) {
		t.Errorf("ids file sizes %v, want %v", sizes, want)
	}
	checkIDs(t, db, p.ID, 0, 6100, func(i int) bool { return i < 6000 })
	if _, clean, _ := idsHeader(t, path); clean {
		t.Error("ids marked clean while open")
	}

	db.Close()
	x, clean, covered := idsHeader(t, path)
	if !clean || covered != 6000 || x.used != 6000 || x.slots != 16384 {
		t.Errorf("after close: clean %v, covers %d, used %d of %d", clean, covered, x.used, x.slots)
	}
	db2 := openTest(t, dir)
	if y, _, _ := idsHeader(t, path); y.seed != x.seed {
		t.Error("a clean index was rebuilt on open")
	}
	checkIDs(t, db2, p.ID, 0, 6100, func(i int) bool { return i < 6000 })
	// Duplicates are still refused.
	addEvents(t, db2, p.ID, "a", 5000, 2000)
	if pr, _ := db2.Project(p.ID); pr.StoredEventCount != 7000 || pr.LogLen != 7000 {
		t.Errorf("after re-sending 1000 stored events: stored %d, log %d; want 7000", pr.StoredEventCount, pr.LogLen)
	}
}

// A table that grows after evictions is sized by the live events, not by
// the slots the evicted ones still take: it is not doubled.
func TestIDIndexSizedByLiveEvents(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := openTest(t, dir)
	p, _ := db.CreateProject("p")
	path := idsPath(dir, p.ID)
	for i := 0; i < 3000; i += 300 {
		addEvents(t, db, p.ID, "a", i, 300)
	}
	if n, err := db.EvictProject(p.ID, 2000); err != nil || n != 2000 {
		t.Fatalf("EvictProject = %d, %v", n, err)
	}
	// 8,192 slots hold 4,096 ids: the fourth batch of 300 does not fit
	// beside the 3,000 taken slots, so the table is built again, from the
	// 2,200 live events.
	for i := 3000; i < 4200; i += 300 {
		addEvents(t, db, p.ID, "a", i, 300)
	}
	db.Close()
	x, clean, covered := idsHeader(t, path)
	if !clean || covered != 4200 || x.used != 2200 || x.slots != 8192 {
		t.Errorf("after the growth: clean %v, covers %d, used %d of %d slots; want 2200 of 8192", clean, covered, x.used, x.slots)
	}
	db = openTest(t, dir)
	iss, _ := db.IssueByRef("P-1")
	kept := map[int]bool{}
	for _, s := range chainIDs(t, db, iss) {
		kept[idNumber(t, s)] = true
	}
	if len(kept) != 2200 {
		t.Fatalf("issue keeps %d events, want 2200", len(kept))
	}
	checkIDs(t, db, p.ID, 0, 4300, func(i int) bool { return kept[i] })
}

func TestIDIndexRebuiltAfterUncleanClose(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := openTest(t, dir)
	p, _ := db.CreateProject("p")
	for i := 0; i < 3000; i += 500 {
		addEvents(t, db, p.ID, "a", i, 500)
	}
	db.Close()
	path := idsPath(dir, p.ID)
	// As if the process had died: the header says dirty, and none of the
	// slots reached the disk.
	x, _, covered := idsHeader(t, path)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(make([]byte, x.slots*idxSlotSize), idxHdrSize)
	x.f = f
	if err := x.writeHeader(false, covered); err != nil {
		t.Fatal(err)
	}
	f.Close()

	db2 := openTest(t, dir)
	if y, _, _ := idsHeader(t, path); y.seed == x.seed || y.used != 3000 {
		t.Errorf("not rebuilt: used %d", y.used)
	}
	checkIDs(t, db2, p.ID, 0, 3100, func(i int) bool { return i < 3000 })
}

func TestIDIndexSkipsDeletedEvents(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := openTest(t, dir)
	p, _ := db.CreateProject("p")
	addEvents(t, db, p.ID, "a", 0, 1000)
	addEvents(t, db, p.ID, "b", 1000, 500)
	iss, _ := db.IssueByRef("P-2")
	if err := db.DeleteIssue(iss.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := db.EvictProject(p.ID, 200); err != nil || n != 200 {
		t.Fatalf("EvictProject = %d, %v", n, err)
	}
	iss, _ = db.IssueByRef("P-1")
	kept := map[int]bool{}
	for _, s := range chainIDs(t, db, iss) {
		kept[idNumber(t, s)] = true
	}
	if len(kept) != 800 {
		t.Fatalf("issue keeps %d events, want 800", len(kept))
	}
	check := func(db *DB) {
		t.Helper()
		checkIDs(t, db, p.ID, 0, 1500, func(i int) bool { return kept[i] })
	}
	check(db)
	// Deleted ids can be stored again, once.
	addEvents(t, db, p.ID, "b", 1000, 500)
	addEvents(t, db, p.ID, "b", 1000, 500)
	for i := 1000; i < 1500; i++ {
		kept[i] = true
	}
	check(db)
	if pr, _ := db.Project(p.ID); pr.StoredEventCount != 1300 {
		t.Errorf("stored %d, want 1300", pr.StoredEventCount)
	}
	db.Close()
	check(openTest(t, dir))
}

func TestIDIndexAfterCompaction(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := openTest(t, dir)
	p, _ := db.CreateProject("p")
	fillAndEvict(t, db, p.ID, 10000, 3000)
	pr, _ := db.Project(p.ID)
	if pr.LogLen != 3000 || pr.SegFirst != 1 {
		t.Fatalf("not compacted: %+v", pr)
	}
	kept := map[int]bool{}
	for _, ref := range []string{"P-1", "P-2", "P-3"} {
		iss, _ := db.IssueByRef(ref)
		for _, s := range chainIDs(t, db, iss) {
			kept[idNumber(t, s)] = true
		}
	}
	if len(kept) != 3000 {
		t.Fatalf("chains hold %d events", len(kept))
	}
	path := idsPath(dir, p.ID)
	if x, clean, _ := idsHeader(t, path); clean || x.gen != 1 || x.used != 3000 {
		t.Errorf("index after compaction: clean %v, generation %d, used %d", clean, x.gen, x.used)
	}
	if _, err := os.Stat(path + ".new"); !os.IsNotExist(err) {
		t.Errorf("ids.new left: %v", err)
	}
	checkIDs(t, db, p.ID, 0, 10000, func(i int) bool { return kept[i] })
	addEvents(t, db, p.ID, "a", 20000, 100)
	db.Close()
	x, clean, covered := idsHeader(t, path)
	if !clean || covered != 3100 || x.gen != 1 {
		t.Errorf("after close: clean %v, covers %d, generation %d", clean, covered, x.gen)
	}
	db2 := openTest(t, dir)
	if y, _, _ := idsHeader(t, path); y.seed != x.seed {
		t.Error("a clean index was rebuilt on open")
	}
	checkIDs(t, db2, p.ID, 0, 10000, func(i int) bool { return kept[i] })
	checkIDs(t, db2, p.ID, 20000, 20100, all)
}

func TestIDIndexGarbageRebuilt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		mangle func(path string) error
	}{
		{"garbage", func(path string) error {
			b := make([]byte, 50000)
			r := rand.New(rand.NewPCG(1, 2))
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			return os.WriteFile(path, b, 0o640)
		}},
		{"empty", func(path string) error { return os.WriteFile(path, nil, 0o640) }},
		{"truncated", func(path string) error { return os.Truncate(path, 5000) }},
		{"bad checksum", func(path string) error {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteAt([]byte{0xff}, 20) // the slot count
			return err
		}},
		{"missing", os.Remove},
		{"a directory", func(path string) error {
			if err := os.Remove(path); err != nil {
				return err
			}
			return os.Mkdir(path, 0o750)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			db := openTest(t, dir)
			p, _ := db.CreateProject("p")
			addEvents(t, db, p.ID, "a", 0, 2000)
			db.Close()
			path := idsPath(dir, p.ID)
			if err := tc.mangle(path); err != nil {
				t.Fatal(err)
			}
			db2, err := Open(dir)
			if tc.name == "a directory" {
				// Not a file the index could have left: refuse, rather than delete a directory.
				if err == nil {
					db2.Close()
					t.Fatal("Open succeeded with a directory in place of ids")
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() { db2.Close() })
			checkIDs(t, db2, p.ID, 0, 2100, func(i int) bool { return i < 2000 })
		})
	}
}

// An ids file of the log before a compaction, clean and covering fewer
// records than the compacted log holds, is not taken for the new log's.
func TestIDIndexPreviousGenerationRebuilt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := openTest(t, dir)
	p, _ := db.CreateProject("p")
	addEvents(t, db, p.ID, "a", 0, 3000)
	db.Close()
	path := idsPath(dir, p.ID)
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	db = openTest(t, dir)
	addEvents(t, db, p.ID, "b", 3000, 10000)
	// Evicting everything compacts the log; the ids that come back get
	// other record numbers than before.
	if n, err := db.EvictOlderThan(p.ID, time.Now().Add(time.Hour)); err != nil || n != 13000 {
		t.Fatalf("EvictOlderThan = %d, %v", n, err)
	}
	addEvents(t, db, p.ID, "c", 20000, 500)
	addEvents(t, db, p.ID, "a", 0, 3000)
	pr, _ := db.Project(p.ID)
	if pr.LogLen != 3500 || pr.SegFirst == 0 {
		t.Fatalf("not compacted as expected: %+v", pr)
	}
	db.Close()
	if err := os.WriteFile(path, old, 0o640); err != nil {
		t.Fatal(err)
	}
	if x, clean, covered := idsHeader(t, path); !clean || covered != 3000 || x.gen != 0 {
		t.Fatalf("old index: clean %v, covers %d, generation %d", clean, covered, x.gen)
	}
	db2 := openTest(t, dir)
	if x, _, _ := idsHeader(t, path); x.gen != pr.SegFirst || x.used != 3500 {
		t.Errorf("index after open: generation %d, used %d; want %d, 3500", x.gen, x.used, pr.SegFirst)
	}
	checkIDs(t, db2, p.ID, 0, 13000, func(i int) bool { return i < 3000 })
	checkIDs(t, db2, p.ID, 20000, 20600, func(i int) bool { return i < 20500 })
}

// A clean index that covers fewer records than the log gets the missing
// tail added, without a rebuild.
func TestIDIndexTailAdded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := openTest(t, dir)
	p, _ := db.CreateProject("p")
	addEvents(t, db, p.ID, "a", 0, 1800)
	db.Close()
	path := idsPath(dir, p.ID)
	old, _ := os.ReadFile(path)
	x, _, _ := idsHeader(t, path)
	db = openTest(t, dir)
	addEvents(t, db, p.ID, "a", 1800, 200)
	db.Close()
	os.WriteFile(path, old, 0o640)
	db2 := openTest(t, dir)
	if y := db2.eventLog(p.ID).ids; y.seed != x.seed || y.used != 2000 {
		t.Errorf("tail not added in place: used %d", y.used)
	}
	checkIDs(t, db2, p.ID, 0, 2100, func(i int) bool { return i < 2000 })
}

// writeLog writes records with ids[i] as record i to a new log file.
func writeLog(t testing.TB, path string, ids [][16]byte) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, len(ids)*recSize)
	for i, id := range ids {
		r := record{EventID: id, Issue: 1}
		r.marshal(b[i*recSize:])
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return f
}

// logOfIDs writes dir/log with the records of n events, the i-th with id
// id(i), and returns the ids and the open log.
func logOfIDs(t *testing.T, dir string, n int, id func(int) [16]byte) ([][16]byte, *os.File) {
	t.Helper()
	ids := make([][16]byte, n)
	for i := range ids {
		ids[i] = id(i)
	}
	return ids, writeLog(t, filepath.Join(dir, "log"), ids)
}

// Slots naming records at or past the committed count are empty: lookups
// stop there and inserts take them.
func TestIDIndexIgnoresUncommittedSlots(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ids, lf := logOfIDs(t, dir, 600, eventID)
	defer lf.Close()
	x, err := buildIDIndex(filepath.Join(dir, "ids"), lf, 600, 0, 600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer x.f.Close()
	const n = 300 // only the first 300 are committed
	for i := range 600 {
		if r, ok, err := x.lookup(lf, n, &ids[i]); err != nil || ok != (i < n) || ok && r != uint32(i) {
			t.Fatalf("lookup %d = %d, %v, %v", i, r, ok, err)
		}
	}
	// Record 300 now holds another id; inserting it reuses a stale slot.
	other := eventID(1000)
	lf.Close()
	lf = writeLog(t, filepath.Join(dir, "log"), append(ids[:n:n], other))
	used := x.used
	if _, err := x.insert(n+1, &other, n); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if r, ok, _ := x.lookup(lf, n+1, &ids[i]); !ok || r != uint32(i) {
			t.Fatalf("lookup %d = %d, %v", i, r, ok)
		}
	}
	if r, ok, _ := x.lookup(lf, n+1, &other); !ok || r != n {
		t.Errorf("lookup of the new id = %d, %v", r, ok)
	}
	if x.used != used+1 {
		t.Errorf("used %d, want %d", x.used, used+1)
	}
}

// TestIDIndexBuiltInMemoryOrFile builds the index of one log both ways
// (in memory, as for tables up to idxMemBuild, and slot by slot in the
// file, as for larger ones) and checks that each finds every live id and
// no other.
func TestIDIndexBuiltInMemoryOrFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ids, lf := logOfIDs(t, dir, 3000, benchEventID)
	defer lf.Close()
	// Every third record deleted.
	for i := 0; i < len(ids); i += 3 {
		var flag [4]byte
		flag[0] = byte(flagDeleted)
		if _, err := lf.WriteAt(flag[:], int64(i)*recSize+recFlags); err != nil {
			t.Fatal(err)
		}
	}
	for _, memMax := range []uint64{0, idxMemBuild} {
		path := filepath.Join(dir, fmt.Sprint("ids", memMax))
		x, err := buildIDIndexIn(path, lf, uint32(len(ids)), 7, uint64(len(ids)), nil, memMax)
		if err != nil {
			t.Fatal(err)
		}
		if x.used != 2000 || x.slots != 8192 {
			t.Errorf("memMax %d: used %d of %d slots, want 2000 of 8192", memMax, x.used, x.slots)
		}
		for i := range ids {
			if r, ok, err := x.lookup(lf, uint32(len(ids)), &ids[i]); err != nil || ok != (i%3 != 0) || ok && r != uint32(i) {
				t.Fatalf("memMax %d: lookup %d = %d, %v, %v", memMax, i, r, ok, err)
			}
		}
		for i := range 1000 {
			unknown := benchEventID(10000 + i)
			if _, ok, err := x.lookup(lf, uint32(len(ids)), &unknown); ok || err != nil {
				t.Fatalf("memMax %d: unknown id %d found (%v)", memMax, i, err)
			}
		}
		x.f.Close()
		if y, clean, covered := idsHeader(t, path); clean || covered != 3000 || y.gen != 7 || y.used != 2000 {
			t.Errorf("memMax %d: header clean %v, covers %d, gen %d, used %d", memMax, clean, covered, y.gen, y.used)
		}
		// Asked for room for fewer records than are live, the build
		// fails rather than filling the table.
		if x, err := buildIDIndexIn(path+"small", lf, uint32(len(ids)), 7, 1000, nil, memMax); !errors.Is(err, errBuildFull) {
			if x != nil {
				x.f.Close()
			}
			t.Errorf("memMax %d: a build with room for 1000 of 2000 live records: %v", memMax, err)
		}
		if _, err := os.Stat(path + "small"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("memMax %d: the failed build left its file (%v)", memMax, err)
		}
	}
}

// benchEventID is a random-looking id, as SDKs send (uuid4).
func benchEventID(i int) [16]byte {
	var id [16]byte
	z := uint64(i) * 0x9e3779b97f4a7c15
	for k := range 2 {
		z += 0x9e3779b97f4a7c15
		v := z
		v = (v ^ v>>30) * 0xbf58476d1ce4e5b9
		v = (v ^ v>>27) * 0x94d049bb133111eb
		v ^= v >> 31
		for j := range 8 {
			id[8*k+j] = byte(v >> (8 * j))
		}
	}
	return id
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkIDIndex1M stores 1,000,000 events' records in one project's log,
// in batches of 1,000 through the path a digest batch takes (growIDs,
// indexBatch), and then looks up stored and unknown ids. It reports the
// heap held after a GC (heap-B, before the index is closed), the time to
// build the index (fill-s), to rebuild it from the log on an unclean open
// (rebuild-s) and to open it clean (open-s), and ns per lookup.
func BenchmarkIDIndex1M(b *testing.B) {
	const total, batch = 1_000_000, 1000
	dir := b.TempDir()
	before := heapInUse()
	el, err := openEventLog(dir, 0, 0, 0, 0, false, true)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	recs := make([]record, batch)
	buf := make([]byte, batch*recSize)
	for n := 0; n < total; n += batch {
		for i := range recs {
			recs[i] = record{EventID: benchEventID(n + i), Issue: 1}
			recs[i].marshal(buf[i*recSize:])
		}
		if _, err := el.log.WriteAt(buf, int64(n)*recSize); err != nil {
			b.Fatal(err)
		}
		next, ierr := el.growIDs(uint32(n+batch), batch)
		el.mu.Lock()
		el.n = uint32(n + batch)
		el.indexBatch(uint32(n), recs, nil, next, ierr)
		el.mu.Unlock()
	}
	if el.broken != nil {
		b.Fatal(el.broken)
	}
	fill := time.Since(start)
	recs, buf = nil, nil
	heap := heapInUse()

	b.ResetTimer()
	i := 0
	for b.Loop() {
		i++
		id := benchEventID(i * 7919 % (2 * total)) // half stored, half not
		el.mu.RLock()
		n, ok := el.find(id)
		el.mu.RUnlock()
		if want := i*7919%(2*total) < total; ok != want || ok && n != uint32(i*7919%(2*total)) {
			b.Fatalf("find %d = %d, %v", i, n, ok)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(int64(heap)-int64(before)), "heap-B")
	b.ReportMetric(fill.Seconds(), "fill-s")

	// An unclean open rebuilds the index from the log.
	el.broken = errors.New("leave the index dirty")
	el.close()
	start = time.Now()
	el, err = openEventLog(dir, total, 0, 0, 0, false, true)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(time.Since(start).Seconds(), "rebuild-s")
	el.close()
	// A clean open only reads the log to count live events.
	start = time.Now()
	el, err = openEventLog(dir, total, 0, 0, 0, false, true)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(time.Since(start).Seconds(), "open-s")
	el.close()
}

// TestSlotHints checks indexBatch's inserts at the slots the batch's
// lookups found free (idIndex.probe): 400 new ids, probed before any of
// them is inserted, go into a table of 1,024 slots that already holds 100,
// so many of them share a probe chain and several were told the same free
// slot. Every id must then be found as its own record, and each slot must
// have been written once.
func TestSlotHints(t *testing.T) {
	t.Parallel()
	el, err := openEventLog(t.TempDir(), 0, 0, 0, 0, false, true)
	if err != nil {
		t.Fatal(err)
	}
	defer el.close()
	write := func(start int, recs []record) {
		buf := make([]byte, len(recs)*recSize)
		for i := range recs {
			recs[i].marshal(buf[i*recSize:])
		}
		if _, err := el.log.WriteAt(buf, int64(start)*recSize); err != nil {
			t.Fatal(err)
		}
	}
	const first, second = 100, 400
	var recs []record
	for i := range first + second {
		recs = append(recs, record{EventID: benchEventID(i), Issue: 1})
	}
	write(0, recs[:first])
	el.n = first
	el.indexBatch(0, recs[:first], nil, nil, nil)

	hints := make([]slotHint, second)
	shared := map[uint64]int{}
	for i := range second {
		_, found, free, err := el.ids.probe(el.log, el.n, &recs[first+i].EventID)
		if err != nil || found || free == noSlot {
			t.Fatalf("probe of new id %d: found %v, free %d, %v", i, found, free, err)
		}
		hints[i] = slotHint{x: el.ids, slot: free}
		shared[free]++
	}
	if len(shared) == second {
		t.Fatal("no two new ids were told the same free slot: the test checks nothing")
	}
	write(first, recs[first:])
	el.n = first + second
	// An insert whose slot an earlier one took (the same hint, or a
	// slot the earlier one's own probe reached) probes the table again.
	if hinted := el.indexBatch(first, recs[first:], hints, nil, nil); hinted == 0 || hinted > len(shared) {
		t.Errorf("%d inserts used their hint, want 1 to %d (one per distinct free slot at most)", hinted, len(shared))
	}
	if el.broken != nil {
		t.Fatal(el.broken)
	}
	for i := range recs {
		if n, ok := el.find(recs[i].EventID); !ok || n != uint32(i) {
			t.Fatalf("record %d: find = %d, %v", i, n, ok)
		}
	}
	if el.ids.used != first+second {
		t.Errorf("the table counts %d slots used, want %d", el.ids.used, first+second)
	}
	// Every slot is written once: count the table's slots.
	tab := make([]byte, el.ids.slots*idxSlotSize)
	if _, err := el.ids.f.ReadAt(tab, idxHdrSize); err != nil {
		t.Fatal(err)
	}
	used := 0
	for i := uint64(0); i < el.ids.slots; i++ {
		if binary.LittleEndian.Uint32(tab[i*idxSlotSize:]) != 0 {
			used++
		}
	}
	if used != first+second {
		t.Errorf("%d slots are written, want %d", used, first+second)
	}
}

// TestDigestUsesSlotHints checks that a batch's AddEvent takes the free
// slot that HasEvent found for the same event, and that an event added
// without a lookup probes the table itself.
func TestDigestUsesSlotHints(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir())
	p, err := db.CreateProject("p")
	if err != nil {
		t.Fatal(err)
	}
	body := CompressBody([]byte(`{"message":"x"}`))
	digestBatch(t, db, p.ID, 0, 10, 1, body, false) // the project's log and its issue
	err = db.Digest(func(tx *Tx) error {
		pr, err := tx.Project(p.ID)
		if err != nil {
			return err
		}
		iss, err := tx.IssueForGrouping(p.ID, "issue-0")
		if err != nil {
			return err
		}
		for i := 10; i <= 20; i++ {
			if i < 20 && tx.HasEvent(p.ID, eventID(i)) {
				return fmt.Errorf("HasEvent of new event %d", i)
			}
			iss.DigestedEventCount++
			if err := tx.AddEvent(pr, iss, &NewEvent{EventID: eventID(i), Compressed: body}); err != nil {
				return err
			}
		}
		hints := tx.pending[p.ID].hints
		for i, h := range hints[:10] {
			if h.x == nil || h.slot == noSlot {
				t.Errorf("event %d has no slot hint", 10+i)
			}
		}
		if hints[10].slot != noSlot {
			t.Error("the event added without HasEvent has a slot hint")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Digest(func(tx *Tx) error {
		for i := range 21 {
			if !tx.HasEvent(p.ID, eventID(i)) {
				t.Errorf("event %d is not found after its batch", i)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
