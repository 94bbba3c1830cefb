// Package spool is the durable queue between ingest and digest: an
// append-only log of accepted events in segment files on disk.
//
// Append returns only once its record is fsync'd. Appends are group-committed:
// every caller hands its record to one committer goroutine, which writes all
// records queued since its last commit with one write and one fsync, then
// wakes all of their callers. Under concurrent load one fsync acknowledges
// many events, which roughly doubles durable throughput over an fsync per
// event.
//
// Records live in segment files named <dir>/<seq as 16 hex digits>.spool,
// rotated at about Options.SegmentSize. Open always starts a new segment, so a
// process never appends to a file that an earlier (possibly crashed) process
// wrote. Each record carries its length and a CRC-32C (see record.go): a torn
// tail left by a crash is recognised and skipped, since no caller was ever
// told it was stored.
package spool

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tinysink/tinysink/budget"
	"github.com/tinysink/tinysink/budget/prom"
	"github.com/tinysink/tinysink/internal/fileio"
	"github.com/tinysink/tinysink/internal/xsort"
	"github.com/tinysink/tinysink/store/disk"
)

// Errors returned by the spool.
var (
	// ErrClosed is returned by calls made after Close.
	ErrClosed = errors.New("spool: closed")
	// ErrTooLarge is returned by Append for a record larger than 64 MiB or
	// with an EventID or RemoteAddr longer than 1 KiB.
	ErrTooLarge = errors.New("spool: record too large")
	// ErrInvalid is returned by Append for a Project outside 0..2^31.
	ErrInvalid = errors.New("spool: invalid record")
)

// Record is one accepted event.
type Record struct {
	Project    int
	EventID    string // 32 lowercase hex
	IngestedAt time.Time
	RemoteAddr string
	Payload    []byte // the event JSON as received (decompressed; trimmed if value-dense)
	// Type is the envelope item type of a payload that is not an event
	// ("check_in", "transaction", "session", …); "" for an event.
	Type string
}

// Pos is a position in the spool: the segment and the byte offset just after
// a record. The zero Pos is the start.
type Pos struct {
	Seg uint64
	Off int64
}

// Options tune a spool.
type Options struct {
	// SegmentSize is the size at which the committer starts a new segment
	// file. Default 16 MiB. A single commit may overshoot it.
	SegmentSize int64
	// NoSync skips fsync. For tests and benchmarks only: Append then no
	// longer means durable.
	NoSync bool
	// RetryEvery is how often the committer tries again to start a
	// segment while it has none (see Unavailable). Default 10 s.
	RetryEvery time.Duration
}

// Stats describes the spool's files.
type Stats struct {
	Files int   // segment files on disk
	Bytes int64 // their total size
	// Oldest is the IngestedAt of the first record not yet released (zero
	// when there is none): how far digest is behind.
	Oldest time.Time
	// Damaged counts segments in which ReadFrom met a damaged record (bad
	// CRC, impossible length) and skipped the rest of the segment.
	Damaged int64
}

const (
	defaultSegmentSize = 16 << 20
	defaultRetryEvery  = 10 * time.Second
	// maxSpare bounds the batch buffer the committer keeps for reuse.
	maxSpare = 4 << 20
	// maxSpares bounds the released segment files kept for reuse.
	maxSpares = 2
)

// segment is one segment file.
type segment struct {
	seq uint64
	// size is the number of bytes readers may read: for the active segment
	// the end of the last committed batch, for older ones the file size.
	size   int64
	sealed bool // no longer appended to
}

// batch is the set of records the committer writes with one write and one
// fsync.
type batch struct {
	buf []byte // the records' frame headers and metadata
	// parts are the batch's bytes in order: runs of buf (headers, metadata
	// and the small payloads copied next to them) and the large payloads,
	// each the caller's own slice: Append blocks until the batch is
	// written, so a large payload is never copied. A run is kept as
	// offsets, not as a slice of buf: buf regrows as records are added,
	// and the headers are sealed in it at commit. The commit writes them
	// with one system call per 1,024 parts (fileio.WriteParts).
	parts   []part
	size    int64         // the bytes of its records: of parts, and what commit writes
	bufDone int           // bytes of buf already in parts
	hdrs    []int         // where each record's frame header starts in buf
	n       int           // number of records in buf
	done    chan struct{} // closed once buf is durable or failed
	err     error         // set before done is closed
}

