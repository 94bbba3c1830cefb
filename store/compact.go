package store

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/tinysink/tinysink/store/disk"
)

// Compaction. Retention deletes records by flagging them and frees their
// bodies by punching holes, but a hole frees only whole blocks and the log
// keeps an 80-byte record for every event ever digested. Compaction
// rewrites a project: a new log ("log.new") with renumbered records and
// rebuilt issue chains, and, when the project's segments are wasteful
// (they take half again as much disk as its live bodies: holes that could
// not be punched, bodies smaller than a block between live ones, or a file
// system without hole punching; or there are more of them than the live
// bodies need), the live bodies too, in order, into new segments numbered
// after the current one. It runs when the log holds twice as many dead
// records as live ones, and never for fewer than compactMinDead dead
// records (compactDue): while the segments are not wasteful, only the log
// is rewritten (copying every body would give back next to nothing). When
// only the segments are wasteful, they are cleaned instead (clean.go),
// and compacted only when cleaning cannot bring their waste down.
//
// A compaction of the log alone keeps SegFirst, so the id index built with
// the new log has the old one's generation. The old index can never pass
// for the new log's: an index is taken at open only when it was closed
// clean (the one in use is the new log's from switchTo on; a project left
// broken keeps its index dirty), and the old one covers more records than
// the new log holds, which makes it stale as well.
//
// It is crash-safe by roll-forward. The new files are written and fsync'd
// first; then one buntdb transaction commits the new extents (LogLen, Seg,
// SegOff, SegFirst), the issues' chain ends, and LogNext ("log.new is the
// log"); then log.new is renamed over log and the old segments are deleted.
// Open finishes an interrupted compaction: it renames log.new when LogNext
// is set (and deletes it when not), and deletes segments outside
// [SegFirst, Seg].

// compactMinDead is the fewest dead records worth a compaction (a variable
// for tests).
var compactMinDead = 5000

// compactLogRatio is how many dead records per live one a log may hold
// before it is compacted whatever the disk use. At the default retention
// of 10,000 events the log then stays under 2.4 MB (30,000 records).
const compactLogRatio = 2

// compactDue reports whether el, whose log holds live live records with
// bodies of liveBytes in all, is worth compacting or cleaning, and whether
// its segments are wasteful: then they are cleaned, or its bodies copied,
// not only its log rewritten (compactLocked). Callers hold el.mu.
//
// Until this rule, a log with a third of its records dead was compacted:
// at a project's maximum, where each new event evicts one, that copied
// every stored body once per half a maximum of new events, twice the bytes
// the events themselves wrote, although the holes punched at eviction had
// already given back nearly all the space of bodies larger than a block.
//
// A compaction of the log alone leaves the waste where it was (clean.go
// gives it back without rewriting the log): the waste rule is not held
// back by the dead records' minimum once it reaches compactMinWaste, or a
// project at its maximum would go on wasting past the rule for the
// compactMinDead evictions after each such compaction.
func (el *eventLog) compactDue(live int, liveBytes int64) (due, wasteful bool) {
	dead := int(el.n) - live
	if dead <= 0 {
		return false, false
	}
	files, used, err := el.segmentFiles()
	waste := used - el.unpunched.Load() - liveBytes
	wasteful = err == nil && (2*waste >= liveBytes && (dead >= compactMinDead || waste >= compactMinWaste) ||
		files > segmentsNeeded(liveBytes))
	return wasteful || dead >= compactMinDead && dead >= compactLogRatio*live, wasteful
}

// compactMinWaste is the waste that makes segments wasteful (at half the
// live bodies' size) however few records are dead (a variable for tests).
var compactMinWaste int64 = 4 << 20

// segmentsNeeded is how many segment files a project whose live bodies
// take liveBytes may keep: with more, its segments are wasteful too. A
// segment is deleted only once no live body is left in it, and the
// events retention keeps longest (a rare issue's) would otherwise keep a
// sparse file each, on disk and in the segments' open read handles.
func segmentsNeeded(liveBytes int64) int {
	return int(liveBytes/int64(segmentMax)) + 4
}

// waste returns the disk space el's segments take beyond its live bodies,
// liveBytes, not counting the holes queued to be punched: space no hole
// gave back.
func (el *eventLog) waste(liveBytes int64) (int64, error) {
	used, err := el.segmentDisk()
	return used - el.unpunched.Load() - liveBytes, err
}

// segmentDisk returns the disk space el's segment files take.
func (el *eventLog) segmentDisk() (int64, error) {
	_, n, err := el.segmentFiles()
	return n, err
}

