package spool

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func mustOpen(t testing.TB, dir string, opts Options) *Spool {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func testRecord(i int, size int) *Record {
	payload := fmt.Appendf(nil, `{"n":%d,"pad":"`, i)
	for len(payload) < size-2 {
		payload = append(payload, byte('a'+i%26))
	}
	payload = append(payload, `"}`...)
	return &Record{
		Project:    1 + i%3,
		EventID:    fmt.Sprintf("%032x", i),
		IngestedAt: time.Unix(1700000000, int64(i)*1000).UTC(),
		RemoteAddr: fmt.Sprintf("10.0.0.%d", i%250),
		Payload:    payload,
		Type:       []string{"", "", "transaction", "check_in", "span", "x_custom", "", "session"}[i%8],
	}
}

// readAll returns copies of every record after p and the final position.
func readAll(t testing.TB, s *Spool, p Pos, batch int) ([]Record, Pos) {
	t.Helper()
	var out []Record
	for {
		next, err := s.ReadFrom(p, batch, 0, func(r *Record, _ Pos) error {
			c := *r
			c.Payload = bytes.Clone(r.Payload)
			out = append(out, c)
			return nil
		})
		if err != nil {
			t.Fatalf("ReadFrom: %v", err)
		}
		if next == p {
			return out, p
		}
		p = next
	}
}

func sameRecord(got Record, want *Record) error {
	switch {
	case got.Project != want.Project:
		return fmt.Errorf("Project = %d, want %d", got.Project, want.Project)
	case got.EventID != want.EventID:
		return fmt.Errorf("EventID = %q, want %q", got.EventID, want.EventID)
	case !got.IngestedAt.Equal(want.IngestedAt):
		return fmt.Errorf("IngestedAt = %v, want %v", got.IngestedAt, want.IngestedAt)
	case got.RemoteAddr != want.RemoteAddr:
		return fmt.Errorf("RemoteAddr = %q, want %q", got.RemoteAddr, want.RemoteAddr)
	case got.Type != want.Type:
		return fmt.Errorf("Type = %q, want %q", got.Type, want.Type)
	case !bytes.Equal(got.Payload, want.Payload):
		return fmt.Errorf("Payload = %.40q..., want %.40q...", got.Payload, want.Payload)
	}
	return nil
}

// reopenWith writes b as the segment file name of dir, as a crash or
// damage would leave it, and opens the spool over dir.
func reopenWith(t testing.TB, dir, name string, b []byte) *Spool {
	t.Helper()
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return mustOpen(t, dir, Options{NoSync: true})
}

// readsBack fails t unless reading s from its start gives want, in order,
// with damaged segments counted as damaged.
func readsBack(t testing.TB, s *Spool, want []*Record, damaged int64) {
	t.Helper()
	got, _ := readAll(t, s, Pos{}, 1000)
	sameRecords(t, got, want)
	if d := s.Stats().Damaged; d != damaged {
		t.Errorf("Stats().Damaged = %d, want %d", d, damaged)
	}
}

// sameRecords fails t unless got are want, in order.
func sameRecords(t testing.TB, got []Record, want []*Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("read %d records, want %d", len(got), len(want))
	}
	for i := range got {
		if err := sameRecord(got[i], want[i]); err != nil {
			t.Errorf("record %d: %v", i, err)
		}
	}
}

func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	return globDir(t, dir, "*.spool")
}

// globDir returns the files in dir matching pattern.
func globDir(t testing.TB, dir, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRoundTripAcrossRotation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{SegmentSize: 4 << 10})
	defer s.Close()

	var want []*Record
	for i := range 120 {
		r := testRecord(i, 50+i*7%900)
		if err := s.Append(r); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		want = append(want, r)
	}
	if n := len(segmentFiles(t, dir)); n < 5 {
		t.Errorf("%d segment files, want several (rotation at 4 KiB)", n)
	}

	got, _ := readAll(t, s, Pos{}, 7)
	sameRecords(t, got, want)
}

