package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Per-event data lives outside buntdb, so that resident memory does not grow
// with the number of stored events. Each project has a directory
// events/<pid>/ holding:
//
//	log          fixed-size records, one per digested event, in digest order;
//	             the record number is an event's position in the project
//	seg-<n>      compressed event bodies, appended, each a zstd frame;
//	             a new segment starts at segmentMax bytes
//
// The project row in buntdb holds how many records and segment bytes are
// committed (LogLen, Seg, SegOff). Files are written and fsync'd before the
// buntdb transaction that counts them commits, and anything past the
// committed lengths is cut off on open: a crash between the two leaves no
// trace, and the spool replays the batch.
//
//	ids          a hash index from event id to record number, used to reject
//	             duplicates and to find an event by id; derived from the log
//	             and kept on disk, not in memory (see idindex.go)
//
// Each record holds the number of the previous record of the same issue, so
// an issue's events are a chain walked from Issue.LastRec.

// segmentMax is the size at which a new segment starts; a variable so
// that tests can rotate segments without writing 64 MiB.
var segmentMax uint32 = 64 << 20

const (
	recSize = 80

	flagDeleted = 1 << 0
	// flagNeverEvict marks the events that retention must keep (the first
	// event of an issue, and those that regressed or unmuted it).
	flagNeverEvict = 1 << 1
)

// record is the on-disk index entry of one event (little endian):
//
//	0  event id [16]
//	16 issue id u32       20 digest order in issue u32
//	24 ingested ms i64    32 digested ms i64       40 event timestamp ms i64
//	48 segment u32        52 offset u32            56 length u32
//	60 prev record+1 u32  64 flags u32             68 item irrelevance u8
//	69 reserved [11]
type record struct {
	EventID   [16]byte
	Issue     uint32
	Order     uint32
	Ingested  int64
	Digested  int64
	Timestamp int64
	Seg       uint32
	Off       uint32
	Len       uint32
	Prev      uint32
	Flags     uint32
	// Irrelevance is the event's item irrelevance for retention (§7.1):
	// the bit length of a random number up to twice the issue's stored
	// count, so frequent issues' events are evicted first.
	Irrelevance uint8
}

// The offsets of a record's fields (see record).
const (
	recEventID     = 0
	recIssue       = 16
	recOrder       = 20
	recIngested    = 24
	recDigested    = 32
	recTimestamp   = 40
	recSeg         = 48
	recOff         = 52
	recLen         = 56
	recPrev        = 60
	recFlags       = 64
	recIrrelevance = 68
	recReserved    = 69
)

func (r *record) marshal(b []byte) {
	_ = b[recSize-1]
	copy(b[recEventID:recIssue], r.EventID[:])
	le := binary.LittleEndian
	le.PutUint32(b[recIssue:], r.Issue)
	le.PutUint32(b[recOrder:], r.Order)
	le.PutUint64(b[recIngested:], uint64(r.Ingested))
	le.PutUint64(b[recDigested:], uint64(r.Digested))
	le.PutUint64(b[recTimestamp:], uint64(r.Timestamp))
	le.PutUint32(b[recSeg:], r.Seg)
	le.PutUint32(b[recOff:], r.Off)
	le.PutUint32(b[recLen:], r.Len)
	le.PutUint32(b[recPrev:], r.Prev)
	le.PutUint32(b[recFlags:], r.Flags)
	b[recIrrelevance] = r.Irrelevance
	clear(b[recReserved:recSize])
}

func (r *record) unmarshal(b []byte) {
	_ = b[recSize-1]
	copy(r.EventID[:], b[recEventID:recIssue])
	le := binary.LittleEndian
	r.Issue = le.Uint32(b[recIssue:])
	r.Order = le.Uint32(b[recOrder:])
	r.Ingested = int64(le.Uint64(b[recIngested:]))
	r.Digested = int64(le.Uint64(b[recDigested:]))
	r.Timestamp = int64(le.Uint64(b[recTimestamp:]))
	r.Seg = le.Uint32(b[recSeg:])
	r.Off = le.Uint32(b[recOff:])
	r.Len = le.Uint32(b[recLen:])
	r.Prev = le.Uint32(b[recPrev:])
	r.Flags = le.Uint32(b[recFlags:])
	r.Irrelevance = b[recIrrelevance]
}

func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// eventLog is one project's event index and body segments.
type eventLog struct {
	dir string

	// dead is how many committed records are flagged deleted, as last
	// counted: a capacity hint for liveRecords. Guarded by DB.digestMu.
	dead uint32
	// unpunched is the disk space queued holes will give back
	// (puncher.go); compactDue does not count it as waste.
	unpunched atomic.Int64

	mu      sync.RWMutex // guards the fields below and the files' committed regions
	log     *os.File
	n       uint32 // committed records
	seg     *os.File
	segNo   uint32
	segOff  uint32
	ids     *idIndex
	live    map[uint32]*liveIssue // counted by loadIDs, consumed by DB.reconcile
	broken  error                 // set when the files on disk are not the ones open
	segMu   sync.Mutex            // guards segs
	segs    map[uint32]*os.File   // read handles of older segments
	nextSeg *os.File              // a new segment written by a batch, not yet published
}