// Spool is an open spool directory. Its methods are safe for concurrent use.
type Spool struct {
	dir  string
	opts Options

	wake    chan struct{} // capacity 1; tells the committer there is work
	notify  chan struct{} // capacity 1; see Notify
	stopped chan struct{} // closed when the committer has exited

	// batchScanner is the scanner the last batch read (ReadFrom of more
	// than one record) used, kept for the next one until ReleaseBuffers.
	// From the pool alone, the garbage collections between batches at
	// full speed took it away before every other batch, which then made a
	// new 64 KiB reader and body buffer.
	batchScanner atomic.Pointer[scanner]

	mu       sync.Mutex // guards the fields below
	pending  *batch     // the batch appenders are joining
	closed   bool
	segs     []segment // sorted by seq; the last one is the active segment
	damaged  int64
	damSeen  map[uint64]bool // segments already counted in damaged
	released Pos             // the last position passed to Release
	primary  bool            // Release was called: the digest worker reads
	holds    map[int]Pos     // the other readers' positions (see Hold)
	nextHold int
	watchers []chan struct{} // see Watch
	closeErr error           // the committer's error on shutdown
	appended atomic.Int64    // records committed since Open
	// segErr is why the committer has no segment to append to (the last
	// failed attempt to create one), nil while it has one.
	segErr error
	// spares are released segment files kept to be the next segments
	// (at most maxSpares), and recycling counts those being renamed to
	// one. An fsync after writing over blocks a file already has is
	// cheaper than after an append, which must also record the new
	// blocks: on ext4 0.19–0.26 ms against 0.27–0.39 for 56 KB (README,
	// "Tenth round"). The cost is up to maxSpares × SegmentSize of disk.
	spares    []string
	recycling int

	// Owned by the committer goroutine.
	f      *os.File // the active segment; nil while none could be created
	fsize  int64    // bytes written to f (equal to its segment's size after a successful commit)
	seq    uint64   // the active segment's seq
	rotate bool     // start a new segment before the next write (after a failed one)
	reused bool     // f is a reused file (see spares)
	spare  []byte   // buffer for the next batch
	iov    [][]byte // a commit's parts, for fileio.WriteParts

	// testHookSync, when set by a test, runs between a commit's write and
	// its fsync.
	testHookSync func()
}

// Open opens the spool in dir, creating the directory if needed, and starts
// a new segment for this process's appends. Records left by earlier
// processes stay readable with ReadFrom. When the disk is full (or
// read-only) Open still succeeds, without a segment: Unavailable says why,
// Admit refuses, and the spool retries every Options.RetryEvery.
func Open(dir string, opts Options) (*Spool, error) {
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = defaultSegmentSize
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	segs, spares, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	if opts.RetryEvery <= 0 {
		opts.RetryEvery = defaultRetryEvery
	}
	seq := uint64(1)
	if len(segs) > 0 {
		seq = segs[len(segs)-1].seq + 1
	}
	s := &Spool{
		dir:     dir,
		opts:    opts,
		wake:    make(chan struct{}, 1),
		notify:  make(chan struct{}, 1),
		stopped: make(chan struct{}),
		pending: &batch{done: make(chan struct{})},
		segs:    segs,
		damSeen: make(map[uint64]bool),
		seq:     seq - 1,
		spares:  spares,
	}
	s.recoverTail()
	if err := s.startSegment(); err != nil {
		if !disk.IsFull(err) {
			return nil, err
		}
		// A full (or read-only) disk must not keep the server down: open
		// without a segment, let Admit refuse, and retry every
		// RetryEvery. What earlier processes spooled stays readable.
		s.rotate = true
	}
	go s.run()
	return s, nil
}

// Unavailable returns why the spool cannot take appends (the error of its
// last attempt to create a segment file, such as a full disk), or nil when
// it can. The committer retries every Options.RetryEvery, and at every
// Append.
func (s *Spool) Unavailable() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.segErr
}