// segmentFiles returns how many segment files el has and the disk space
// they take.
func (el *eventLog) segmentFiles() (files int, used int64, err error) {
	ents, err := os.ReadDir(el.dir)
	if err != nil {
		return 0, 0, err
	}
	for _, e := range ents {
		if _, ok := segmentNumber(e.Name()); !ok {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // deleted since the directory was read
		}
		files++
		used += disk.Allocated(fi)
	}
	return files, used, nil
}

// candidateBytes returns the bytes of the bodies of cands.
func candidateBytes(cands []candidate) int64 {
	var n int64
	for _, c := range cands {
		n += int64(c.r.Len)
	}
	return n
}

// CompactProject rewrites project pid's event files when enough of them is
// dead (see above) and reports whether it did. Digest batches wait while it
// runs; readers do not.
func (db *DB) CompactProject(pid int) (bool, error) {
	db.digestMu.Lock()
	defer db.digestMu.Unlock()
	return db.compactLocked(pid, false)
}

// compactLocked is CompactProject for callers holding digestMu; force skips
// the check.
func (db *DB) compactLocked(pid int, force bool) (bool, error) {
	el := db.eventLog(pid)
	if el == nil {
		return false, ErrNotFound
	}
	el.mu.RLock()
	// Forced, the bodies are copied (compactForSpace has measured the
	// waste already). Otherwise only the log when the segments waste
	// little (compactDue's log rule): copying the bodies would give back
	// next to nothing.
	inPlace := false
	if !force {
		// Retention's lighter records tell whether anything is due.
		cands, err := el.liveCandidates(db.cands)
		if err != nil {
			el.mu.RUnlock()
			return false, err
		}
		n, liveBytes := len(cands), candidateBytes(cands)
		db.keepCands(cands)
		due, wasteful := el.compactDue(n, liveBytes)
		if !due {
			el.mu.RUnlock()
			return false, nil
		}
		// Wasteful segments are cleaned (clean.go) unless the log is due
		// too: then every record is rewritten anyway, and with two thirds
		// of them dead the live bodies are few to copy.
		if wasteful && int(el.n)-n < compactLogRatio*n {
			el.mu.RUnlock()
			cleaned, err := db.clean(pid, el)
			if err != nil || cleaned {
				return cleaned, err
			}
			el.mu.RLock()
		}
		inPlace = !wasteful
	}
	live, err := el.liveRecords()
	if err != nil {
		el.mu.RUnlock()
		return false, err
	}
	p, err := db.Project(pid)
	if err != nil {
		el.mu.RUnlock()
		return false, err
	}
	// A flag left set by a failed update must not outlive this point: the
	// log.new written below is not committed until the flag is set again.
	if err := db.clearLogNext(pid); err != nil {
		el.mu.RUnlock()
		return false, err
	}
	ext, ends, err := el.writeCompacted(live, inPlace, p.SegFirst)
	el.mu.RUnlock()
	if err == nil && db.compactCrash != nil {
		err = db.compactCrash("written")
		if err != nil {
			return false, err // as if the process died: no clean-up
		}
	}
	if err != nil {
		el.removeCompacted()
		return false, fmt.Errorf("compact project %d: %w", pid, err)
	}

	// Commit: from here on the new files are the project's. The issues'
	// chain ends follow in transactions of their own while readers of the
	// project's events wait; a crash before they are all written leaves
	// them to reconcile at the next open, which counts them from the log.
	err = db.update(func(tx *kvTx) error {
		var p Project
		if err := getJSON(tx, projectKey(pid), &p); err != nil {
			return err
		}
		p.LogLen, p.Seg, p.SegOff, p.SegFirst, p.LogNext = ext.n, ext.segNo, ext.segOff, ext.segFirst, true
		return setJSON(tx, projectKey(pid), &p)
	})
	if err != nil {
		el.removeCompacted()
		return false, fmt.Errorf("compact project %d: %w", pid, err)
	}
	if db.compactCrash != nil {
		if err := db.compactCrash("committed"); err != nil {
			return true, err
		}
	}
	el.mu.Lock()
	// moved reports whether an issue's chain ends change; updateIssues
	// asks it first of the ends it peeked, and fn of a decoded issue's.
	moved := func(id uint32, c chainFields) bool {
		e := ends[id]
		return c != chainFields{e[0], e[1]}
	}
	err = db.updateIssues(pid, moved, func(iss *Issue) bool {
		if !moved(iss.ID, chainFields{iss.FirstRec, iss.LastRec}) {
			return false
		}
		e := ends[iss.ID]
		iss.FirstRec, iss.LastRec = e[0], e[1]
		return true
	})
	if err == nil {
		err = el.switchTo(ext)
	}
	if err != nil {
		// The store says the new files are the project's but this process
		// could not switch to them: refuse further batches for the
		// project (they would be written against the old ones) until a
		// restart, whose Open finishes the job.
		el.broken = fmt.Errorf("store: project %d needs a restart to finish a compaction: %w", pid, err)
	}
	el.mu.Unlock()
	if err != nil {
		return true, el.broken
	}
	return true, db.clearLogNext(pid)
}