// TestRoundTripAroundTheReadBuffer reads records around the batch
// scanner's 64 KiB buffer (bodies that fit it, that cross a refill, within
// a few bytes of its size, and larger), in one batch and in batches of
// three.
func TestRoundTripAroundTheReadBuffer(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, t.TempDir(), Options{NoSync: true})
	defer s.Close()
	var want []*Record
	add := func(size int) {
		r := testRecord(len(want), size)
		if err := s.Append(r); err != nil {
			t.Fatalf("Append %d bytes: %v", size, err)
		}
		want = append(want, r)
	}
	for _, size := range []int{60000, 10000, 3, 200000, 30000} {
		add(size)
	}
	// Bodies from a little under to a little over the buffer's size: the
	// record adds its fields to the payload.
	for size := 64<<10 - 120; size <= 64<<10+40; size += 8 {
		add(size)
		add(7000)
	}
	// One call reads them all: a record misread would end the segment
	// as damaged, and readAll would go on from the record after it.
	n := 0
	if _, err := s.ReadFrom(Pos{}, 1000, 0, func(*Record, Pos) error { n++; return nil }); err != nil || n != len(want) {
		t.Fatalf("one ReadFrom read %d records (%v), want %d", n, err, len(want))
	}
	got, _ := readAll(t, s, Pos{}, 1000)
	sameRecords(t, got, want)
	got, _ = readAll(t, s, Pos{}, 3)
	sameRecords(t, got, want)
	if d := s.Stats().Damaged; d != 0 {
		t.Errorf("Stats().Damaged = %d, want 0", d)
	}
}

// TestLargeRecordsInOneBatch writes, in one commit, large records (their
// payloads referenced, not copied) between small ones (copied into the
// batch's buffer, which regrows after a large record's header is listed
// for the write). Every record must read back and none count as damaged:
// a header listed from the buffer before it regrew, and sealed in the new
// one, was written unsealed, and the reader dropped the rest of the
// segment as damaged (the events the server had acknowledged with it
// were never digested).
func TestLargeRecordsInOneBatch(t *testing.T) {
	t.Parallel()
	for _, shape := range [][]int{
		{copyLimit + 1, 100, 100, 100, 100, 100, 100, 100, 100},
		{200, copyLimit + 1, 3000, 3000, 3000, copyLimit * 3, 5000, 5000, 5000, 5000},
		{copyLimit * 4, copyLimit * 4, copyLimit * 4},
		{10, copyLimit + 1, 10, copyLimit + 1, 10},
	} {
		t.Run(fmt.Sprint(shape), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := mustOpen(t, dir, Options{NoSync: true})
			defer s.Close()
			var want []*Record
			for round := range 3 { // the second and third reuse the first's buffer
				var rs []*Record
				for i, size := range shape {
					rs = append(rs, testRecord(round*len(shape)+i, size))
				}
				if err := s.AppendAll(rs); err != nil {
					t.Fatalf("AppendAll: %v", err)
				}
				want = append(want, rs...)
			}
			readsBack(t, s, want, 0)
			allSealed(t, dir) // readers also take unsealed headers (TestUnsealedHeadersRead)
		})
	}
}

// allSealed fails t unless every frame header in dir's segments is sealed
// for its segment.
func allSealed(t *testing.T, dir string) {
	t.Helper()
	for _, name := range segmentFiles(t, dir) {
		seq, ok := parseName(filepath.Base(name), ".spool")
		if !ok {
			t.Fatalf("segment name %s", name)
		}
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, off := range frameStarts(b) {
			h := b[off : off+frameHeaderSize]
			if crc32.Checksum(h[:8], castagnoli) != binary.LittleEndian.Uint32(h[8:12]) || binary.LittleEndian.Uint32(h[4:8]) != uint32(seq) {
				t.Fatalf("%s: the frame header at %d is not sealed for segment %d: % x", filepath.Base(name), off, seq, h)
			}
		}
	}
}