// ErrUnavailable is the reason of Admit's refusals while the spool cannot
// write for a cause other than a full disk.
var ErrUnavailable = errors.New("spool_unavailable")

// Admit implements ingest's admission check: while the spool has no
// segment to write to, every event is refused (a *budget.AdmitError) with
// reason disk.ErrFull, or ErrUnavailable for another cause, so that
// no request waits for a write that cannot succeed.
func (s *Spool) Admit(project int) error {
	err := s.Unavailable()
	if err == nil {
		return nil
	}
	reason := ErrUnavailable
	if disk.IsFull(err) {
		reason = disk.ErrFull
	}
	return &budget.AdmitError{Reason: reason, RetryAfter: s.opts.RetryEvery}
}

// listSegments returns the segment files in dir, sorted, all sealed, and
// its spare files (see Spool.spares), deleting those past maxSpares.
func listSegments(dir string) ([]segment, []string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("spool: %w", err)
	}
	var segs []segment
	var spares []string
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if _, ok := parseName(e.Name(), ".spare"); ok {
			name := filepath.Join(dir, e.Name())
			if len(spares) == maxSpares {
				os.Remove(name)
				continue
			}
			spares = append(spares, name)
			continue
		}
		seq, ok := parseName(e.Name(), ".spool")
		if !ok {
			continue
		}
		info, err := e.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, nil, fmt.Errorf("spool: %w", err)
		}
		segs = append(segs, segment{seq: seq, size: info.Size(), sealed: true})
	}
	xsort.SortFunc(segs, func(a, b segment) int { return cmp.Compare(a.seq, b.seq) })
	return segs, spares, nil
}

// recoverTail cuts the last segment, the one the previous process was
// writing, after its last good record when it is a reused file: what
// follows is an earlier use's records or a write the process did not
// finish, neither of which was acknowledged. A segment of a fresh file is
// left as it is (its tail is zeros or a torn record, which readers skip,
// and anything else there is damage).
func (s *Spool) recoverTail() {
	n := len(s.segs)
	if n == 0 {
		return
	}
	sg := s.segs[n-1]
	name := s.path(sg.seq)
	if magicOf(name) != fileMagicReused {
		return // a fresh file, or one readers will say what is wrong with
	}
	end := fileHeaderSize
	sc := scanners.Get().(*scanner)
	defer scanners.Put(sc)
	// The first damaged record ends it: only the last batch, which was
	// not acknowledged, can be torn.
	if _, err := s.scan(sc, sg, end, false, func(_ *Record, next Pos) (bool, error) {
		end = next.Off
		return false, nil
	}); err != nil || end >= sg.size {
		return
	}
	// A failed cut (a read-only disk) leaves the tail for readers to
	// count as damage.
	if os.Truncate(name, end) == nil {
		s.segs[n-1].size = end
	}
}

func segmentName(seq uint64) string { return fmt.Sprintf("%016x.spool", seq) }

// parseName returns the seq of a file name made of 16 hex digits and
// suffix, as segmentName and spareName make them.
func parseName(name, suffix string) (uint64, bool) {
	hex, ok := strings.CutSuffix(name, suffix)
	if !ok || len(hex) != 16 {
		return 0, false
	}
	seq, err := strconv.ParseUint(hex, 16, 64)
	return seq, err == nil
}

func (s *Spool) path(seq uint64) string { return filepath.Join(s.dir, segmentName(seq)) }

// createSegment creates segment seq, writes its magic and, with sync, makes
// the file and its directory entry durable. With spare set it renames that
// file (a released segment, see Spool.spares) to be the segment instead of
// creating one, and reports reused; if the rename fails it creates one.
func createSegment(dir string, seq uint64, sync bool, spare string) (f *os.File, reused bool, err error) {
	name := filepath.Join(dir, segmentName(seq))
	magic := fileMagic
	if spare != "" && os.Rename(spare, name) == nil {
		// Its old records name another segment: no reader takes them for
		// this one's, whether or not the new magic below reaches the disk.
		f, err = os.OpenFile(name, os.O_WRONLY, 0)
		magic, reused = fileMagicReused, true
	} else {
		if spare != "" {
			os.Remove(spare)
		}
		f, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	}
	if err != nil {
		return nil, false, fmt.Errorf("spool: %w", err)
	}
	if hook := testHookCreate.Load(); hook != nil {
		err = (*hook)()
	}
	if err == nil {
		_, err = f.WriteAt([]byte(magic), 0)
	}
	if err == nil && sync {
		err = f.Sync()
	}
	if err == nil && sync {
		err = syncDir(dir)
	}
	if err != nil {
		f.Close()
		os.Remove(name)
		return nil, false, fmt.Errorf("spool: create segment %s: %w", name, err)
	}
	return f, reused, nil
}

