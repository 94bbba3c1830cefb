package store

import (
	"cmp"
	"fmt"
	"os"
	"slices"

	"github.com/tinysink/tinysink/internal/xsort"
)

// Cleaning. When a project's segments waste half again as much disk as its
// live bodies (compactDue), the waste is given back by cleaning their most
// wasteful parts instead of copying every live body: the live bodies of a
// run of up to cleanChunk bytes are copied to the end of the last segment,
// their records are pointed at the copies (the log is not rewritten: no
// record is renumbered, so the id index and the issues' chains stay as they
// are), and the space between the bodies before and after the run is given
// back, whole segments deleted and the rest punched out. Passes go on
// until the waste is at most two fifths of the live bodies' size.
//
// Retention evicts events by their irrelevance and age, so the dead bodies
// lie scattered. Where most of a region died, the gaps merged into holes
// that retention punched (laterMinHole); the waste is where bodies died
// here and there: gaps of less than laterMinHole bytes, which the digest's
// rounds leave until their neighbours die too, and bodies smaller than a
// block between live ones, which free nothing. A pass picks the run whose
// surrounding gaps waste the most, by that rule (mostWasteful), and gives
// up (leaving it to a compaction, which copies every body) when no run
// gives back half the bytes it copies.
//
// At a project's maximum, where each new event evicts one, copying every
// live body (what a compaction did when the waste reached half) wrote as
// many bytes again as the events' own bodies: with loadgen at c=8 on a
// 2-vCPU VM, ~9,600 bodies (43 MB) every ~8,000 new events, 4.6 KB per
// event, and the digest waited for each copy (~70 ms). A pass copies 4 MiB
// and gives back 5–8 MB (README, thirty-second round).
//
// A segment is deleted once no live body is left in it, so the events that
// retention keeps longest (a rare issue's) would each keep a sparse segment
// file: beyond segmentsNeeded, the segments with the fewest live bytes are
// emptied first (emptyCrowded).
//
// It is crash-safe in the same way as a digest batch and a retention
// round. The copies are written after the last segment's committed end
// and fsync'd; the new end is committed (buntdb) before any record names a
// copy; the records are patched in place (a record's segment and offset
// share one aligned 8-byte word) and fsync'd; only then is the old space
// given back. A crash before the commit leaves copies past the committed
// end (cut off at open, like a batch's); after it, each record names one
// of two identical bodies, and the space of the others is waste that the
// next cleaning gives back.

// cleanChunk bounds the bodies one cleaning pass copies (a variable for
// tests).
var cleanChunk int64 = 4 << 20

// A cleaning stops once the waste is at most cleanToNum/cleanToDen of the
// live bodies' size: it starts at a half (compactDue), so each cleaning
// gives back about a tenth of the live size.
const cleanToNum, cleanToDen = 2, 5