// frameStarts returns where the frame headers of b, a version 2 segment
// file's bytes, start, walking them by their lengths.
func frameStarts(b []byte) []int64 {
	var offs []int64
	for off := int64(fileHeaderSize); off+frameHeaderSize <= int64(len(b)); off += frameHeaderSize + int64(binary.LittleEndian.Uint32(b[off:])) {
		offs = append(offs, off)
	}
	return offs
}

// TestUnsealedHeadersRead reads a segment whose frame headers were
// written unsealed (seg and lcrc zero), as servers before the batch.parts
// fix wrote some: the records are read, in order, and not counted as
// damage; one whose body does not match its CRC is damage, skipped.
func TestUnsealedHeadersRead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{NoSync: true})
	var want []*Record
	for i, size := range []int{100, copyLimit + 10, 300, 5000} {
		r := testRecord(i, size)
		if err := s.Append(r); err != nil {
			t.Fatal(err)
		}
		want = append(want, r)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	files := segmentFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("segments %v, want one", files)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	// Unseal the first three headers.
	offs := frameStarts(data)
	if len(offs) != len(want) {
		t.Fatalf("walked %d frames, want %d", len(offs), len(want))
	}
	for _, off := range offs[:3] {
		clear(data[off+4 : off+12])
	}
	s = reopenWith(t, dir, files[0], data)
	readsBack(t, s, want, 0)
	s.Close()

	// An unsealed header whose body was changed is damage: reading goes
	// on at the next sealed record (resync does not look for unsealed
	// ones).
	data[offs[1]+frameHeaderSize+20] ^= 1
	s = reopenWith(t, dir, files[0], data)
	defer s.Close()
	readsBack(t, s, []*Record{want[0], want[3]}, 1)
}

func TestReadFromLimits(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, t.TempDir(), Options{NoSync: true})
	defer s.Close()
	for i := range 10 {
		if err := s.Append(testRecord(i, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	count := func(p Pos, max int, maxBytes int64) (int, Pos) {
		n := 0
		next, err := s.ReadFrom(p, max, maxBytes, func(*Record, Pos) error { n++; return nil })
		if err != nil {
			t.Fatal(err)
		}
		return n, next
	}
	if n, _ := count(Pos{}, 3, 0); n != 3 {
		t.Errorf("max 3: passed %d records", n)
	}
	if n, _ := count(Pos{}, 100, 2500); n != 3 {
		t.Errorf("maxBytes 2500 with 1000-byte payloads: passed %d records, want 3", n)
	}
	if n, _ := count(Pos{}, 100, 1); n != 1 {
		t.Errorf("maxBytes 1: passed %d records, want 1", n)
	}
	_, end := count(Pos{}, 100, 0)
	if n, next := count(end, 100, 0); n != 0 || next != end {
		t.Errorf("at the end: passed %d, next %v; want 0, %v", n, next, end)
	}

	// An error from fn stops the read at the record before.
	var first Pos
	s.ReadFrom(Pos{}, 1, 0, func(_ *Record, next Pos) error { first = next; return nil })
	boom := fmt.Errorf("boom")
	calls := 0
	next, err := s.ReadFrom(Pos{}, 100, 0, func(*Record, Pos) error {
		calls++
		if calls == 2 {
			return boom
		}
		return nil
	})
	if err != boom || next != first {
		t.Errorf("fn error: got (%v, %v), want (%v, boom)", next, err, first)
	}
}

// TestConcurrentAppenders: records appended by several goroutines at once
// (their commits batched together, large and small) read back whole, each
// writer's in its order.
func TestConcurrentAppenders(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{SegmentSize: 64 << 10})
	defer s.Close()

	const writers, each = 8, 60
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				r := &Record{Project: w + 1, EventID: fmt.Sprintf("%016x%016x", w, i), Payload: concurrentPayload(w, i)}
				if err := s.Append(r); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
			}
		})
	}
	// Read while writing, too.
	stop := make(chan struct{})
	var rg sync.WaitGroup
	rg.Go(func() {
		var p Pos
		for {
			select {
			case <-stop:
				return
			case <-s.Notify():
			}
			p, _ = s.ReadFrom(p, 50, 0, func(*Record, Pos) error { return nil })
		}
	})
	wg.Wait()
	close(stop)
	rg.Wait()

	got, _ := readAll(t, s, Pos{}, 1000)
	if len(got) != writers*each {
		t.Fatalf("read %d records, want %d", len(got), writers*each)
	}
	next := make([]int, writers)
	for _, r := range got {
		w := r.Project - 1
		if want := fmt.Sprintf("%016x%016x", w, next[w]); r.EventID != want {
			t.Fatalf("writer %d: record %s out of order, want %s", w, r.EventID, want)
		}
		if want := concurrentPayload(w, next[w]); !bytes.Equal(r.Payload, want) {
			t.Fatalf("writer %d: record %s has a %d-byte payload, want %d bytes", w, r.EventID, len(r.Payload), len(want))
		}
		next[w]++
	}
	if d := s.Stats().Damaged; d != 0 {
		t.Errorf("Stats().Damaged = %d, want 0", d)
	}
	allSealed(t, dir)
}