// testHookCreate, when set by a test, makes createSegment fail with its
// error as if writing the segment's header had.
var testHookCreate atomic.Pointer[func() error]

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Append writes r to the spool and returns once it is durable (fsync'd).
// It is safe for concurrent use; concurrent calls share one fsync.
func (s *Spool) Append(r *Record) error {
	if err := checkRecord(r); err != nil {
		return err
	}
	var metaBuf [96]byte
	meta := appendMeta(metaBuf[:0], r)
	if len(meta)+len(r.Payload) > maxBodySize {
		return ErrTooLarge
	}
	// The CRC is computed here, in parallel, not in the committer.
	hdr := frameHeader(meta, r.Payload)

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	b := s.pending
	b.add(hdr[:], meta, r.Payload)
	s.mu.Unlock()

	s.kick()
	<-b.done
	return b.err
}

// AppendAll writes rs to the spool, in order and in one commit, and
// returns once they are durable: all of them or, on an error, possibly
// none.
func (s *Spool) AppendAll(rs []*Record) error {
	if len(rs) == 1 {
		return s.Append(rs[0])
	}
	type framed struct {
		hdr  [frameHeaderSize]byte
		meta []byte
	}
	fs := make([]framed, len(rs))
	for i, r := range rs {
		if err := checkRecord(r); err != nil {
			return err
		}
		fs[i].meta = appendMeta(nil, r)
		if len(fs[i].meta)+len(r.Payload) > maxBodySize {
			return ErrTooLarge
		}
		fs[i].hdr = frameHeader(fs[i].meta, r.Payload)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	b := s.pending
	for i, r := range rs {
		b.add(fs[i].hdr[:], fs[i].meta, r.Payload)
	}
	s.mu.Unlock()

	s.kick()
	<-b.done
	return b.err
}

func checkRecord(r *Record) error {
	if r.Project < 0 || int64(r.Project) > maxProject {
		return ErrInvalid
	}
	if len(r.EventID) > maxFieldLen || len(r.RemoteAddr) > maxFieldLen || len(r.Type) > maxFieldLen {
		return ErrTooLarge
	}
	return nil
}

// add appends a record to the batch. Small payloads are copied next to
// their header, so a batch of ordinary events is one write; a large one is
// referenced, not copied.
func (b *batch) add(hdr, meta, payload []byte) {
	b.n++
	b.size += int64(len(hdr) + len(meta) + len(payload))
	if len(payload) <= copyLimit {
		b.hdrs = append(b.hdrs, len(b.buf))
		b.buf = append(b.buf, hdr...)
		b.buf = append(b.buf, meta...)
		b.buf = append(b.buf, payload...)
		return
	}
	b.flushBuf()
	b.hdrs = append(b.hdrs, len(b.buf))
	b.buf = append(b.buf, hdr...)
	b.buf = append(b.buf, meta...)
	b.flushBuf()
	b.parts = append(b.parts, part{payload: payload})
}

// part is one piece of a batch's write: buf[from:to], or payload when
// that is set.
type part struct {
	from, to int
	payload  []byte
}

// bytes returns the part's bytes; b.buf must not grow while they are used.
func (p part) bytes(b *batch) []byte {
	if p.payload != nil {
		return p.payload
	}
	return b.buf[p.from:p.to]
}

// flushBuf moves the bytes gathered in buf since the last part into parts.
func (b *batch) flushBuf() {
	if b.bufDone < len(b.buf) {
		b.parts = append(b.parts, part{from: b.bufDone, to: len(b.buf)})
		b.bufDone = len(b.buf)
	}
}

// copyLimit is the largest payload a batch copies rather than references.
const copyLimit = 64 << 10

// kick wakes the committer without blocking.
func (s *Spool) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run is the committer goroutine.
func (s *Spool) run() {
	defer close(s.stopped)
	var retry *time.Ticker
	defer func() {
		if retry != nil {
			retry.Stop()
		}
	}()
	for {
		// Without a segment (see Open), try again now and then, so the
		// spool recovers by itself when space returns even though Admit
		// keeps every Append away meanwhile.
		var retryC <-chan time.Time
		if s.f == nil {
			if retry == nil {
				retry = time.NewTicker(s.opts.RetryEvery)
			}
			retryC = retry.C
		} else if retry != nil {
			retry.Stop()
			retry = nil
		}
		select {
		case <-s.wake:
		case <-retryC:
			s.startSegment()
			continue
		}
		for {
			s.mu.Lock()
			b := s.pending
			if b.n == 0 {
				closing := s.closed
				s.mu.Unlock()
				if closing {
					s.shutdown()
					return
				}
				break
			}
			s.pending = &batch{buf: s.spare[:0], done: make(chan struct{})}
			s.mu.Unlock()

			b.flushBuf()
			b.err = s.commit(b)
			if b.err == nil {
				s.appended.Add(int64(b.n))
			}
			close(b.done)
			s.spare = nil
			if cap(b.buf) <= maxSpare {
				s.spare = b.buf
			}
			select {
			case s.notify <- struct{}{}:
			default:
			}
			s.mu.Lock()
			for _, c := range s.watchers {
				select {
				case c <- struct{}{}:
				default:
				}
			}
			s.mu.Unlock()
		}
	}
}

// commit appends b's records to the active segment and makes them
// durable.
func (s *Spool) commit(b *batch) error {
	if s.rotate || (s.fsize > fileHeaderSize && s.fsize+b.size > s.opts.SegmentSize) {
		if err := s.startSegment(); err != nil {
			return err
		}
	}
	for _, off := range b.hdrs {
		sealHeader(b.buf[off:off+frameHeaderSize], s.seq)
	}
	// Written at the tracked end, not appended: a reused file is longer
	// than what this segment holds.
	s.iov = s.iov[:0]
	for _, p := range b.parts {
		s.iov = append(s.iov, p.bytes(b))
	}
	err := fileio.WriteParts(s.f, s.iov, s.fsize)
	clear(s.iov) // the large payloads are their callers' again
	if s.testHookSync != nil {
		s.testHookSync()
	}
	if err == nil && !s.opts.NoSync {
		err = s.f.Sync()
	}
	if err != nil {
		// What reached the disk is unknown: cut the file back to its last
		// good commit (best effort; readers stop there anyway) and write
		// the next batch to a fresh segment.
		_ = s.f.Truncate(s.fsize)
		s.rotate = true
		return fmt.Errorf("spool: write %s: %w", s.path(s.seq), err)
	}
	s.fsize += b.size
	s.mu.Lock()
	s.segs[len(s.segs)-1].size = s.fsize
	s.mu.Unlock()
	return nil
}

// startSegment seals the active segment, if any, and starts the next one.
// On failure the spool is left without a segment (Unavailable says why)
// until a later call succeeds.
func (s *Spool) startSegment() error {
	seq := s.seq + 1
	s.sealActive()
	s.mu.Lock()
	var spare string
	if n := len(s.spares); n > 0 {
		spare, s.spares = s.spares[n-1], s.spares[:n-1]
	}
	s.mu.Unlock()
	f, reused, err := createSegment(s.dir, seq, !s.opts.NoSync, spare)
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.segs); n > 0 {
		s.segs[n-1].sealed = true
	}
	if s.f != nil {
		s.f.Close() // everything in it was synced or cut back
		s.f = nil
	}
	if err != nil {
		s.segErr, s.rotate = err, true
		return err
	}
	s.segErr = nil
	s.segs = append(s.segs, segment{seq: seq, size: fileHeaderSize})
	s.f, s.fsize, s.seq, s.rotate, s.reused = f, fileHeaderSize, seq, false, reused
	return nil
}

// sealActive cuts the active segment's file at its last commit: a reused
// file holds its earlier records after it, which a reader after a restart
// would otherwise meet (and count as damage) before the file's end. A
// failed cut costs only that.
func (s *Spool) sealActive() {
	if s.f != nil && s.reused {
		_ = s.f.Truncate(s.fsize)
	}
}

// shutdown syncs and closes the active segment.
func (s *Spool) shutdown() {
	var err error
	s.sealActive()
	if s.f != nil {
		if !s.opts.NoSync {
			err = s.f.Sync()
		}
		if cerr := s.f.Close(); err == nil {
			err = cerr
		}
	}
	s.mu.Lock()
	if n := len(s.segs); n > 0 {
		s.segs[n-1].sealed = true
	}
	if err != nil {
		s.closeErr = fmt.Errorf("spool: close: %w", err)
	}
	s.mu.Unlock()
}

// Close flushes pending appends and stops the committer. Calls made after
// Close return ErrClosed.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	s.mu.Unlock()
	s.kick()
	<-s.stopped
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeErr
}