// clean gives back the waste of project pid's segments by copying the live
// bodies of their most wasteful parts (see above), and reports whether it
// brought the waste down to its goal. When no part is worth copying, or a
// pass gives nothing back (a file system without hole punching), it stops
// and reports false: the caller then copies every body (compactLocked).
// Callers hold digestMu but not el.mu.
func (db *DB) clean(pid int, el *eventLog) (bool, error) {
	// Retention's lighter records, in its kept array (DB.cands), hold
	// what a cleaning needs.
	el.mu.RLock()
	live, err := el.liveCandidates(db.cands)
	el.mu.RUnlock()
	if err != nil {
		return false, err
	}
	defer func() { db.keepCands(live) }()
	liveBytes := candidateBytes(live)
	// In file order: after a cleaning the log order is not the bodies'.
	xsort.SortFunc(live, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(a.r.Seg, b.r.Seg), cmp.Compare(a.r.Off, b.r.Off))
	})
	var buf []byte
	if live, buf, err = db.emptyCrowded(pid, el, live, liveBytes, buf); err != nil {
		return false, fmt.Errorf("clean project %d: %w", pid, err)
	}
	last := int64(-1)
	for {
		el.mu.RLock()
		tail := segPos{el.segNo, el.segOff}
		waste, err := el.waste(liveBytes)
		el.mu.RUnlock()
		if err != nil {
			return false, fmt.Errorf("clean project %d: %w", pid, err)
		}
		if waste*cleanToDen <= liveBytes*cleanToNum {
			return true, nil
		}
		if last >= 0 && waste >= last {
			return false, nil // the last pass gave nothing back
		}
		last = waste
		i, j, ok := el.mostWasteful(live, tail)
		if !ok {
			return false, nil
		}
		var at segPos
		if at, buf, err = db.relocate(pid, el, live[i:j], buf); err == nil && db.compactCrash != nil {
			err = db.compactCrash("relocated")
		}
		if err != nil {
			return false, fmt.Errorf("clean project %d: %w", pid, err)
		}
		// Nothing live lies between live[i-1] and live[j] any more.
		from, to := segPos{}, tail
		if i > 0 {
			from = segPos{live[i-1].r.Seg, live[i-1].r.Off + live[i-1].r.Len}
		}
		if j < len(live) {
			to = segPos{live[j].r.Seg, live[j].r.Off}
		}
		el.freeRange(from, to)
		live = movedTo(live, i, j, at)
	}
}

// movedTo returns live, records in file order, after relocate copied the
// bodies of live[i:j] to at: they now lie at the end, in the same order.
func movedTo(live []candidate, i, j int, at segPos) []candidate {
	moved := slices.Clone(live[i:j])
	for k := range moved {
		moved[k].r.Seg, moved[k].r.Off = at.seg, at.off
		at.off += moved[k].r.Len
	}
	return append(slices.Delete(live, i, j), moved...)
}

// emptyCrowded deletes el's segments beyond segmentsNeeded, those with the
// fewest live bytes first (never the last one), after copying their live
// bodies to the end. live holds the live records in file order and is
// returned in file order again; buf is reused and returned. Callers hold
// digestMu but not el.mu.
func (db *DB) emptyCrowded(pid int, el *eventLog, live []candidate, liveBytes int64, buf []byte) ([]candidate, []byte, error) {
	entries, err := os.ReadDir(el.dir)
	if err != nil {
		return live, buf, err
	}
	var segs []uint32
	for _, e := range entries {
		if n, ok := segmentNumber(e.Name()); ok {
			segs = append(segs, n)
		}
	}
	bytesIn := map[uint32]int64{}
	for _, c := range live {
		bytesIn[c.r.Seg] += int64(c.r.Len)
	}
	el.mu.RLock()
	tail := el.segNo
	el.mu.RUnlock()
	files := len(segs)
	segs = slices.DeleteFunc(segs, func(n uint32) bool { return n >= tail })
	xsort.SortFunc(segs, func(a, b uint32) int { return cmp.Or(cmp.Compare(bytesIn[a], bytesIn[b]), cmp.Compare(a, b)) })
	for _, n := range segs {
		if files <= segmentsNeeded(liveBytes) {
			break
		}
		i, _ := slices.BinarySearchFunc(live, n, func(c candidate, n uint32) int { return cmp.Compare(c.r.Seg, n) })
		j := i
		for j < len(live) && live[j].r.Seg == n {
			j++
		}
		if j > i {
			at, b, err := db.relocate(pid, el, live[i:j], buf)
			buf = b
			if err != nil {
				return live, buf, err
			}
			live = movedTo(live, i, j, at)
		}
		el.mu.Lock()
		el.dropSegment(n)
		if el.segNo != tail {
			tail, files = el.segNo, files+1 // the copies started one
		}
		el.mu.Unlock()
		files--
	}
	return live, buf, nil
}