// compactForSpace compacts project pid when its segments hold at least
// need bytes of disk beyond its live bodies (space no hole gave back), and
// reports whether it did. EnforceMaxDisk calls it before evicting events
// for space that a compaction returns.
func (db *DB) compactForSpace(pid int, need int64) (bool, error) {
	db.digestMu.Lock()
	defer db.digestMu.Unlock()
	el := db.eventLog(pid)
	if el == nil {
		return false, ErrNotFound
	}
	el.mu.RLock()
	cands, err := el.liveCandidates(db.cands)
	var waste int64
	if err == nil {
		waste, err = el.waste(candidateBytes(cands))
		db.keepCands(cands)
	}
	el.mu.RUnlock()
	if err != nil || waste < need {
		return false, err
	}
	return db.compactLocked(pid, true)
}

// clearLogNext records that log.new has become the log.
func (db *DB) clearLogNext(pid int) error {
	return db.update(func(tx *kvTx) error {
		var p Project
		if err := getJSON(tx, projectKey(pid), &p); err != nil {
			return err
		}
		if !p.LogNext {
			return nil
		}
		p.LogNext = false
		return setJSON(tx, projectKey(pid), &p)
	})
}

// extents describes a project's committed files.
type extents struct {
	n               uint32
	segFirst, segNo uint32
	segOff          uint32
}

// writeCompacted writes the live records' bodies into new segments after
// el.segNo and the renumbered records into log.new, all fsync'd, or with
// inPlace only the renumbered records, their bodies staying in the
// project's segments (segFirst, the first of them, to el.segNo). It
// returns the new extents and each issue's chain ends (record+1). Callers
// hold el.mu (read).
func (el *eventLog) writeCompacted(live []liveRecord, inPlace bool, segFirst uint32) (extents, map[uint32][2]uint32, error) {
	ext := extents{n: uint32(len(live)), segFirst: el.segNo + 1, segNo: el.segNo + 1}
	if inPlace {
		ext = extents{n: uint32(len(live)), segFirst: segFirst, segNo: el.segNo, segOff: el.segOff}
	}
	ends := map[uint32][2]uint32{}
	lf, err := os.OpenFile(filepath.Join(el.dir, "log.new"), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return ext, nil, err
	}
	defer lf.Close()
	lw := bufio.NewWriterSize(lf, 64<<10)
	if inPlace {
		for k, c := range live {
			if err = writeRenumbered(lw, k, c.r, ends); err != nil {
				break
			}
		}
	} else {
		err = el.copyBodies(lw, live, &ext, ends)
	}
	if err != nil {
		return ext, nil, err
	}
	if err := lw.Flush(); err != nil {
		return ext, nil, err
	}
	if err := lf.Sync(); err != nil {
		return ext, nil, err
	}
	// The new log's id index, installed by switchTo.
	ids, err := buildIDIndex(filepath.Join(el.dir, "ids.new"), lf, ext.n, ext.segFirst, uint64(ext.n), nil)
	if err != nil {
		return ext, nil, err
	}
	if err := ids.f.Close(); err != nil {
		return ext, nil, err
	}
	return ext, ends, syncDir(el.dir)
}