// Notify returns a channel (capacity 1) that receives after every commit,
// so a reader can wait for work. It is the digest worker's: another
// reader takes its own with Watch.
func (s *Spool) Notify() <-chan struct{} { return s.notify }

// Watch returns a new channel (capacity 1) that, like Notify's, receives
// after every commit, for a reader other than the digest worker.
func (s *Spool) Watch() <-chan struct{} {
	c := make(chan struct{}, 1)
	s.mu.Lock()
	s.watchers = append(s.watchers, c)
	s.mu.Unlock()
	return c
}

// Release deletes the segment files that lie wholly before p: those with a
// lower seq, and p's own segment once it is sealed and p is at its end. It
// never deletes the segment being written, nor a segment a Hold still
// needs. Release is the digest worker's; other readers use a Hold.
func (s *Spool) Release(p Pos) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.primary = true
	if p.after(s.released) {
		s.released = p
	}
	return s.dropLocked()
}

// Hold is an independent reader's claim on the spool: no segment at or
// after its position is deleted, whatever Release is told, until the hold
// moves on. Its methods are safe for concurrent use.
type Hold struct {
	s  *Spool
	id int
}

// Hold registers a reader at p. Until Release is called once, the digest
// worker's position does not count: a spool read only through holds (no
// digest) deletes what all holds have passed.
func (s *Spool) Hold(p Pos) *Hold {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holds == nil {
		s.holds = map[int]Pos{}
	}
	s.nextHold++
	s.holds[s.nextHold] = p
	return &Hold{s: s, id: s.nextHold}
}