// concurrentPayload is the payload of writer w's record i in
// TestConcurrentAppenders: every fourth is larger than copyLimit, so that
// batches mix referenced payloads with copied ones.
func concurrentPayload(w, i int) []byte {
	b := fmt.Appendf(nil, `{"w":%d,"i":%d}`, w, i)
	if i%4 == w%4 {
		b = append(b, bytes.Repeat([]byte{' '}, copyLimit+w*100)...)
	}
	return b
}

func TestReadersSeeOnlyDurableRecords(t *testing.T) {
	s := mustOpen(t, t.TempDir(), Options{})
	defer s.Close()
	if err := s.Append(testRecord(0, 100)); err != nil {
		t.Fatal(err)
	}

	written := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	s.testHookSync = func() {
		once.Do(func() {
			close(written)
			<-release
		})
	}
	done := make(chan error, 1)
	go func() { done <- s.Append(testRecord(1, 100)) }()
	<-written // record 1 is in the file but not yet fsync'd

	got, _ := readAll(t, s, Pos{}, 10)
	if len(got) != 1 {
		t.Errorf("before fsync: read %d records, want 1", len(got))
	}
	select {
	case err := <-done:
		t.Fatalf("Append returned before fsync: %v", err)
	default:
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, _ := readAll(t, s, Pos{}, 10); len(got) != 2 {
		t.Errorf("after fsync: read %d records, want 2", len(got))
	}
}

func TestTornTailIsIgnored(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{NoSync: true})
	const n = 4
	var want []*Record
	for i := range n {
		want = append(want, testRecord(i, 40))
		if err := s.Append(want[i]); err != nil {
			t.Fatal(err)
		}
	}
	var lastStart Pos // the position after record n-2
	s.ReadFrom(Pos{}, n-1, 0, func(_ *Record, next Pos) error { lastStart = next; return nil })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(dir, segmentName(lastStart.Seg))
	full, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}

	for cut := int64(len(full)) - 1; cut >= lastStart.Off; cut-- {
		s := reopenWith(t, dir, name, full[:cut])
		got, _ := readAll(t, s, Pos{}, 100)
		if len(got) != n-1 {
			t.Fatalf("cut at %d: read %d records, want %d", cut, len(got), n-1)
		}
		if d := s.Stats().Damaged; d != 0 {
			t.Errorf("cut at %d: Damaged = %d, want 0 (a torn tail is not damage)", cut, d)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}

	// Zeros after the last good record (a crash that extended the file)
	// are a torn tail as well.
	// The next Open writes to a new segment and leaves the torn one alone.
	zeroed := append(bytes.Clone(full[:lastStart.Off]), make([]byte, 100)...)
	s = reopenWith(t, dir, name, zeroed)
	defer s.Close()
	extra := testRecord(99, 40)
	if err := s.Append(extra); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(name); err != nil || fi.Size() != int64(len(zeroed)) {
		t.Errorf("torn segment changed after reopen: %v %v", fi.Size(), err)
	}
	var extraPos Pos
	got, _ := readAll(t, s, Pos{}, 100)
	s.ReadFrom(lastStart, 1, 0, func(_ *Record, next Pos) error { extraPos = next; return nil })
	if len(got) != n || sameRecord(got[n-1], extra) != nil {
		t.Fatalf("after reopen: read %d records, want %d ending with the new one", len(got), n)
	}
	if extraPos.Seg <= lastStart.Seg {
		t.Errorf("new record went to segment %d, want one after %d", extraPos.Seg, lastStart.Seg)
	}
	if d := s.Stats().Damaged; d != 0 {
		t.Errorf("Damaged = %d, want 0", d)
	}
}

