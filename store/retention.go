package store

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/tinysink/tinysink/internal/xsort"
)

// Retention (reference §7.1, §7.2). Evicting an event marks its record
// deleted in the project's log, relinks its issue's chain around it, punches
// its body out of the segment file (or deletes a segment with no live
// bodies left), and lowers the stored counts in one buntdb transaction. The
// files change first: a crash in between leaves counts a little high,
// which Open recomputes from the log.

// EvictTarget returns how many events an eviction round should remove from
// a project storing stored events under a maximum of max: at least the
// overflow, and at least 5% of the maximum so that rounds are rare.
func EvictTarget(stored int64, max int) int {
	if max <= 0 || stored <= int64(max) {
		return 0
	}
	return int(max64(stored-int64(max), int64(max)/20))
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// ageBand returns an event's age band (§7.1): 0 within the current hour,
// then k for ages of 4^(k-1) to 4^k-1 whole hours.
func ageBand(digestedMs int64, now time.Time) int {
	age := (now.UnixMilli() - digestedMs) / int64(time.Hour/time.Millisecond)
	if age <= 0 {
		return 0
	}
	return (bits.Len64(uint64(age))-1)/2 + 1
}

// candidate is a live event considered by a retention round: its record's
// number and the fields of it that a round reads.
type candidate struct {
	n uint32
	r candidateRec
}

// candidateRec holds the fields of a record that retention reads: a round
// makes one per live event of the project, and with the whole record (80
// bytes a candidate, where this is 48) the rounds were 7.5 % of the bytes
// the server allocated at full speed.
type candidateRec struct {
	Digested                          int64
	Issue, Seg, Off, Len, Prev, Flags uint32
	Irrelevance                       uint8
}

// scanLive returns the project's live records. Callers hold el.mu.
func (el *eventLog) scanLive(fn func(n uint32, r *record)) error {
	buf := make([]byte, 1024*recSize)
	var r record
	for start := uint32(0); start < el.n; {
		cnt := min(el.n-start, 1024)
		b := buf[:int(cnt)*recSize]
		if _, err := el.log.ReadAt(b, int64(start)*recSize); err != nil {
			return fmt.Errorf("read event log: %w", err)
		}
		for i := range cnt {
			rb := b[int(i)*recSize:]
			// Only live records are decoded: a log may hold twice as many
			// dead ones as live (compactDue).
			if binary.LittleEndian.Uint32(rb[recFlags:])&flagDeleted != 0 {
				continue
			}
			r.unmarshal(rb)
			fn(start+i, &r)
		}
		start += cnt
	}
	return nil
}

// collectLive returns what conv makes of each of the project's live
// records, in log order, and notes how many are dead. Callers hold
// digestMu (which guards el.dead) and el.mu, read or write.
//
// The slice is allocated for the live records the log held at the last
// count, not for the log's length: a log may hold twice as many dead
// records as live ones before it is compacted, and each retention round
// makes this slice.
func collectLive[T any](el *eventLog, buf []T, conv func(n uint32, r *record) T) ([]T, error) {
	live := buf[:0]
	if want := int(el.n - min(el.dead, el.n)); cap(live) < want {
		live = make([]T, 0, want)
	}
	err := el.scanLive(func(n uint32, r *record) { live = append(live, conv(n, r)) })
	if err == nil {
		el.dead = el.n - uint32(len(live))
	}
	return live, err
}

// liveCandidates returns the project's live records as retention reads
// them (see collectLive), in buf's array when it has room.
func (el *eventLog) liveCandidates(buf []candidate) ([]candidate, error) {
	return collectLive(el, buf, func(n uint32, r *record) candidate {
		return candidate{n: n, r: candidateRec{Digested: r.Digested, Issue: r.Issue, Seg: r.Seg,
			Off: r.Off, Len: r.Len, Prev: r.Prev, Flags: r.Flags, Irrelevance: r.Irrelevance}}
	})
}

// keepCands keeps cands's array for the next liveCandidates (DB.cands),
// unless it is larger than a default project's list needs. The caller
// holds digestMu and no longer uses cands.
func (db *DB) keepCands(cands []candidate) {
	keepArray(&db.cands, cands, maxKeptCands)
}

// maxKeptCands bounds the array DB.cands keeps: a project at the default
// retention maximum (10,000 events), and its 5 % of overflow.
const maxKeptCands = DefaultRetention * 21 / 20

// liveRecord is a live record and its number, as compaction copies it.
type liveRecord struct {
	n uint32
	r record
}

// liveRecords returns the project's live records whole, for compaction
// (see collectLive).
func (el *eventLog) liveRecords() ([]liveRecord, error) {
	return collectLive(el, nil, func(n uint32, r *record) liveRecord { return liveRecord{n: n, r: *r} })
}

// EvictProject removes up to target events of project pid, the most
// irrelevant first: highest item irrelevance plus age band, older first
// among equals, never-evict events only when nothing else is left. It
// returns how many it removed. Their disk space is given back before it
// returns.
func (db *DB) EvictProject(pid int, target int) (int, error) {
	return db.evictProject(pid, target, false)
}

// EvictProjectFreeLater is EvictProject giving the disk space back in the
// background (puncher.go): the digest's retention rounds, which must not
// wait for it.
func (db *DB) EvictProjectFreeLater(pid int, target int) (int, error) {
	return db.evictProject(pid, target, true)
}

func (db *DB) evictProject(pid int, target int, later bool) (int, error) {
	if target <= 0 {
		return 0, nil
	}
	now := db.Now()
	return db.removeEvents(pid, later, func(cands []candidate) []uint32 {
		return pickEvict(cands, target, now)
	})
}

// maxScore bounds an eviction score: an item irrelevance (a uint8) plus an
// age band (at most 32 for any int64 age).
const maxScore = 256 + 64

// pickEvict returns the numbers of the target candidates (in log order)
// that go first: never-evict ones only after all others, then the highest
// score (item irrelevance plus age band), then the oldest among equals.
// It counts scores instead of sorting: a round looks at every live event
// of the project, and sorting them was most of its cost after the reads.
func pickEvict(cands []candidate, target int, now time.Time) []uint32 {
	target = min(target, len(cands))
	if target <= 0 {
		return nil
	}
	scores := make([]uint16, len(cands))
	var count [2][maxScore]int // [never][score]
	for i, c := range cands {
		sc := min(int(c.r.Irrelevance)+ageBand(c.r.Digested, now), maxScore-1)
		scores[i] = uint16(sc)
		count[never(c.r.Flags)][sc]++
	}
	// Walk the classes in eviction order to find the last one taken: all
	// of the classes before it go, and its oldest members fill the rest.
	left := target
	lastNever, lastScore, partial := 0, 0, 0
walk:
	for nv := range 2 {
		for sc := maxScore - 1; sc >= 0; sc-- {
			if k := count[nv][sc]; k >= left {
				lastNever, lastScore, partial = nv, sc, left
				break walk
			} else {
				left -= k
			}
		}
	}
	out := make([]uint32, 0, target)
	for i, c := range cands {
		nv, sc := never(c.r.Flags), int(scores[i])
		switch {
		case nv < lastNever || nv == lastNever && sc > lastScore:
			out = append(out, c.n)
		case nv == lastNever && sc == lastScore && partial > 0:
			out = append(out, c.n)
			partial--
		}
	}
	return out
}

// never is 1 for the flags of a never-evict record, else 0.
func never(flags uint32) int {
	if flags&flagNeverEvict != 0 {
		return 1
	}
	return 0
}

// EvictOlderThan removes every event of project pid digested before cutoff,
// never-evict ones included (age-based retention, §7.2).
func (db *DB) EvictOlderThan(pid int, cutoff time.Time) (int, error) {
	ms := cutoff.UnixMilli()
	return db.removeEvents(pid, false, func(cands []candidate) []uint32 {
		var out []uint32
		for _, c := range cands {
			if c.r.Digested < ms {
				out = append(out, c.n)
			}
		}
		return out
	})
}

// removeEvents removes the records that pick chooses among the project's
// live records (given in log order, which pick keeps), as one step between
// digest batches, and compacts the project's files when that is due. later
// leaves the holes to the puncher, and gaps of fewer than laterMinHole
// bytes to later rounds.
func (db *DB) removeEvents(pid int, later bool, pick func([]candidate) []uint32) (int, error) {
	db.digestMu.Lock()
	defer db.digestMu.Unlock()
	el := db.eventLog(pid)
	if el == nil {
		return 0, ErrNotFound
	}
	var due bool
	n, err := func() (int, error) {
		el.mu.Lock()
		defer el.mu.Unlock()
		cands, err := el.liveCandidates(db.cands)
		if err != nil {
			return 0, err
		}
		defer db.keepCands(cands)
		doomed := pick(cands)
		if len(doomed) == 0 {
			return 0, nil
		}
		liveBytes, err := db.applyRemoval(pid, el, cands, doomed, later, nil)
		if err != nil {
			return len(doomed), err
		}
		due, _ = el.compactDue(len(cands)-len(doomed), liveBytes)
		return len(doomed), nil
	}()
	if err != nil || !due {
		return n, err
	}
	_, err = db.compactLocked(pid, false)
	return n, err
}

// applyRemoval deletes the doomed records of el, given all live records
// (in log order), and returns the bytes of the surviving bodies. Callers
// hold digestMu and el.mu. The dead bodies' disk space is given back
// before it returns, or with later by the puncher (puncher.go). extra,
// when set, runs in the same buntdb transaction.
func (db *DB) applyRemoval(pid int, el *eventLog, live []candidate, doomed []uint32, later bool, extra func(tx *kvTx) error) (liveBytes int64, err error) {
	dead := make(bitset, el.n/64+1) // every record number is below el.n
	for _, n := range doomed {
		dead.set(n)
	}
	// 1. Mark the records deleted.
	patches := make([]recPatch, 0, len(doomed))
	for _, c := range live {
		if dead.has(c.n) {
			patches = append(patches, recPatch{n: c.n, off: recFlags, v: c.r.Flags | flagDeleted})
		}
	}
	buf, err := patchRecords(el.log, patches, nil)
	if err != nil {
		return 0, fmt.Errorf("mark event deleted: %w", err)
	}
	el.dead += uint32(len(patches))
	if err := el.log.Sync(); err != nil {
		return 0, err
	}
	// 2. Relink each issue's chain over the survivors; note first and last.
	type ends struct {
		first, last uint32 // record+1
		removed     int64
	}
	issues := map[uint32]*ends{}
	segLive := map[uint32]int{} // surviving bodies per segment
	patches = patches[:0]
	for _, c := range live {
		e := issues[c.r.Issue]
		if e == nil {
			e = &ends{}
			issues[c.r.Issue] = e
		}
		if dead.has(c.n) {
			e.removed++
			continue
		}
		segLive[c.r.Seg]++
		liveBytes += int64(c.r.Len)
		if c.r.Prev != e.last {
			patches = append(patches, recPatch{n: c.n, off: recPrev, v: e.last})
		}
		if e.first == 0 {
			e.first = c.n + 1
		}
		e.last = c.n + 1
	}
	if _, err := patchRecords(el.log, patches, buf); err != nil {
		return 0, fmt.Errorf("relink events: %w", err)
	}
	if err := el.log.Sync(); err != nil {
		return 0, err
	}
	// 3. Give the disk space back: punch every gap between the surviving
	// bodies of each segment a dead body touched (a hole frees only whole
	// blocks, so gaps are punched whole, old holes included), and delete
	// old segments with no body left.
	deadOffs := map[uint32][]int64{} // segment → offsets of its newly dead bodies
	for _, c := range live {
		if dead.has(c.n) {
			deadOffs[c.r.Seg] = append(deadOffs[c.r.Seg], int64(c.r.Off))
		}
	}
	// segment → its surviving bodies, each segment's list cut from one
	// array (DB.spans)
	ranges := map[uint32][][2]int64{}
	total := 0
	for seg := range deadOffs {
		total += segLive[seg]
	}
	spans := db.spans[:0]
	if cap(spans) < total {
		spans = make([][2]int64, 0, total)
	}
	for seg := range deadOffs {
		if k := segLive[seg]; k > 0 {
			n := len(spans)
			ranges[seg] = spans[n : n : n+k]
			spans = spans[:n+k]
		}
	}
	keepArray(&db.spans, spans, maxKeptCands)
	for _, c := range live {
		if rs, ok := ranges[c.r.Seg]; ok && !dead.has(c.n) {
			ranges[c.r.Seg] = append(rs, [2]int64{int64(c.r.Off), int64(c.r.Off) + int64(c.r.Len)})
		}
	}
	var holes []hole
	minHole := int64(punchBlock)
	if later {
		minHole = laterMinHole
	}
	for seg, offs := range deadOffs {
		if len(ranges[seg]) == 0 && seg != el.segNo {
			el.dropSegment(seg)
			continue
		}
		end := int64(el.segOff)
		if seg != el.segNo {
			st, err := os.Stat(el.segPath(seg))
			if err != nil {
				continue
			}
			end = st.Size()
		}
		rs := ranges[seg]
		xsort.SortFunc(rs, func(a, b [2]int64) int { return cmp.Compare(a[0], b[0]) })
		// Punch the gap around each newly dead body, once per gap.
		gaps := map[[2]int64]bool{}
		for _, off := range offs {
			k, _ := slices.BinarySearchFunc(rs, off, func(r [2]int64, off int64) int { return cmp.Compare(r[0], off) })
			from, to := int64(0), end
			if k > 0 {
				from = rs[k-1][1]
			}
			if k < len(rs) {
				to = rs[k][0]
			}
			gaps[[2]int64{from, to}] = true
		}
		for g := range gaps {
			// Only the gap's whole blocks are punched. Punching its
			// partial blocks too would free nothing more: the file system
			// zeroes those bytes instead, which dirties the page and
			// writes it back, two pages per hole (on ext4, 4,000 holes of
			// 2–4 bodies of 3,100 bytes left 63–66 ms of fsync behind
			// them, aligned ones 0.6–0.8 ms). A gap that holds no whole
			// block (most are one ~3 KB body between two live ones) is
			// punched once its neighbours die too, or compaction
			// reclaims it. The digest's rounds (later) wait in the same
			// way for gaps of fewer than laterMinHole bytes of whole blocks.
			if from, to := wholeBlocks(g[0], g[1]); to-from >= minHole {
				holes = append(holes, hole{el: el, seg: seg, off: from, n: to - from, release: to - from})
			}
		}
	}
	if !later || !db.punch.add(holes) {
		punchHoles(holes, nil)
	}
	// 4. The counts.
	var removed int64
	err = db.update(func(tx *kvTx) error {
		for id, e := range issues {
			if e.removed == 0 {
				continue
			}
			removed += e.removed
			var iss Issue
			if err := getJSON(tx, issueKey(id), &iss); errors.Is(err, ErrNotFound) {
				continue
			} else if err != nil {
				return err
			}
			iss.StoredEventCount = max64(0, iss.StoredEventCount-e.removed)
			iss.FirstRec, iss.LastRec = e.first, e.last
			if err := putIssue(tx, &iss); err != nil {
				return err
			}
		}
		var p Project
		if err := getJSON(tx, projectKey(pid), &p); err != nil {
			return err
		}
		p.StoredEventCount = max64(0, p.StoredEventCount-removed)
		if err := setJSON(tx, projectKey(pid), &p); err != nil {
			return err
		}
		if extra != nil {
			return extra(tx)
		}
		return nil
	})
	// The id index needs no change: it skips records flagged deleted.
	return liveBytes, err
}

// bitset is a set of record numbers.
type bitset []uint64

func (b bitset) set(n uint32)      { b[n/64] |= 1 << (n % 64) }
func (b bitset) has(n uint32) bool { return int(n/64) < len(b) && b[n/64]&(1<<(n%64)) != 0 }

// recPatch sets the 32-bit field at offset off of record n to v.
type recPatch struct {
	n   uint32
	off int
	v   uint32
}

// patchWindow is the most records patchRecords reads and writes back at
// once (40 KB).
const patchWindow = 512

// patchRecords applies patches, in ascending record order, to the log f.
// The records of a window of up to patchWindow are read, patched and
// written back with one pread and one pwrite, instead of one pwrite per
// field: a retention round patches ~5% of a project's records, scattered,
// and their system calls were most of its cost. Bytes it does not patch
// are written back as they were; callers hold el.mu and digestMu, so no
// one else writes them meanwhile. buf is reused and returned.
func patchRecords(f *os.File, patches []recPatch, buf []byte) ([]byte, error) {
	for i := 0; i < len(patches); {
		first := patches[i].n
		j := i + 1
		for j < len(patches) && patches[j].n-first < patchWindow {
			j++
		}
		size := int(patches[j-1].n-first+1) * recSize
		buf = slices.Grow(buf[:0], size)[:size]
		if _, err := f.ReadAt(buf, int64(first)*recSize); err != nil {
			return buf, err
		}
		for _, p := range patches[i:j] {
			binary.LittleEndian.PutUint32(buf[int(p.n-first)*recSize+p.off:], p.v)
		}
		if _, err := f.WriteAt(buf, int64(first)*recSize); err != nil {
			return buf, err
		}
		i = j
	}
	return buf, nil
}

// punchBlock is the block size hole punching is assumed to free in: the
// 4 KiB of ext4, XFS and btrfs on common systems. On a file system with
// smaller blocks a gap of less than 4 KiB stays allocated until its
// neighbours die or the segment is compacted.
const punchBlock = 4 << 10

// laterMinHole is the smallest hole the digest's retention rounds punch
// (EvictProjectFreeLater): 8 blocks, a run of about nine dead bodies of
// ~3.5 KB. A smaller gap waits until the bodies next to it die too (it is
// then punched once, merged into a larger hole) or until compaction copies
// the project's live bodies: until then it counts as waste (compactDue),
// so compaction comes sooner and more often.
//
// Each punch is a file-system transaction (a journal handle, the extent
// tree), and the spool's fsyncs, on the same file system, commit them.
// Measured with loadgen at c=8 (1 % new issues) on a 2-vCPU VM, the
// project at its 10,000 events: a round of 500 evictions made ~150
// punches at one block; at 8 blocks, 15 s runs in turns with the one-
// block build made 89–94 % fewer punches, processed 4–19 % more events
// a second (median 9 %) and spent 5–18 % less CPU an event; 180 s runs
// made half the punches (why not fewer was not measured) and three times
// the body-copying compactions (21 against 7 in ~600,000 events: ~1.2 KB
// more written an event; in 15 s runs from an empty directory, 14–19 %
// more bytes written). Punching the small gaps when the project turns
// wasteful, instead of copying, made as many punches as the one-block
// build (README, thirty-first round).
//
// Evictions for the disk budget and for age (EvictProject,
// EvictOlderThan) punch every whole block: they are meant to give the
// space back now.
const laterMinHole = 8 * punchBlock

// dropSegment deletes an old segment that holds no live body.
func (el *eventLog) dropSegment(n uint32) {
	el.segMu.Lock()
	if f, ok := el.segs[n]; ok {
		f.Close()
		delete(el.segs, n)
	}
	el.segMu.Unlock()
	os.Remove(el.segPath(n))
}

// DeleteIssue deletes an issue with its events, groupings, tag counts,
// counters and history. New events with its grouping key then open a new
// issue.
func (db *DB) DeleteIssue(id uint32) error {
	iss, err := db.Issue(id)
	if err != nil {
		return err
	}
	db.digestMu.Lock()
	defer db.digestMu.Unlock()
	el := db.eventLog(iss.ProjectID)
	if el == nil {
		return ErrNotFound
	}
	due, err := db.deleteIssueLocked(el, iss)
	if err != nil || !due {
		return err
	}
	_, err = db.compactLocked(iss.ProjectID, false)
	return err
}

// issueOwnKeys returns the keys kept under issue id besides its record
// and its index keys (dropIssue's) and its search terms: its tag values
// and counts, history, feedback, grouping links (igrp:) and counters.
func (db *DB) issueOwnKeys(tx *kvTx, id uint32) []string {
	var keys []string
	for _, prefix := range []string{issueTagPrefix(id), issueTagCountPrefix(id), historyPrefix(id), feedbackPrefix(id), issueGroupingPrefix(id)} {
		tx.ascend(prefix, func(k, v string) bool { keys = append(keys, k); return true })
	}
	return append(keys, counterKeys(IssueSubject(id), db.Now())...)
}

// deleteIssueLocked removes the issue's events and keys and reports
// whether compacting the project's files is due; callers hold digestMu.
func (db *DB) deleteIssueLocked(el *eventLog, iss *Issue) (due bool, err error) {
	id := iss.ID
	el.mu.Lock()
	defer el.mu.Unlock()
	live, err := el.liveCandidates(db.cands)
	if err != nil {
		return false, err
	}
	defer db.keepCands(live)
	var doomed []uint32
	for _, c := range live {
		if c.r.Issue == id {
			doomed = append(doomed, c.n)
		}
	}
	liveBytes, err := db.applyRemoval(iss.ProjectID, el, live, doomed, false, func(tx *kvTx) error {
		keys := db.issueOwnKeys(tx, id)
		for _, k := range keys {
			if hash, ok := strings.CutPrefix(k, issueGroupingPrefix(id)); ok {
				keys = append(keys, groupingKey(iss.ProjectID, hash))
			}
		}
		keys = append(keys, issueTermKeys(tx, iss)...)
		if err := tx.deleteKeys(keys); err != nil {
			return err
		}
		var cur Issue
		if err := getJSON(tx, issueKey(id), &cur); err != nil {
			return err
		}
		return dropIssue(tx, &cur)
	})
	if err != nil {
		return false, err
	}
	due, _ = el.compactDue(len(live)-len(doomed), liveBytes)
	return due, nil
}