func openEventLog(dir string, n, segFirst, segNo, segOff uint32, logNext, count bool) (*eventLog, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// Finish (or undo) a compaction that a crash interrupted.
	next := filepath.Join(dir, "log.new")
	if _, err := os.Stat(next); err == nil {
		if logNext {
			if err := os.Rename(next, filepath.Join(dir, "log")); err != nil {
				return nil, err
			}
		} else if err := os.Remove(next); err != nil {
			return nil, err
		}
		if err := syncDir(dir); err != nil {
			return nil, err
		}
	}
	lf, err := os.OpenFile(filepath.Join(dir, "log"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	el := &eventLog{dir: dir, log: lf, n: n, segNo: segNo, segOff: segOff, segs: map[uint32]*os.File{}}
	// Cut off whatever a batch that never committed left behind.
	st, err := lf.Stat()
	if err != nil {
		lf.Close()
		return nil, err
	}
	if want := int64(n) * recSize; st.Size() < want {
		lf.Close()
		return nil, fmt.Errorf("event log %s is shorter (%d bytes) than committed (%d records)", dir, st.Size(), n)
	} else if st.Size() > want {
		if err := lf.Truncate(want); err != nil {
			lf.Close()
			return nil, err
		}
	}
	if err := el.openSegment(); err != nil {
		lf.Close()
		return nil, err
	}
	if err := el.removeSegments(func(k uint32) bool { return k > segNo || k < segFirst }); err != nil {
		el.close()
		return nil, err
	}
	if err := el.loadIDs(segFirst, count); err != nil {
		el.close()
		return nil, err
	}
	return el, nil
}

func (el *eventLog) segPath(n uint32) string {
	return filepath.Join(el.dir, "seg-"+strconv.FormatUint(uint64(n), 10))
}

// openSegment opens the current segment for appending and cuts it to the
// committed length.
func (el *eventLog) openSegment() error {
	f, err := os.OpenFile(el.segPath(el.segNo), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	if st.Size() < int64(el.segOff) {
		f.Close()
		return fmt.Errorf("segment %s is shorter than committed", el.segPath(el.segNo))
	}
	if st.Size() > int64(el.segOff) {
		if err := f.Truncate(int64(el.segOff)); err != nil {
			f.Close()
			return err
		}
	}
	el.seg = f
	return nil
}

// removeSegmentsBefore deletes the segments numbered below n (left over
// from before a compaction).
func (el *eventLog) removeSegmentsBefore(n uint32) error {
	return el.removeSegments(func(k uint32) bool { return k < n })
}

func (el *eventLog) removeSegmentsAfter(n uint32) error {
	return el.removeSegments(func(k uint32) bool { return k > n })
}

// removeSegments deletes the segment files whose number doom accepts.
func (el *eventLog) removeSegments(doom func(uint32) bool) error {
	entries, err := os.ReadDir(el.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if k, ok := segmentNumber(e.Name()); ok && doom(k) {
			if err := os.Remove(filepath.Join(el.dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// segmentNumber returns the number of the segment file named name.
func segmentNumber(name string) (uint32, bool) {
	s, ok := strings.CutPrefix(name, "seg-")
	if !ok {
		return 0, false
	}
	k, err := strconv.ParseUint(s, 10, 32)
	return uint32(k), err == nil
}

// liveIssue is what the log says about one issue's stored events.
type liveIssue struct {
	count       int64
	first, last uint32 // record+1
}

// loadIDs opens the id index of the committed records (generation gen),
// and notes each issue's live events while it reads the log.
func (el *eventLog) loadIDs(gen uint32, count bool) error {
	var visit func(uint32, *record)
	if count {
		el.live = map[uint32]*liveIssue{}
		visit = func(n uint32, r *record) {
			li := el.live[r.Issue]
			if li == nil {
				li = &liveIssue{first: n + 1}
				el.live[r.Issue] = li
			}
			li.count++
			li.last = n + 1
		}
	}
	ids, err := openIDIndex(el.dir, el.log, el.n, gen, visit)
	el.ids = ids
	return err
}

func (el *eventLog) close() error {
	var errs []error
	if el.ids != nil {
		// A project left broken may have its files half switched: its
		// index stays dirty, so the next open rebuilds it.
		errs = append(errs, el.ids.close(el.n, el.broken == nil))
	}
	if el.log != nil {
		errs = append(errs, el.log.Close())
	}
	if el.seg != nil {
		errs = append(errs, el.seg.Close())
	}
	for _, f := range el.segs {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

// readRecord reads committed record n. Callers hold el.mu (either mode).
func (el *eventLog) readRecord(n uint32) (record, error) {
	var r record
	if n >= el.n {
		return r, ErrNotFound
	}
	var b [recSize]byte
	if _, err := el.log.ReadAt(b[:], int64(n)*recSize); err != nil {
		return r, fmt.Errorf("read event record: %w", err)
	}
	r.unmarshal(b[:])
	return r, nil
}

// find returns the record number of the live event with the given id.
// Callers hold el.mu.
func (el *eventLog) find(id [16]byte) (uint32, bool) {
	n, ok, err := el.ids.lookup(el.log, el.n, &id)
	return n, ok && err == nil
}

// slotHint is where the digest's lookup of an absent id found room for it
// in the id index x (idIndex.probe): the batch's insert writes it there
// without reading the table again.
type slotHint struct {
	x    *idIndex
	slot uint64 // noSlot: none
}

// growIDs returns a new id index, built from the log, when the current
// one has no room for add more records; n counts the committed records,
// the add new ones included. Callers hold digestMu but not el.mu: readers
// go on with the current index meanwhile.
//
// The new table is sized by the live records (idRoom), not by the slots
// the old one had taken: most of those are evicted records, which a build
// leaves out. Sized by the taken slots, every build doubled the table,
// and a project at the default retention swung between 256 KiB (built in
// memory) and 512 KiB (built in the file, a read and a write per record)
// until a compaction shrank it again.
func (el *eventLog) growIDs(n uint32, add int) (*idIndex, error) {
	if el.ids.room(add) {
		return nil, nil
	}
	path := filepath.Join(el.dir, "ids")
	x, err := buildIDIndex(path+".new", el.log, n, el.ids.gen, idRoom(n-min(el.dead, n)), nil)
	if err != nil {
		return nil, err
	}
	if err := os.Rename(path+".new", path); err != nil {
		x.f.Close()
		return nil, err
	}
	if err := syncDir(el.dir); err != nil {
		x.f.Close()
		return nil, err
	}
	return x, nil
}

// indexBatch indexes the records a batch committed from record start on,
// or switches to next, which growIDs built with them (err is growIDs').
// hints, when not nil, holds one per record: where the batch's lookup
// found room for it, used unless an earlier record of the batch took that
// slot. When the index cannot be brought up to date, the project refuses
// further batches until a restart rebuilds it. Callers hold el.mu and
// have counted the records in el.n. It returns how many records went in
// at their hint.
func (el *eventLog) indexBatch(start uint32, recs []record, hints []slotHint, next *idIndex, err error) (hinted int) {
	if next != nil {
		el.ids.close(0, false)
		el.ids = next
		return 0
	}
	var taken map[uint64]bool // the slots this batch wrote
	if hints != nil {
		taken = make(map[uint64]bool, len(recs))
	}
	for i := 0; err == nil && i < len(recs); i++ {
		id, rec := &recs[i].EventID, start+uint32(i)
		if hints != nil && hints[i].x == el.ids && hints[i].slot != noSlot && !taken[hints[i].slot] {
			err = el.ids.insertAt(hints[i].slot, id, rec)
			taken[hints[i].slot] = true
			hinted++
			continue
		}
		var slot uint64
		slot, err = el.ids.insert(el.n, id, rec)
		if taken != nil {
			taken[slot] = true
		}
	}
	if err != nil && el.broken == nil {
		el.broken = fmt.Errorf("store: event-id index of %s: %w (a restart rebuilds it)", el.dir, err)
	}
	return hinted
}

// readBody reads the compressed body the record points at. Callers hold
// el.mu.
func (el *eventLog) readBody(r record) ([]byte, error) {
	b := make([]byte, r.Len)
	if err := el.readAt(r.Seg, r.Off, b); err != nil {
		return nil, err
	}
	return b, nil
}

// readAt fills b from segment seg at off. Callers hold el.mu.
func (el *eventLog) readAt(seg, off uint32, b []byte) error {
	f := el.seg
	if seg != el.segNo {
		var err error
		if f, err = el.segmentFile(seg); err != nil {
			return err
		}
	}
	if _, err := f.ReadAt(b, int64(off)); err != nil && !(errors.Is(err, io.EOF) && len(b) == 0) {
		return fmt.Errorf("read event body: %w", err)
	}
	return nil
}

func (el *eventLog) segmentFile(n uint32) (*os.File, error) {
	// Read handles of old segments are opened under the read lock, so they
	// need their own guard.
	el.segMu.Lock()
	defer el.segMu.Unlock()
	if f, ok := el.segs[n]; ok {
		return f, nil
	}
	f, err := os.Open(el.segPath(n))
	if err != nil {
		return nil, err
	}
	el.segs[n] = f
	return f, nil
}