// Release moves the hold to p and deletes the segments no reader needs
// any more.
func (h *Hold) Release(p Pos) error {
	s := h.s
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if _, ok := s.holds[h.id]; !ok {
		s.mu.Unlock()
		return nil
	}
	s.holds[h.id] = p
	return s.dropLocked()
}

// Close removes the hold (its reader stops); what only it kept is deleted
// at the next Release.
func (h *Hold) Close() {
	h.s.mu.Lock()
	delete(h.s.holds, h.id)
	h.s.mu.Unlock()
}

// bound returns the position before which no reader needs a record: the
// least of the digest's (once it released) and the holds'; ok is false
// when no reader has said anything yet.
func (s *Spool) bound() (p Pos, ok bool) {
	if s.primary {
		p, ok = s.released, true
	}
	for _, h := range s.holds {
		if !ok || p.after(h) {
			p, ok = h, true
		}
	}
	return p, ok
}

// dropLocked deletes the segments wholly before bound; it is called with
// s.mu held and unlocks it.
func (s *Spool) dropLocked() error {
	p, ok := s.bound()
	if !ok {
		s.mu.Unlock()
		return nil
	}
	var drop []uint64
	keep := s.segs[:0:0]
	for _, sg := range s.segs {
		if sg.sealed && (sg.seq < p.Seg || sg.seq == p.Seg && p.Off >= sg.size) {
			drop = append(drop, sg.seq)
			delete(s.damSeen, sg.seq)
			continue
		}
		keep = append(keep, sg)
	}
	s.segs = keep
	recycle := min(len(drop), max(0, maxSpares-len(s.spares)-s.recycling))
	s.recycling += recycle
	s.mu.Unlock()

	// The newest released files are kept as spares, the others deleted.
	var errs []error
	var kept []string
	for i, seq := range drop {
		if i >= len(drop)-recycle {
			if spare, ok := s.makeSpare(seq); ok {
				kept = append(kept, spare)
				continue
			}
		}
		if err := os.Remove(s.path(seq)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("spool: release: %w", err))
		}
	}
	s.mu.Lock()
	s.recycling -= recycle
	s.spares = append(s.spares, kept...)
	s.mu.Unlock()
	return errors.Join(errs...)
}