// TestDamageIsDetected damages one field of the second of three records:
// the reader counts the segment as damaged (once) and skips that record
// alone, reading on from the third, found again by its sealed header
// (resync), also when the records are larger than resync's 64 KiB reads.
func TestDamageIsDetected(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		at   func(start int64) int64 // offset of the byte to flip, given record 1's start
	}{
		{"payload byte", func(start int64) int64 { return start + 30 }},
		{"length field", func(start int64) int64 { return start + 2 }},
		{"segment field", func(start int64) int64 { return start + 5 }},
		{"length crc field", func(start int64) int64 { return start + 9 }},
		{"body crc field", func(start int64) int64 { return start + 13 }},
	} {
		for _, size := range []int{60, 150000} {
			t.Run(fmt.Sprintf("%s/%d", tt.name, size), func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				s := mustOpen(t, dir, Options{NoSync: true})
				for i := range 3 {
					if err := s.Append(testRecord(i, size)); err != nil {
						t.Fatal(err)
					}
				}
				var start Pos
				s.ReadFrom(Pos{}, 1, 0, func(_ *Record, next Pos) error { start = next; return nil })
				s.Close()

				name := filepath.Join(dir, segmentName(start.Seg))
				b, err := os.ReadFile(name)
				if err != nil {
					t.Fatal(err)
				}
				b[tt.at(start.Off)] ^= 0x40
				s = reopenWith(t, dir, name, b)
				defer s.Close()
				later := testRecord(7, 60)
				if err := s.Append(later); err != nil {
					t.Fatal(err)
				}
				want := []*Record{testRecord(0, size), testRecord(2, size), later}
				readsBack(t, s, want, 1)
				// Read one record at a time: each read after the first
				// starts at the damage, or after it.
				got, _ := readAll(t, s, Pos{}, 1)
				sameRecords(t, got, want)
			})
		}
	}
}

// TestDamageWithoutResync: a damaged last record, and a damaged record
// whose followers are all damaged too, end the segment's reading, and the
// next segment is read.
func TestDamageWithoutResync(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{NoSync: true})
	var offs []int64
	for i := range 4 {
		if err := s.Append(testRecord(i, 500)); err != nil {
			t.Fatal(err)
		}
	}
	s.ReadFrom(Pos{}, 10, 0, func(_ *Record, next Pos) error { offs = append(offs, next.Off); return nil })
	s.Close()
	name := segmentFiles(t, dir)[0]
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	// Records 1, 2 and 3 (starting where 0, 1 and 2 end) lose a payload byte.
	for _, off := range offs[:3] {
		b[off+frameHeaderSize+40] ^= 0x40
	}
	s = reopenWith(t, dir, name, b)
	defer s.Close()
	later := testRecord(7, 60)
	if err := s.Append(later); err != nil {
		t.Fatal(err)
	}
	readsBack(t, s, []*Record{testRecord(0, 500), later}, 1)
}