// mostWasteful returns the run live[i:j] of live bodies (in file order,
// up to cleanChunk bytes, at least one) whose copy gives back the most
// space: the gaps between them and around them, as far as retention left
// them unpunched (gaps of less than laterMinHole bytes of whole blocks,
// and the partial blocks of the others). ok is false when no run would
// give back half the bytes it copies: a compaction does better then.
func (el *eventLog) mostWasteful(live []candidate, tail segPos) (i, j int, ok bool) {
	if len(live) == 0 {
		return 0, 0, false
	}
	sizes := map[uint32]int64{}
	size := func(seg uint32) int64 {
		if seg == tail.seg {
			return int64(tail.off)
		}
		n, ok := sizes[seg]
		if !ok {
			if st, err := os.Stat(el.segPath(seg)); err == nil {
				n = st.Size()
			}
			sizes[seg] = n
		}
		return n
	}
	// gap[k] is the waste just before live[k]; gap[len(live)] that after
	// the last body.
	gap := make([]int64, len(live)+1)
	prev := segPos{live[0].r.Seg, 0}
	for k := 0; k <= len(live); k++ {
		next := tail
		if k < len(live) {
			next = segPos{live[k].r.Seg, live[k].r.Off}
		}
		if prev.seg == next.seg {
			gap[k] = unpunched(int64(prev.off), int64(next.off))
		} else {
			gap[k] = unpunched(int64(prev.off), size(prev.seg)) + unpunched(0, int64(next.off))
		}
		if k < len(live) {
			prev = segPos{live[k].r.Seg, live[k].r.Off + live[k].r.Len}
		}
	}
	// A window of bodies live[a:b] of up to cleanChunk bytes gives back
	// gap[a..b]; slide it along.
	var best, cost, gain, bestCost int64 = -1, 0, gap[0], 0
	for a, b := 0, 0; a < len(live); a++ {
		for b < len(live) && (b == a || cost+int64(live[b].r.Len) <= cleanChunk) {
			cost += int64(live[b].r.Len)
			gain += gap[b+1]
			b++
		}
		if gain > best {
			best, bestCost, i, j = gain, cost, a, b
		}
		cost -= int64(live[a].r.Len)
		gain -= gap[a]
	}
	return i, j, 2*best >= bestCost
}

// unpunched returns the disk space that a gap [from, to) between bodies
// of a segment wastes, as retention leaves it: all of it when its whole
// blocks are fewer than laterMinHole bytes (the digest's rounds do not
// punch it), else its partial blocks.
func unpunched(from, to int64) int64 {
	if to <= from {
		return 0
	}
	ws, we := wholeBlocks(from, to)
	if we-ws >= laterMinHole {
		return to - from - (we - ws)
	}
	return to - from
}

// cleanPunch punches a hole; tests replace it to play a file system that
// gives nothing back.
var cleanPunch = punchHole

// segPos is a place in a project's segments.
type segPos struct {
	seg, off uint32
}