// makeSpare renames released segment seq to a spare, unless it is of the
// first format (whose records do not name their segment: reused, they
// could read as new ones).
func (s *Spool) makeSpare(seq uint64) (string, bool) {
	if m := magicOf(s.path(seq)); m != fileMagic && m != fileMagicReused {
		return "", false
	}
	spare := filepath.Join(s.dir, spareName(seq))
	if os.Rename(s.path(seq), spare) != nil {
		return "", false
	}
	return spare, true
}

func spareName(seq uint64) string { return fmt.Sprintf("%016x.spare", seq) }

// magicOf returns the first fileHeaderSize bytes of the file at path, ""
// when they cannot be read.
func magicOf(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var magic [fileHeaderSize]byte
	if _, err := f.ReadAt(magic[:], 0); err != nil {
		return ""
	}
	return string(magic[:])
}

// after reports whether p lies after q.
func (p Pos) after(q Pos) bool { return p.Seg > q.Seg || p.Seg == q.Seg && p.Off > q.Off }

// End returns the position after the last durable record.
func (s *Spool) End() Pos {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.segs); n > 0 {
		return Pos{Seg: s.segs[n-1].seq, Off: s.segs[n-1].size}
	}
	return Pos{Seg: s.seq, Off: fileHeaderSize}
}

// BytesAfter returns the bytes of the segment files that lie after p: how
// much a reader at p has left to read (frames included).
func (s *Spool) BytesAfter(p Pos) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, sg := range s.segs {
		switch {
		case sg.seq > p.Seg:
			n += sg.size - fileHeaderSize
		case sg.seq == p.Seg:
			n += max(0, sg.size-max(p.Off, fileHeaderSize))
		}
	}
	return n
}

// Appended returns the number of records made durable since Open.
func (s *Spool) Appended() int64 { return s.appended.Load() }

// Stats returns the spool's current figures. Oldest costs one small read.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	st := Stats{Files: len(s.segs), Damaged: s.damaged}
	for _, sg := range s.segs {
		st.Bytes += sg.size
	}
	from := s.released
	s.mu.Unlock()

	s.ReadFrom(from, 1, 1, func(r *Record, _ Pos) error {
		st.Oldest = r.IngestedAt
		return nil
	})
	return st
}

// Damaged returns Stats().Damaged without Stats' read of the oldest
// record.
func (s *Spool) Damaged() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.damaged
}

// String formats p as "seg:off", the form ParsePos reads.
func (p Pos) String() string {
	return strconv.FormatUint(p.Seg, 10) + ":" + strconv.FormatInt(p.Off, 10)
}

// ParsePos parses a position formatted by Pos.String; "" is the zero Pos.
func ParsePos(s string) (Pos, error) {
	if s == "" {
		return Pos{}, nil
	}
	a, b, ok := strings.Cut(s, ":")
	seg, err1 := strconv.ParseUint(a, 10, 64)
	off, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || off < 0 {
		return Pos{}, fmt.Errorf("spool: bad position %q", s)
	}
	return Pos{Seg: seg, Off: off}, nil
}

// WriteMetrics writes the spool's files, bytes and damaged segments to p.
func (st Stats) WriteMetrics(p *prom.Writer) {
	p.One("tinysink_spool_files", "gauge", "Spool segment files on disk.", float64(st.Files))
	p.One("tinysink_spool_bytes", "gauge", "Bytes of the spool segment files.", float64(st.Bytes))
	p.One("tinysink_spool_damaged_segments_total", "counter", "Spool segments in which a damaged record was skipped.", float64(st.Damaged))
}