func TestRelease(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{SegmentSize: 2 << 10, NoSync: true})
	defer s.Close()
	for i := range 40 {
		if err := s.Append(testRecord(i, 300)); err != nil {
			t.Fatal(err)
		}
	}
	before := segmentFiles(t, dir)
	if len(before) < 4 {
		t.Fatalf("%d segments, want at least 4", len(before))
	}

	// Read to just after the first record of the third segment.
	var pos Pos
	var segs []uint64
	s.ReadFrom(Pos{}, 100, 0, func(_ *Record, next Pos) error {
		if len(segs) == 0 || segs[len(segs)-1] != next.Seg {
			segs = append(segs, next.Seg)
			if len(segs) == 3 {
				pos = next
			}
		}
		return nil
	})
	if pos.Seg != segs[2] {
		t.Fatalf("setup: pos %v not in the third segment %d", pos, segs[2])
	}
	if err := s.Release(pos); err != nil {
		t.Fatal(err)
	}
	after := segmentFiles(t, dir)
	if len(after) != len(before)-2 {
		t.Errorf("Release in segment 3: %d files left of %d, want 2 fewer", len(after), len(before))
	}
	for _, seq := range segs[:2] {
		if _, err := os.Stat(filepath.Join(dir, segmentName(seq))); !os.IsNotExist(err) {
			t.Errorf("segment %d still there", seq)
		}
	}
	if got, _ := readAll(t, s, pos, 100); len(got) == 0 {
		t.Error("records after the released position are gone")
	}

	// Released to the very end: only the active segment stays.
	_, end := readAll(t, s, pos, 100)
	if err := s.Release(end); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(Pos{Seg: end.Seg + 10}); err != nil {
		t.Fatal(err)
	}
	if n := len(segmentFiles(t, dir)); n != 1 {
		t.Errorf("after releasing everything: %d files, want the active one", n)
	}
	if err := s.Append(testRecord(1000, 10)); err != nil {
		t.Fatalf("Append after Release: %v", err)
	}
	if got, _ := readAll(t, s, end, 10); len(got) != 1 {
		t.Errorf("read %d records after the end, want 1", len(got))
	}
}

func TestReopenContinuesFromSavedPos(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	for i := range 10 {
		if err := s.Append(testRecord(i, 200)); err != nil {
			t.Fatal(err)
		}
	}
	var saved Pos
	s.ReadFrom(Pos{}, 4, 0, func(_ *Record, next Pos) error { saved = next; return nil })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(testRecord(0, 1)); err != ErrClosed {
		t.Errorf("Append after Close: %v, want ErrClosed", err)
	}

	s = mustOpen(t, dir, Options{})
	defer s.Close()
	for i := 10; i < 13; i++ {
		if err := s.Append(testRecord(i, 200)); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := readAll(t, s, saved, 5)
	if len(got) != 9 {
		t.Fatalf("read %d records after the saved position, want 9", len(got))
	}
	for i, r := range got {
		if err := sameRecord(r, testRecord(i+4, 200)); err != nil {
			t.Errorf("record %d: %v", i+4, err)
		}
	}
}

func TestAppendRefusesBadRecords(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, t.TempDir(), Options{NoSync: true})
	defer s.Close()
	// A variable, not a constant: 1<<31+1 does not fit a 32-bit int (the
	// armv6/armv7 builds), where int(over) wraps negative, also invalid.
	over := int64(maxProject) + 1
	for _, tt := range []struct {
		r    Record
		want error
	}{
		{Record{Project: -1}, ErrInvalid},
		{Record{Project: int(over)}, ErrInvalid},
		{Record{EventID: strings.Repeat("e", 2000)}, ErrTooLarge},
		{Record{RemoteAddr: strings.Repeat("a", 2000)}, ErrTooLarge},
		{Record{Payload: make([]byte, 65<<20)}, ErrTooLarge},
	} {
		if err := s.Append(&tt.r); err != tt.want {
			t.Errorf("Append(project %d, %d/%d/%d bytes) = %v, want %v", tt.r.Project, len(tt.r.EventID), len(tt.r.RemoteAddr), len(tt.r.Payload), err, tt.want)
		}
	}
	if got, _ := readAll(t, s, Pos{}, 10); len(got) != 0 {
		t.Errorf("%d refused records were written", len(got))
	}
}