// copyBodies writes the live records' bodies into new segments after
// el.segNo, ext describing them, and their renumbered records to lw.
func (el *eventLog) copyBodies(lw *bufio.Writer, live []liveRecord, ext *extents, ends map[uint32][2]uint32) error {
	seg, err := os.OpenFile(el.segPath(ext.segNo), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	// Bodies are appended in order, so the new segment is written through
	// a buffer, not one pwrite per body.
	sw := bufio.NewWriterSize(seg, 64<<10)
	closeSeg := func() error {
		err := sw.Flush()
		err = errors.Join(err, seg.Sync())
		return errors.Join(err, seg.Close())
	}
	var buf []byte // the bodies of live[i:j], read at once
	for i := 0; i < len(live); {
		// Live records are in log order, and bodies were appended in that
		// order: a run of records whose bodies lie end to end in one
		// segment is read with one pread, into a buffer reused for every run.
		j, size := adjacentRun(i, len(live), func(k int) (uint32, uint32, uint32) {
			return live[k].r.Seg, live[k].r.Off, live[k].r.Len
		})
		buf = slices.Grow(buf[:0], int(size))[:size]
		if err := el.readAt(live[i].r.Seg, live[i].r.Off, buf); err != nil {
			seg.Close()
			return err
		}
		run := buf
		for k := i; k < j; k++ {
			c := live[k]
			body := run[:c.r.Len]
			run = run[c.r.Len:]
			if ext.segOff > 0 && int64(ext.segOff)+int64(len(body)) > int64(segmentMax) {
				if err := closeSeg(); err != nil {
					return err
				}
				ext.segNo++
				ext.segOff = 0
				if seg, err = os.OpenFile(el.segPath(ext.segNo), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
					return err
				}
				sw.Reset(seg)
			}
			if _, err := sw.Write(body); err != nil {
				seg.Close()
				return err
			}
			r := c.r
			r.Seg, r.Off = ext.segNo, ext.segOff
			ext.segOff += uint32(len(body))
			if err := writeRenumbered(lw, k, r, ends); err != nil {
				seg.Close()
				return err
			}
		}
		i = j
	}
	return closeSeg()
}

// writeRenumbered writes r to lw as record k of the compacted log, linked
// into its issue's chain: ends holds each issue's first and last record
// (+1) so far.
func writeRenumbered(lw *bufio.Writer, k int, r record, ends map[uint32][2]uint32) error {
	e := ends[r.Issue]
	r.Prev = e[1]
	if e[0] == 0 {
		e[0] = uint32(k) + 1
	}
	e[1] = uint32(k) + 1
	ends[r.Issue] = e
	var b [recSize]byte
	r.marshal(b[:])
	_, err := lw.Write(b[:])
	return err
}

// compactRead bounds one read of adjacent bodies during compaction (a
// single larger body is still read whole).
const compactRead = 256 << 10

// adjacentRun returns the end j of the run of bodies from body i on (of n)
// that lie end to end in one segment, up to compactRead bytes (body i
// alone when larger), and the run's size. body(k) gives body k's segment,
// offset and length.
func adjacentRun(i, n int, body func(k int) (seg, off, size uint32)) (j int, size int64) {
	seg, off, first := body(i)
	j, size = i+1, int64(first)
	for ; j < n; j++ {
		s, o, l := body(j)
		if s != seg || int64(o) != int64(off)+size || size+int64(l) > compactRead {
			break
		}
		size += int64(l)
	}
	return j, size
}

// removeCompacted deletes the files of a compaction that did not commit.
func (el *eventLog) removeCompacted() {
	os.Remove(filepath.Join(el.dir, "log.new"))
	os.Remove(filepath.Join(el.dir, "ids.new"))
	el.removeSegmentsAfter(el.segNo)
}

// switchTo makes the committed compaction's files the open ones: log.new
// becomes log, the new last segment the one appended to, the old segments
// go, and the id index built with log.new replaces the old one. Callers
// hold el.mu.
func (el *eventLog) switchTo(ext extents) error {
	if err := os.Rename(filepath.Join(el.dir, "log.new"), filepath.Join(el.dir, "log")); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(el.dir, "ids.new"), filepath.Join(el.dir, "ids")); err != nil {
		return err
	}
	if err := syncDir(el.dir); err != nil {
		return err
	}
	lf, err := os.OpenFile(filepath.Join(el.dir, "log"), os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	seg, err := os.OpenFile(el.segPath(ext.segNo), os.O_RDWR, 0o600)
	if err != nil {
		lf.Close()
		return err
	}
	ids, err := installIDIndex(el.dir, ext.n, ext.segFirst)
	if err != nil {
		lf.Close()
		seg.Close()
		return err
	}
	el.log.Close()
	el.seg.Close()
	el.segMu.Lock()
	for n, f := range el.segs {
		f.Close()
		delete(el.segs, n)
	}
	el.segMu.Unlock()
	el.removeSegmentsBefore(ext.segFirst)
	el.log, el.seg, el.n, el.dead, el.segNo, el.segOff = lf, seg, ext.n, 0, ext.segNo, ext.segOff
	el.ids.close(0, false)
	el.ids = ids
	return nil
}