// relocate copies the bodies of recs (live records, in file order) to the
// end of el's last segment, or of a new one when they do not fit in it,
// points the records at the copies, and returns where the copies start.
// buf is reused and returned. Callers hold digestMu but not el.mu.
func (db *DB) relocate(pid int, el *eventLog, recs []candidate, buf []byte) (at segPos, _ []byte, err error) {
	size := candidateBytes(recs)
	el.mu.RLock()
	segNo, segOff, seg := el.segNo, el.segOff, el.seg
	el.mu.RUnlock()
	// Written where the next batch would write; committed below before
	// any record names them. The digest starts a new segment at
	// segmentMax; the copies do when they would pass it.
	rotated := segOff >= segmentMax || segOff > 0 && int64(segOff)+size > int64(segmentMax)
	if rotated {
		segNo, segOff = segNo+1, 0
		if seg, err = os.OpenFile(el.segPath(segNo), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
			return at, buf, err
		}
	}
	drop := func() {
		if rotated {
			seg.Close()
			os.Remove(el.segPath(segNo))
		}
	}
	// Bodies that lie end to end are copied with one pread and one pwrite,
	// up to compactRead bytes at a time (a larger body alone): the buffer
	// is live heap, and the memory limit's.
	w := int64(segOff)
	for i := 0; i < len(recs) && err == nil; {
		j, n := adjacentRun(i, len(recs), func(k int) (uint32, uint32, uint32) {
			return recs[k].r.Seg, recs[k].r.Off, recs[k].r.Len
		})
		buf = slices.Grow(buf[:0], int(n))[:n]
		el.mu.RLock()
		err = el.readAt(recs[i].r.Seg, recs[i].r.Off, buf)
		el.mu.RUnlock()
		if err == nil {
			_, err = seg.WriteAt(buf, w)
		}
		i, w = j, w+n
	}
	if err == nil {
		err = seg.Sync()
	}
	if err == nil && rotated {
		err = syncDir(el.dir)
	}
	newEnd := segOff + uint32(size)
	if err == nil {
		err = db.update(func(tx *kvTx) error {
			var p Project
			if err := getJSON(tx, projectKey(pid), &p); err != nil {
				return err
			}
			p.Seg, p.SegOff = segNo, newEnd
			return setJSON(tx, projectKey(pid), &p)
		})
	}
	if err != nil {
		drop()
		return at, buf, fmt.Errorf("copy event bodies: %w", err)
	}
	if db.compactCrash != nil {
		if err := db.compactCrash("copied"); err != nil {
			return at, buf, err // as if the process died: no clean-up
		}
	}
	patches := make([]recPatch, 0, 2*len(recs))
	off := segOff
	for _, c := range recs {
		patches = append(patches, recPatch{n: c.n, off: recSeg, v: segNo}, recPatch{n: c.n, off: recOff, v: off})
		off += c.r.Len
	}
	xsort.SortFunc(patches, func(a, b recPatch) int { return cmp.Compare(a.n, b.n) })
	el.mu.Lock()
	if rotated {
		el.segMu.Lock()
		el.segs[el.segNo] = el.seg
		el.segMu.Unlock()
		el.seg, el.segNo = seg, segNo
	}
	el.segOff = newEnd
	_, err = patchRecords(el.log, patches, nil)
	el.mu.Unlock()
	if err == nil {
		err = el.log.Sync()
	}
	if err != nil {
		return at, buf, fmt.Errorf("point events at their copies: %w", err)
	}
	return segPos{segNo, segOff}, buf, nil
}

// freeRange gives back the space of el's segments from from to to (in
// file order), where no live body lies any more: the segments wholly
// inside are deleted, the rest punched out in whole blocks. The zero from
// is the start of the first segment. Callers hold digestMu but not el.mu.
func (el *eventLog) freeRange(from, to segPos) {
	entries, err := os.ReadDir(el.dir)
	if err != nil {
		return
	}
	el.mu.Lock()
	defer el.mu.Unlock()
	for _, e := range entries {
		n, ok := segmentNumber(e.Name())
		if ok && (n > from.seg || n == from.seg && from.off == 0) && n < to.seg && n != el.segNo {
			el.dropSegment(n)
		}
	}
	punch := func(seg uint32, a, b int64) {
		if ws, we := wholeBlocks(a, b); we > ws {
			if f, err := os.OpenFile(el.segPath(seg), os.O_RDWR, 0); err == nil {
				cleanPunch(f, ws, we-ws)
				f.Close()
			}
		}
	}
	switch {
	case from.seg == to.seg:
		punch(to.seg, int64(from.off), int64(to.off))
	case from.off > 0:
		if st, err := os.Stat(el.segPath(from.seg)); err == nil {
			punch(from.seg, int64(from.off), st.Size())
		}
		fallthrough
	default:
		punch(to.seg, 0, int64(to.off))
	}
}