func TestNotifyAndStats(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, t.TempDir(), Options{NoSync: true})
	defer s.Close()
	if st := s.Stats(); st.Files != 1 || !st.Oldest.IsZero() {
		t.Errorf("empty spool: %+v", st)
	}
	for i := range 3 {
		if err := s.Append(testRecord(i, 100)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-s.Notify():
	case <-time.After(time.Second):
		t.Error("no notification after a commit")
	}
	st := s.Stats()
	if !st.Oldest.Equal(testRecord(0, 1).IngestedAt) {
		t.Errorf("Oldest = %v, want record 0's time", st.Oldest)
	}
	if st.Bytes < 300 {
		t.Errorf("Bytes = %d, want at least the payloads", st.Bytes)
	}
	var first Pos
	s.ReadFrom(Pos{}, 1, 0, func(_ *Record, next Pos) error { first = next; return nil })
	s.Release(first)
	if st := s.Stats(); !st.Oldest.Equal(testRecord(1, 1).IngestedAt) {
		t.Errorf("after Release: Oldest = %v, want record 1's time", st.Oldest)
	}
}

func TestIgnoresForeignFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, name := range []string{"notes.txt", "0000000000000001.spool.tmp", "zz.spool"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A segment-named file without our magic is damage, not a crash.
	if err := os.WriteFile(filepath.Join(dir, segmentName(1)), []byte(strings.Repeat("junk", 10)), 0o600); err != nil {
		t.Fatal(err)
	}
	s := mustOpen(t, dir, Options{NoSync: true})
	defer s.Close()
	if err := s.Append(testRecord(1, 10)); err != nil {
		t.Fatal(err)
	}
	if got, _ := readAll(t, s, Pos{}, 10); len(got) != 1 {
		t.Errorf("read %d records, want 1", len(got))
	}
	if d := s.Stats().Damaged; d != 1 {
		t.Errorf("Damaged = %d, want 1", d)
	}
}

// BenchmarkAppendParallel measures durable appends of ~14 KB events from
// many goroutines (real fsync, group commit). Run it briefly:
//
//	go test ./ingest/spool -run '^$' -bench AppendParallel -benchtime 3000x
func BenchmarkAppendParallel(b *testing.B) {
	s := mustOpen(b, b.TempDir(), Options{})
	defer s.Close()
	r := testRecord(1, 14<<10)
	b.SetBytes(int64(len(r.Payload)))
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rec := *r
		for pb.Next() {
			if err := s.Append(&rec); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

func TestPosRoundTrip(t *testing.T) {
	t.Parallel()
	for _, p := range []Pos{{}, {Seg: 3, Off: 4096}, {Seg: 1<<40 + 1, Off: 1 << 33}} {
		got, err := ParsePos(p.String())
		if err != nil || got != p {
			t.Errorf("ParsePos(%q) = %v, %v", p.String(), got, err)
		}
	}
	if p, err := ParsePos(""); err != nil || p != (Pos{}) {
		t.Errorf(`ParsePos("") = %v, %v`, p, err)
	}
	for _, bad := range []string{"1", "a:b", "1:-2", ":"} {
		if _, err := ParsePos(bad); err == nil {
			t.Errorf("ParsePos(%q) accepted", bad)
		}
	}
}

// A Hold keeps what its reader has not passed, whatever Release is told;
// once it moves on (or closes), Release deletes as before. End, BytesAfter
// and Appended describe what a reader has left.
func TestHold(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{SegmentSize: 2 << 10, NoSync: true})
	defer s.Close()
	h := s.Hold(s.End())
	for i := range 40 {
		if err := s.Append(testRecord(i, 300)); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Appended(); got != 40 {
		t.Errorf("Appended = %d, want 40", got)
	}
	all := len(segmentFiles(t, dir))
	end := s.End()
	if got, _ := readAll(t, s, end, 10); len(got) != 0 {
		t.Errorf("records after End: %d", len(got))
	}
	if n := s.BytesAfter(Pos{}); n < 40*300 || n != s.BytesAfter(Pos{Seg: 1}) {
		t.Errorf("BytesAfter(start) = %d, want all of 40 records", n)
	}
	if n := s.BytesAfter(end); n != 0 {
		t.Errorf("BytesAfter(End) = %d, want 0", n)
	}

	// The digest is done with everything; the hold is not.
	if err := s.Release(end); err != nil {
		t.Fatal(err)
	}
	if n := len(segmentFiles(t, dir)); n != all {
		t.Fatalf("Release past a hold: %d files of %d left, want all", n, all)
	}
	// The hold moves halfway: what lies before it goes.
	var mid Pos
	s.ReadFrom(Pos{}, 20, 0, func(_ *Record, next Pos) error { mid = next; return nil })
	if err := h.Release(mid); err != nil {
		t.Fatal(err)
	}
	left := len(segmentFiles(t, dir))
	if left >= all || left <= 1 {
		t.Errorf("hold at the middle: %d files of %d left", left, all)
	}
	if got, _ := readAll(t, s, mid, 100); len(got) != 20 {
		t.Errorf("after the hold: %d records, want 20", len(got))
	}
	// Closed, the hold no longer counts.
	h.Close()
	if err := s.Release(end); err != nil {
		t.Fatal(err)
	}
	if n := len(segmentFiles(t, dir)); n != 1 {
		t.Errorf("hold closed, all released: %d files, want the active one", n)
	}
}

// A spool read only through a hold (no digest, no Release) deletes what
// the hold passed.
func TestHoldAlone(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{SegmentSize: 2 << 10, NoSync: true})
	defer s.Close()
	h := s.Hold(Pos{})
	for i := range 40 {
		s.Append(testRecord(i, 300))
	}
	if err := h.Release(s.End()); err != nil {
		t.Fatal(err)
	}
	if n := len(segmentFiles(t, dir)); n != 1 {
		t.Errorf("%d files, want the active one", n)
	}
}

// TestReadFromSmallCosts: a read that finds the spool fully read takes no
// scanner, and a read of one record (the readiness check's) a small one;
// only batch reads get a scanner with the 64 KiB buffer, which the spool
// keeps for the next batch read until ReleaseBuffers. Each read starts
// with the pools emptied, as after the GCs between an idle server's polls.
func TestReadFromSmallCosts(t *testing.T) {
	s := mustOpen(t, t.TempDir(), Options{NoSync: true})
	defer s.Close()
	for i := range 5 {
		if err := s.Append(testRecord(i, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	read := func(p Pos, max int) (n int, scanners, peekers int64) {
		runtime.GC()
		runtime.GC() // a pooled scanner survives one GC
		s0, p0 := scannersMade.Load(), peekersMade.Load()
		if _, err := s.ReadFrom(p, max, 0, func(*Record, Pos) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n, scannersMade.Load() - s0, peekersMade.Load() - p0
	}
	for _, c := range []struct {
		name              string
		p                 Pos
		max, records      int
		scanners, peekers int64
	}{
		{"fully read", s.End(), 200, 0, 0, 0},
		{"one record", Pos{}, 1, 1, 0, 1},
		{"a batch", Pos{}, 200, 5, 1, 0},
		// The batch's scanner is kept, whatever the GC does meanwhile.
		{"the next batch", Pos{}, 200, 5, 0, 0},
		{"after ReleaseBuffers", Pos{}, 200, 5, 1, 0},
	} {
		if c.name == "after ReleaseBuffers" {
			s.ReleaseBuffers()
		}
		n, sc, pk := read(c.p, c.max)
		if n != c.records || sc != c.scanners || pk != c.peekers {
			t.Errorf("%s: %d records read, %d 64 KiB scanners and %d 4 KiB ones made; want %d, %d and %d",
				c.name, n, sc, pk, c.records, c.scanners, c.peekers)
		}
	}
}
