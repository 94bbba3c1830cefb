// Package digest turns spooled events into stored events and issues. One
// worker goroutine reads the spool in batches, parses each event once,
// groups it, and commits the whole batch, spool position included, in one
// store transaction. Replaying the spool after a crash stores nothing twice:
// the position commits with the batch, and event ids are unique per
// project.
package digest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tinysink/tinysink/budget"
	"github.com/tinysink/tinysink/digest/event"
	"github.com/tinysink/tinysink/digest/rawevent"
	"github.com/tinysink/tinysink/digest/release"
	"github.com/tinysink/tinysink/digest/scrub"
	"github.com/tinysink/tinysink/digest/sourcemap"
	"github.com/tinysink/tinysink/ingest/ratelog"
	"github.com/tinysink/tinysink/ingest/spool"
	"github.com/tinysink/tinysink/store"
)

// Defaults for a batch.
const (
	DefaultBatchEvents = 200
	DefaultBatchBytes  = 2 << 20 // of spooled (uncompressed) payload
)

// ExpireEvery is how often age-based retention runs.
const ExpireEvery = 10 * time.Minute

// Once the spool has been empty for shedAfter, the worker drops the
// buffers it keeps from batch to batch (a steady stream, even of a few
// events a second, keeps them); after releaseAfter events, it also hands
// free memory back to the system once the spool has been empty for
// idleAfter.
const (
	shedAfter    = time.Second
	releaseAfter = 1000
	idleAfter    = 5 * time.Second
)

// Linger is how long the worker waits after a batch that did not fill, so
// that the next one gathers more events.
const Linger = 50 * time.Millisecond

// Worker is the digest worker.
type Worker struct {
	db    *store.DB
	spool *spool.Spool
	log   *slog.Logger
	drops *ratelog.Limiter // a line per drop reason and project per minute
	norm  *event.Normalizer
	// normWorkers is how many goroutines parse and scrub a full batch's
	// events (prepare): 2 when the server may use two or more CPUs
	// (budget.CPUs: affinity, cgroup limit), else 1 (the worker's own
	// goroutine). extraNorms are the normalisers of all but
	// the first.
	normWorkers int
	extraNorms  []*event.Normalizer
	// parallelAbove is the backlog (bytes of spool not yet digested) above
	// which a batch is prepared by several goroutines: parsing by
	// normWorkers, compressing on a goroutine of its own. At or below it
	// (the digest keeps up), the worker's own goroutine does it all, so
	// that a batch takes one processor and the ingest handlers have the
	// others. Measured at a steady 1,000 events/s on two cores: the
	// parallel batches took a third of the time, and most acks slower than
	// 4 ms fell within one. DefaultBatchBytes: behind by more than a
	// batch.
	parallelAbove int64
	// Pressure, when set, reports whether memory is short; the worker then
	// takes small batches.
	Pressure func() bool
	// OnAlert, when set, is called after a batch that enqueued alerts
	// (the alert sender's wake-up).
	OnAlert func()
	// MaxEventAge, when positive, removes events older than this, checked
	// at start and every ExpireEvery.
	MaxEventAge time.Duration
	// Native, when set, processes the minidumps of events that carry one
	// and sweeps the attachments of events that are gone.
	Native *Native
	// Maps, when set, names a synthetic exception whose crash frame is
	// minified after the frame's mapped function (mapTitle).
	Maps *sourcemap.Mapper

	// quiet is how long the spool stays empty after a burst before release
	// hands memory back (idleAfter; shorter in tests); after shedWait
	// (shedAfter) of it, shed drops the batch buffers.
	quiet    time.Duration
	shedWait time.Duration
	release  func()
	shed     func()

	// scratch holds the buffers of the batch being prepared, kept from
	// batch to batch while events come and dropped by shed.
	scratch scratch

	mu  sync.Mutex // guards pos and damaged
	pos spool.Pos
	// damaged is the spool's count of damaged segments the worker last
	// logged (see logDamage).
	damaged int64

	digested    atomic.Int64
	duplicates  atomic.Int64
	invalid     atomic.Int64
	evicted     atomic.Int64
	quarantined atomic.Int64
	batches     atomic.Int64
	lastBatch   atomic.Int64 // unix nanos of the last committed batch
	lastNanos   atomic.Int64 // duration of the last batch
	idle        atomic.Bool  // the last read found the spool empty
}

// New returns a worker that digests sp into db, starting where the last
// committed batch left off.
func New(db *store.DB, sp *spool.Spool, log *slog.Logger) (*Worker, error) {
	s, err := db.SpoolPos()
	if err != nil {
		return nil, err
	}
	pos, err := spool.ParsePos(s)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	// Segments digested before a restart go now, not at the first batch:
	// the spool's backlog figures start out right.
	if err := sp.Release(pos); err != nil {
		log.Warn("spool release failed", "err", err)
	}
	w := &Worker{db: db, spool: sp, log: log, drops: ratelog.New(log, ratelog.DefaultEvery, nil), norm: newNormalizer(), pos: pos, quiet: idleAfter, shedWait: shedAfter, parallelAbove: DefaultBatchBytes}
	if budget.CPUs() >= 2 {
		w.normWorkers = 2
	}
	w.shed = w.Shed
	// After a burst, hand the heap it grew back to the system now, rather
	// than when the runtime's scavenger gets to it minutes later.
	w.release = func() {
		w.shed()
		debug.FreeOSMemory()
	}
	return w, nil
}

// Shed lets the GC have the buffers kept from batch to batch (scratch,
// the normaliser's, the store's: DB.ReleaseBuffers, and the spool's
// reader: Spool.ReleaseBuffers), as the worker
// does by itself once the spool has been empty for shedAfter.
// /debug/budget?gc=1 calls it, so that readings taken after different
// bursts compare what an idle server holds.
func (w *Worker) Shed() {
	w.db.ReleaseBuffers()
	w.spool.ReleaseBuffers()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.scratch.drop()
	w.norm.Shed()
	for _, n := range w.extraNorms {
		n.Shed()
	}
}

// Stats are the worker's counters.
type Stats struct {
	Digested   int64 `json:"digested"`
	Duplicates int64 `json:"duplicates"`
	Invalid    int64 `json:"invalid"`
	Evicted    int64 `json:"evicted"`
	// Quarantined counts the events set aside (see isolate.go).
	Quarantined int64         `json:"quarantined"`
	Batches     int64         `json:"batches"`
	LastBatch   time.Time     `json:"last_batch,omitzero"`
	BatchTime   time.Duration `json:"last_batch_ns"`
	Idle        bool          `json:"idle"`
}

// Stats returns the worker's counters.
func (w *Worker) Stats() Stats {
	s := Stats{
		Digested: w.digested.Load(), Duplicates: w.duplicates.Load(), Invalid: w.invalid.Load(), Evicted: w.evicted.Load(),
		Quarantined: w.quarantined.Load(),
		Batches:     w.batches.Load(), BatchTime: time.Duration(w.lastNanos.Load()), Idle: w.idle.Load(),
	}
	if n := w.lastBatch.Load(); n != 0 {
		s.LastBatch = time.Unix(0, n)
	}
	return s
}

// Run digests until ctx is done, and returns ctx.Err(). It drains whatever
// the spool holds first, then waits for new records. A failing batch does
// not end it: it is logged and retried with backoff.
func (w *Worker) Run(ctx context.Context) error {
	notify := w.spool.Notify()
	backoff := time.Second
	// Retention runs at start and every ExpireEvery. The attachments
	// sweep waits until the worker has caught up with the spool: an event
	// still in the spool has its attachments on disk but is not stored
	// yet, and after a restart with a backlog they may be older than the
	// sweep's grace period.
	nextExpire := time.Now()
	sweepDue := true
	caughtUp := false
	busy := 0     // events digested since memory was last handed back
	held := false // batch buffers kept since the last shed
	for {
		if time.Now().After(nextExpire) {
			w.expireEvents()
			nextExpire = time.Now().Add(ExpireEvery)
			sweepDue = true
		}
		if sweepDue && caughtUp {
			w.sweepAttachments()
			sweepDue = false
		}
		n, full, err := w.batch()
		caughtUp = err == nil && !full
		if err != nil {
			w.log.Error("digest batch failed", "err", err)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Minute)
			continue
		}
		backoff = time.Second
		busy += n // a backlog's full batches count too
		held = held || n > 0
		if full {
			continue // a backlog: keep going
		}
		if n > 0 {
			// Under a steady trickle, let a batch accumulate: every batch
			// costs three fsyncs that compete with ingest's.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(Linger):
			}
			continue
		}
		wait := w.quiet
		if held {
			wait = min(w.shedWait, w.quiet)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-notify:
		case <-time.After(wait):
			if held {
				w.shed() // no event for a while: drop the batch buffers
				held = false
				if wait < w.quiet {
					continue // the release waits for a quiet of its own
				}
			}
			if busy >= releaseAfter {
				w.release() // idle after a burst
				busy = 0
			}
		}
	}
}

// logDamage logs an error when the spool met a damaged record since the
// last call: the spool skips it (and, when no whole record follows it in
// its segment, the rest of the segment), so an event it had acknowledged
// is not digested (tinysink_spool_damaged_segments_total counts the
// segments). w.mu must be held.
func (w *Worker) logDamage() {
	if d := w.spool.Damaged(); d != w.damaged {
		w.damaged = d
		w.log.Error("a damaged spool record was skipped: the event in it is not digested", "damaged_segments", d)
	}
}

// Drain digests until the spool holds nothing more to read.
func (w *Worker) Drain() error {
	for {
		n, err := w.Batch()
		if err != nil || n == 0 {
			return err
		}
	}
}

// item is one spooled event, parsed.
type item struct {
	project    int
	eventID    string // as spooled
	ingestedAt time.Time
	digestedAt time.Time
	at, next   spool.Pos // the positions before and after its spool record
	alerted    bool      // the event enqueued an alert
	dropped    string    // why digestOne dropped the event ("duplicate", "unknown_project", "bad_event_id")
	ev         *event.Event
	body       []byte        // compressed, see store.CompressBody
	fail       *eventFailure // set when preparing it failed (see isolate.go)
	// typ and raw are set for a record that is not an event: its item
	// type and payload (items.go).
	typ string
	raw []byte
	// norm is the worker's normaliser, for the events an item that is not
	// an event may cause (a cron monitor's failure) and for an event's
	// deferred search text (fillSearchText); the worker's lock serialises
	// its users. nil for an item that came from elsewhere.
	norm *event.Normalizer
}

// Batch digests one batch and returns how many spool records it consumed.
func (w *Worker) Batch() (int, error) {
	n, _, err := w.batch()
	return n, err
}

// batch is Batch; full reports that the batch stopped at a size limit, so
// more records are waiting.
func (w *Worker) batch() (n int, full bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	start := time.Now()
	maxEvents, maxBytes := DefaultBatchEvents, int64(DefaultBatchBytes)
	if w.Pressure != nil && w.Pressure() {
		maxEvents, maxBytes = 10, 256<<10
	}
	// Several goroutines prepare a batch only while the digest is behind:
	// under a steady trickle they took every processor for the few
	// milliseconds of each batch, and the ingest handlers' acks waited
	// behind them (see parallelAbove).
	parallel := maxEvents == DefaultBatchEvents && w.spool.BytesAfter(w.pos) > w.parallelAbove
	items, _, read, n, err := w.prepare(maxEvents, maxBytes, parallel)
	w.logDamage()
	if err != nil {
		return 0, false, fmt.Errorf("read spool: %w", err)
	}
	w.idle.Store(n == 0)
	full = n >= maxEvents || read >= maxBytes
	if n == 0 {
		return 0, false, nil
	}
	// Commit the batch; an event that fails is set aside and the others
	// commit (isolate.go). err is a failure that is not one event's: the
	// events before it are committed, the rest wait for the next try.
	res := outcome{touched: map[int]bool{}}
	w.db.WidenTreeCache()
	if parallel {
		w.db.RecycleTreePages()
	}
	err = w.commitAll(items, &res)
	if res.moved {
		w.batches.Add(1)
		w.lastBatch.Store(time.Now().UnixNano())
		w.lastNanos.Store(int64(time.Since(start)))
		if err := w.spool.Release(w.pos); err != nil {
			w.log.Warn("spool release failed", "err", err)
		}
		for _, it := range items {
			if it.dropped != "" && it.ev != nil {
				w.drops.Log(slog.LevelInfo, "event dropped", it.dropped, it.project, "event_id", it.ev.EventID)
			}
		}
	}
	if w.OnAlert != nil && slices.ContainsFunc(items, func(it *item) bool { return it.alerted }) {
		w.OnAlert()
	}
	for pid := range res.touched {
		w.retain(pid)
	}
	if err != nil {
		return 0, false, err
	}
	return n, full, nil
}

// retain runs a retention round when project pid stores more events than
// its maximum.
func (w *Worker) retain(pid int) {
	p, err := w.db.Project(pid)
	if err != nil {
		return
	}
	target := store.EvictTarget(p.StoredEventCount, p.RetentionMax)
	if target == 0 {
		return
	}
	start := time.Now()
	// The evicted bodies' space comes back in the background: waiting for
	// ~300 fallocates a round was a third of the digest's time at full
	// speed (store/puncher.go).
	n, err := w.db.EvictProjectFreeLater(pid, target)
	if err != nil {
		w.log.Error("retention round failed", "project_id", pid, "err", err)
		return
	}
	w.evicted.Add(int64(n))
	w.log.Debug("retention round", "project_id", pid, "evicted", n, "took", time.Since(start))
}

// sweepAttachments removes the attachments of events that are gone
// (evicted, deleted, or never stored: a request that stopped between
// writing them and spooling its event). Run calls it only when the spool
// holds nothing undigested.
func (w *Worker) sweepAttachments() {
	if w.Native != nil && w.Native.Attachments != nil {
		// Attachments of evicted or deleted events, and those past their
		// retention.
		exists := func(pid int, id string) bool {
			eid, ok := rawevent.ParseID(id)
			if !ok {
				return false
			}
			_, _, err := w.db.ProjectEvent(pid, eid)
			return err != store.ErrNotFound
		}
		if n := w.Native.Attachments.Sweep(exists, w.Native.MaxAge); n > 0 {
			w.log.Info("attachments removed", "events", n)
		}
	}
}

// expireEvents removes events older than MaxEventAge from every project.
func (w *Worker) expireEvents() {
	if w.MaxEventAge <= 0 {
		return
	}
	ps, err := w.db.Projects()
	if err != nil {
		w.log.Error("age retention failed", "err", err)
		return
	}
	cutoff := w.db.Now().Add(-w.MaxEventAge)
	for _, p := range ps {
		n, err := w.db.EvictOlderThan(p.ID, cutoff)
		if err != nil {
			w.log.Error("age retention failed", "project_id", p.ID, "err", err)
			continue
		}
		w.evicted.Add(int64(n))
	}
}

// yielder lets the goroutines waiting for a processor run now and then
// during a batch. A batch is tens of milliseconds of CPU; without a yield,
// the ingest handlers that would acknowledge events meanwhile wait for the
// scheduler's 10 ms preemption, and on one core for the whole batch. It
// yields once a millisecond, not after every event: a yield can wake a
// thread, which on a busy VM costs more than an event.
type yielder struct{ last time.Time }

func newYielder() *yielder { return &yielder{last: time.Now()} }

// maybe yields when a millisecond has passed since the last yield.
func (y *yielder) maybe() {
	if t := time.Now(); t.Sub(y.last) >= time.Millisecond {
		runtime.Gosched()
		y.last = t
	}
}

// prepare reads up to maxEvents records (about maxBytes of payload) after
// the worker's position, and parses, scrubs and compresses each. With
// parallel set, compression runs on a goroutine of its own while the next
// event is parsed, and on a machine of two or more CPUs the events are
// parsed and scrubbed by normWorkers goroutines (each with its own
// normaliser) while this one reads the next records: one goroutine could
// not keep up with what ingest acknowledges on two cores. It returns the
// events in spool order, the position after the last record read, and how
// many records and payload bytes it read (invalid events count but are
// not returned).
func (w *Worker) prepare(maxEvents int, maxBytes int64, parallel bool) (items []*item, next spool.Pos, read int64, n int, err error) {
	scrubs := map[int]*store.ScrubSettings{}
	now := w.db.Now().UTC()
	w.scratch.resetFrames()
	// Without parallel, each body is compressed as soon as it is
	// written, from the normaliser's scratch: copying it out first, as
	// a compressing goroutine needs, cost ~0.5 % of the server's CPU.
	normalize := func(r *spool.Record, it *item) {
		if body, ok := w.normalizeItem(w.norm, r, it, scrubs, false); ok {
			w.compressItem(it, body)
		}
	}
	switch {
	case parallel && w.normWorkers > 1:
		// Each normalising goroutine compresses what it normalised, from
		// its normaliser's scratch, and copies the frame into the shared
		// chunks (compressShared). Handing the bodies to one compressing
		// goroutine took a copy of each into a pooled buffer, a queue of
		// them (~0.4 MB held), and a wake-up per event; chunks of each
		// goroutine's own held twice the bytes, each sized for the
		// largest share of a batch it ever had.
		type rec struct {
			r   spool.Record // Payload is a copy from the body free list
			it  *item
			big bool
		}
		recs := make(chan rec, 4)
		// A large event (or a minidump's) takes this token until it is
		// normalised: one at a time, as before, so that two goroutines
		// never hold two large parses at once.
		big := make(chan struct{}, 1)
		var nwg sync.WaitGroup
		for k := range w.normWorkers {
			norm := w.normalizer(k)
			nwg.Go(func() {
				scrubs := map[int]*store.ScrubSettings{}
				y := newYielder() // as the reading goroutine does
				var tmp []byte    // this goroutine's compressed frame
				for j := range recs {
					y.maybe()
					if body, ok := w.normalizeItem(norm, &j.r, j.it, scrubs, false); ok {
						w.compressShared(j.it, body, &tmp)
					}
					w.scratch.putBody(j.r.Payload)
					if j.big {
						<-big
					}
				}
			})
		}
		defer func() { close(recs); nwg.Wait() }()
		normalize = func(r *spool.Record, it *item) {
			j := rec{r: *r, it: it, big: len(r.Payload) > maxPooledBody || hasMinidump(r.Payload)}
			if j.big {
				big <- struct{}{}
			}
			j.r.Payload = append(w.scratch.getBody(len(r.Payload)), r.Payload...)
			recs <- j
		}
	case parallel:
		// One CPU: compression on a goroutine of its own, while the next
		// event is parsed.
		type job struct {
			it   *item
			body []byte
		}
		jobs := make(chan job, 16)
		var wg sync.WaitGroup
		wg.Go(func() {
			for j := range jobs {
				w.compressItem(j.it, j.body)
				w.scratch.putBody(j.body)
			}
		})
		defer func() { close(jobs); wg.Wait() }()
		normalize = func(r *spool.Record, it *item) {
			if body, ok := w.normalizeItem(w.norm, r, it, scrubs, true); ok {
				jobs <- job{it, body}
			}
		}
	}
	at := w.pos
	y := newYielder()
	next, err = w.spool.ReadFrom(w.pos, maxEvents, maxBytes, func(r *spool.Record, rnext spool.Pos) error {
		y.maybe()
		n++
		read += int64(len(r.Payload))
		it := &item{project: r.Project, eventID: r.EventID, ingestedAt: r.IngestedAt, digestedAt: now, at: at, next: rnext, norm: w.norm}
		at = rnext
		items = append(items, it)
		if r.Type != "" {
			it.typ, it.raw, it.norm = r.Type, bytes.Clone(r.Payload), w.norm
			return nil
		}
		normalize(r, it)
		return nil
	})
	return items, next, read, n, err
}

// normalizeItem normalises record r into it with norm and returns the body
// to compress (see normalize for pooled); an event that fails is marked
// (set aside when the batch commits, commitAll) and ok is false.
func (w *Worker) normalizeItem(norm *event.Normalizer, r *spool.Record, it *item, scrubs map[int]*store.ScrubSettings, pooled bool) (body []byte, ok bool) {
	body, fail := w.normalize(norm, r, it, scrubs, pooled)
	if fail != nil {
		if errors.Is(fail, event.ErrInvalid) {
			w.invalid.Add(1)
			w.drops.Log(slog.LevelWarn, "event set aside", "invalid", r.Project, "event_id", r.EventID, "err", fail)
		}
		it.fail = fail
		return nil, false
	}
	return body, true
}

// newNormalizer returns a normaliser for the worker: one that defers the
// search text, which indexSearch computes for the few events that need it
// (fillSearchText).
func newNormalizer() *event.Normalizer {
	n := event.NewNormalizer()
	n.DeferSearchText = true
	return n
}

// normalizer returns the normaliser of normalising goroutine k: the
// worker's own for k 0, others made on first use and kept (Shed drops
// their buffers).
func (w *Worker) normalizer(k int) *event.Normalizer {
	if k == 0 {
		return w.norm
	}
	for len(w.extraNorms) < k {
		w.extraNorms = append(w.extraNorms, newNormalizer())
	}
	return w.extraNorms[k-1]
}

// normalize parses and scrubs the event of record r into it.ev and returns
// the body to store: in a buffer of the scratch's free list when pooled,
// else in norm's scratch. A panic in either becomes an eventFailure.
func (w *Worker) normalize(norm *event.Normalizer, r *spool.Record, it *item, scrubs map[int]*store.ScrubSettings, pooled bool) (body []byte, fail *eventFailure) {
	stage := "normalize"
	defer recoverEvent(&fail, &stage)
	if testHookNormalize != nil {
		testHookNormalize(r.Payload)
	}
	meta := event.Meta{EventID: r.EventID, IngestedAt: r.IngestedAt, RemoteAddr: r.RemoteAddr}
	payload := r.Payload
	if w.Native != nil && hasMinidump(payload) {
		stage = "minidump"
		merged, err := w.Native.MergeMinidump(r.Project, r.EventID, payload)
		if err != nil {
			return nil, &eventFailure{stage: stage, err: err}
		}
		payload = merged
		stage = "normalize"
	}
	sc, ok := scrubs[r.Project]
	if !ok {
		if p, err := w.db.Project(r.Project); err == nil {
			sc = &p.Scrub
		}
		scrubs[r.Project] = sc
	}
	// Scrubbed as it is written, before anything is stored (on unless
	// the project turned it off); a scrubbed event's title, tags and
	// other index fields are read from the scrubbed body. body is the
	// normaliser's scratch until it is copied below.
	var ev *event.Event
	var err error
	if sc != nil && !sc.Off {
		ev, body, _, err = norm.NormalizeScrubbed(payload, meta, scrub.Options{ExtraKeys: sc.ExtraKeys, ScrubIP: sc.IP})
	} else {
		ev, body, err = norm.NormalizeTemp(payload, meta)
	}
	if err != nil {
		return nil, &eventFailure{stage: stage, err: err}
	}
	it.ev = ev
	// With pooled, copied into a pooled buffer (compressItem gives it
	// back) for a compression on another goroutine; without, it stays the
	// normaliser's, valid until norm's next normalisation (mapTitle's
	// Reindex does not write a body).
	if pooled {
		body = append(w.scratch.getBody(len(body)), body...)
	}
	stage = "source map title"
	w.mapTitle(norm, r.Project, it.ev, body, meta)
	return body, nil
}

// mapTitle titles a synthetic exception without a message whose crash
// frame's function is minified or "?" — titled "<file> in <function>" by
// the event package — after that frame as the project's uploaded source
// maps map it: the mapped function alone, as an unminified build of the
// same code would be titled, or "<mapped file> in <function>" when the map
// has no name for it. The maps are resolved by w.Maps exactly as when the
// event is shown (debug id, else release file); the stored body and the
// grouping key stay the minified ones, so the issue does not change when a
// map is uploaded, replaced or expires. Projects without uploads cost one
// key lookup: no map is loaded for them.
func (w *Worker) mapTitle(norm *event.Normalizer, pid int, ev *event.Event, body []byte, meta event.Meta) {
	if w.Maps == nil || ev == nil || ev.Rule != event.RuleSynthetic || ev.CalculatedType == ev.SyntheticFunction || !w.db.HasArtifacts(pid) {
		return
	}
	mapped := w.Maps.Apply(pid, body)
	if len(mapped) == len(body) && (len(body) == 0 || &mapped[0] == &body[0]) {
		return // nothing mapped
	}
	mev, err := norm.Reindex(mapped, meta)
	if err != nil || mev.Rule != event.RuleSynthetic || mev.CalculatedType == ev.CalculatedType {
		return
	}
	ev.CalculatedType, ev.Title = mev.CalculatedType, mev.Title
}

// compressItem sets it.body to the compressed body, in the batch's frame
// chunks; a panic sets it.fail. Calls are never concurrent with each other
// or with compressShared: prepare makes them from one goroutine.
func (w *Worker) compressItem(it *item, body []byte) {
	stage := "compress"
	defer recoverEvent(&it.fail, &stage)
	it.body = w.scratch.compress(body)
}

// compressShared sets it.body to the compressed body: compressed into
// *tmp, the calling goroutine's own buffer, then copied into the batch's
// frame chunks (addFrame, under the scratch's lock). A panic sets it.fail.
func (w *Worker) compressShared(it *item, body []byte, tmp *[]byte) {
	stage := "compress"
	defer recoverEvent(&it.fail, &stage)
	*tmp = store.AppendCompressed((*tmp)[:0], body)
	it.body = w.scratch.addFrame(*tmp)
	if cap(*tmp) > maxPooledBody {
		*tmp = nil // a large event's: not kept
	}
}

// scratch keeps the buffers a batch needs from one batch to the next. A
// sync.Pool (what it replaces) is emptied by every garbage collection, and
// at full speed the GC runs dozens of times a second: the bodies' buffers
// and the compressed frames, one copy each per event, were ~21 % of the
// bytes the server allocated. The worker drops them (shed) once the spool
// has been empty for 1 s, so an idle server holds none.
type scratch struct {
	// bodies is a free list of the buffers that carry a record's payload
	// to a normalising goroutine, or (one CPU) a normalised body to the
	// compressing one: hence a channel.
	bodies chan []byte
	once   sync.Once

	// frames are the chunks the batch's compressed bodies are cut from;
	// frames[cur] is being filled. Only compress and addFrame append
	// (addFrame under mu, from several goroutines; compress from one
	// alone, never while addFrame may run), and only resetFrames (before
	// a batch is prepared, the last one committed) empties them: the
	// store writes a batch's bodies from these chunks when it commits
	// (store.NewEvent.Compressed), so they must stay as they are until
	// then.
	mu     sync.Mutex
	frames [][]byte
	cur    int
}

const (
	// maxPooledBody bounds the buffers the free list keeps; a larger
	// event's body is left to the GC.
	maxPooledBody = 64 << 10
	freeBodies    = 24 // one CPU: the compressor's queue (16) and a few more
	// frameChunk is the largest chunk of compressed frames (a ~14 KB
	// event compresses to ~3 KB); a larger frame gets its own allocation.
	// The first chunk is firstChunk, and each new one is twice the last
	// up to frameChunk, so that a server that only ever sees a few events
	// per batch keeps 16 KiB of chunks, not 256.
	frameChunk = 256 << 10
	firstChunk = 16 << 10
)

func (s *scratch) init() { s.once.Do(func() { s.bodies = make(chan []byte, freeBodies) }) }

// getBody returns an empty buffer with room for n bytes, from the free
// list if it has one that large.
func (s *scratch) getBody(n int) []byte {
	s.init()
	if n <= maxPooledBody {
		select {
		case b := <-s.bodies:
			if cap(b) >= n {
				return b[:0]
			}
		default:
		}
		return make([]byte, 0, max(n, maxPooledBody/4))
	}
	return make([]byte, 0, n)
}

// putBody gives b back to the free list. b must not be used afterwards.
func (s *scratch) putBody(b []byte) {
	s.init()
	if cap(b) <= maxPooledBody {
		select {
		case s.bodies <- b:
		default:
		}
	}
}

// resetFrames empties the frame chunks for the next batch.
func (s *scratch) resetFrames() {
	for i := range s.frames {
		s.frames[i] = s.frames[i][:0]
	}
	s.cur = 0
}

// compress returns body's compressed frame, cut from the frame chunks; a
// frame larger than the room left gets an allocation of its own.
func (s *scratch) compress(body []byte) []byte {
	return s.cut(func(dst []byte) []byte { return store.AppendCompressed(dst, body) })
}

// addFrame returns a copy of frame, cut from the frame chunks like
// compress's frames. Several goroutines may call it at once.
func (s *scratch) addFrame(frame []byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cut(func(dst []byte) []byte { return append(dst, frame...) })
}

// cut appends a frame to the chunk being filled with write (which appends
// to its argument) and returns it: in the chunk when it fits, else in the
// allocation write made.
func (s *scratch) cut(write func(dst []byte) []byte) []byte {
	if s.cur == len(s.frames) {
		n := firstChunk
		if k := len(s.frames); k > 0 {
			n = min(2*cap(s.frames[k-1]), frameChunk)
		}
		s.frames = append(s.frames, make([]byte, 0, n))
	}
	c := s.frames[s.cur]
	dst := c[len(c):]
	out := write(dst)
	if cap(dst) > 0 && len(out) > 0 && &out[0] == &dst[:1][0] {
		s.frames[s.cur] = c[:len(c)+len(out)] // the frame lies in the chunk
	} else if cap(dst) < frameChunk/16 {
		// It did not fit (dst was grown elsewhere): go on in the next
		// chunk when this one is nearly full.
		s.cur++
	}
	return out[:len(out):len(out)]
}

// drop lets the GC have every buffer.
func (s *scratch) drop() {
	s.init()
	for len(s.bodies) > 0 {
		<-s.bodies
	}
	s.frames, s.cur = nil, 0
}

// digestOne adds one event to the batch, following reference §4: grouping,
// release, regression (§6.3), unmute (§6.4), the event itself, counters,
// tags and alerts. It returns false for a duplicate or an event of an
// unknown project, which are dropped.
func digestOne(tx *store.Tx, it *item) (bool, error) {
	it.dropped = ""
	p, err := tx.Project(it.project)
	if errors.Is(err, store.ErrNotFound) {
		it.dropped = "unknown_project"
		return false, nil
	} else if err != nil {
		return false, err
	}
	ev := it.ev
	id, ok := rawevent.ParseID(ev.EventID)
	if !ok {
		// Normalize always gives 32 hex digits; should one ever not, drop
		// the event rather than fail (and so retry forever) the batch.
		it.dropped = "bad_event_id"
		return false, nil
	}
	if tx.HasEvent(p.ID, id) {
		it.dropped = "duplicate"
		return false, nil
	}
	p.DigestedEventCount++
	now := it.digestedAt
	hash := event.GroupingHash(ev.GroupingKey)
	iss, err := tx.IssueForGrouping(p.ID, hash)
	if p.GroupingTransition(now) && errors.Is(err, store.ErrNotFound) && ev.PreviousGroupingKey != "" {
		iss, err = carryOver(tx, p, ev, hash, now)
	}
	isNew := false
	if errors.Is(err, store.ErrNotFound) {
		isNew = true
		iss = &store.Issue{
			FirstSeen:         it.ingestedAt,
			Transaction:       ev.Transaction,
			LastFrameFilename: ev.LastFrameFilename,
			LastFrameModule:   ev.LastFrameModule,
			LastFrameFunction: ev.LastFrameFunction,
		}
		if err := tx.CreateIssue(p, iss, hash, ev.GroupingKey, ev.GroupingMechanism); err != nil {
			return false, err
		}
	} else if err != nil {
		return false, err
	}
	if it.ingestedAt.After(iss.LastSeen) {
		iss.LastSeen = it.ingestedAt
	}
	iss.DigestedEventCount++
	// The title follows the latest event.
	iss.CalculatedType = ev.CalculatedType
	iss.CalculatedValue = ev.CalculatedValue
	iss.Level = ev.Level
	iss.Platform = ev.Platform
	if iss.LastFramePackage == "" {
		// Like the other LastFrame fields it is the first event's; issues
		// from before it was kept take it from their next event.
		iss.LastFramePackage = ev.LastFramePackage
	}
	iss.Environment = ev.Environment
	iss.Release = ev.Release

	// A new release may resolve issues waiting for "the next release"
	// (this one included), so it comes before the regression check.
	if _, err := tx.EnsureRelease(p.ID, ev.Release, it.ingestedAt, ReleaseEpoch); err != nil {
		return false, err
	}
	neverEvict := isNew
	var alert *store.Alert
	if isNew {
		if err := tx.AddHistory(iss.ID, store.HistoryEntry{Kind: store.HistoryFirstSeen, At: now, EventID: ev.EventID}); err != nil {
			return false, err
		}
		alert = &store.Alert{Project: p.ID, Issue: iss.ID, Reason: store.ReasonNew, EventID: ev.EventID}
	} else {
		regressed, err := isRegression(tx, p.ID, iss, ev.Release)
		if err != nil {
			return false, err
		}
		if regressed {
			iss.IsResolved, iss.IsResolvedByNextRelease, iss.ResolvedUnconditionally = false, false, false
			neverEvict = true
			if err := tx.AddHistory(iss.ID, store.HistoryEntry{Kind: store.HistoryRegressed, At: now, EventID: ev.EventID,
				Comment: regressionNote(ev.Release)}); err != nil {
				return false, err
			}
			alert = &store.Alert{Project: p.ID, Issue: iss.ID, Reason: store.ReasonRegressed, EventID: ev.EventID}
		}
	}
	if ev.Release != "" && !slices.Contains(iss.EventsAt, ev.Release) && len(iss.EventsAt) < maxEventsAt {
		iss.EventsAt = append(iss.EventsAt, ev.Release)
	}
	if err := tx.AddEvent(p, iss, &store.NewEvent{
		EventID: id, Ingested: it.ingestedAt, Timestamp: ev.Timestamp, Compressed: it.body, NeverEvict: neverEvict,
	}); err != nil {
		return false, err
	}
	// Unmute checks count this event, so they come after it is added.
	if reason, err := unmuteReason(tx, iss, now); err != nil {
		return false, err
	} else if reason != "" {
		iss.IsMuted, iss.UnmuteAfter, iss.UnmuteOnVolume = false, time.Time{}, nil
		tx.MarkNeverEvict(p.ID, iss)
		if err := tx.AddHistory(iss.ID, store.HistoryEntry{Kind: store.HistoryUnmutedByEvent, At: now, EventID: ev.EventID, Comment: reason}); err != nil {
			return false, err
		}
		if alert == nil {
			alert = &store.Alert{Project: p.ID, Issue: iss.ID, Reason: store.ReasonUnmuted, UnmuteReason: reason, EventID: ev.EventID}
		}
	}
	for _, subject := range []string{store.IssueSubject(iss.ID), store.ProjectSubject(p.ID), store.InstallSubject} {
		if err := tx.CountHour(subject, it.ingestedAt, 1); err != nil {
			return false, err
		}
	}
	for _, tag := range ev.Tags {
		if !event.CountedTag(tag.Key) {
			continue
		}
		if err := tx.CountTag(iss, tag.Key, tag.Value); err != nil {
			return false, err
		}
	}
	if err := indexSearch(tx, iss, it); err != nil {
		return false, err
	}
	if alert != nil {
		alert.CreatedAt = now
		if err := tx.EnqueueAlert(alert); err != nil {
			return false, err
		}
		it.alerted = true
	}
	return true, nil
}

// indexSearch adds the event's tags and words to the issue's search
// terms. The stack's words (exception values, frames) are read from the
// first four events and then from every power-of-two'th: the events of an
// issue share their stack (it made their grouping key), and each word
// looked up costs a read of the tree.
func indexSearch(tx *store.Tx, iss *store.Issue, it *item) error {
	ev := it.ev
	n := iss.DigestedEventCount
	stack := n <= 4 || n&(n-1) == 0
	if stack && ev.SearchTextDeferred() {
		fillSearchText(it)
	}
	var err error
	ev.SearchFields(stack, func(k, v string) {
		if err == nil {
			err = tx.IndexTag(iss, k, v)
		}
	}, func(s string) {
		if err == nil {
			err = tx.IndexText(iss, s)
		}
	})
	return err
}

// fillSearchText computes the search text the worker's normalisers
// deferred (event.Normalizer.DeferSearchText) from the event's stored
// body. A body that cannot be read back leaves the text empty: the issue
// is still found by its title and tags, and the event is stored as it is.
func fillSearchText(it *item) {
	body, err := store.DecompressBody(it.body)
	if err != nil {
		return
	}
	norm := it.norm
	if norm == nil {
		norm = event.NewNormalizer()
	}
	if text, err := norm.SearchTextOf(body); err == nil {
		it.ev.SearchText = text
	}
}

// carryOver applies the transition window of reference §5.5 to an event
// whose grouping key is new but whose previous key (before the grouping
// rules changed) has an issue: the new key joins that issue, with a history
// entry saying so. Only the first new key does: the old key then leads no
// other (a function's old issue mixed all its messages; the others become
// issues of their own). It returns store.ErrNotFound when there is no such
// issue.
func carryOver(tx *store.Tx, p *store.Project, ev *event.Event, hash string, now time.Time) (*store.Issue, error) {
	oldHash := event.GroupingHash(ev.PreviousGroupingKey)
	g, err := tx.Grouping(p.ID, oldHash)
	if err != nil {
		return nil, err
	}
	if g.SucceededBy != "" {
		return nil, store.ErrNotFound
	}
	old, err := tx.Issue(g.Issue)
	if err != nil {
		return nil, err
	}
	if old.CalculatedType == "Log Message" || old.CalculatedValue != "" {
		// Not an issue of the old synthetic shape (a function's name with
		// no value), only one whose key has the same text.
		return nil, store.ErrNotFound
	}
	iss, err := tx.CarryOver(p.ID, oldHash, g, hash, ev.GroupingKey, ev.GroupingMechanism)
	if err != nil {
		return nil, err
	}
	note := fmt.Sprintf("Grouping changed: a message sent with a synthetic exception is now grouped by its text and "+
		"the function that sent it (key %q), no longer by the function alone (key %q). This issue goes on under the "+
		"new key; other messages from %s become issues of their own.", ev.GroupingKey, ev.PreviousGroupingKey, ev.SyntheticFunction)
	return iss, tx.AddHistory(iss.ID, store.HistoryEntry{Kind: store.HistoryGroupingChanged, At: now, EventID: ev.EventID, Comment: note})
}

func regressionNote(version string) string {
	if version == "" {
		return "an event after the issue was resolved"
	}
	return "an event in release " + version + " after the issue was resolved"
}

// isRegression applies §6.3 to an event of a resolved issue.
func isRegression(tx *store.Tx, pid int, iss *store.Issue, version string) (bool, error) {
	if !iss.IsResolved {
		return false, nil
	}
	rs, err := tx.Releases(pid)
	if err != nil {
		return false, err
	}
	return release.IsRegression(toReleases(rs), release.Resolution{
		Resolved: iss.IsResolved, Unconditionally: iss.ResolvedUnconditionally, ByNextRelease: iss.IsResolvedByNextRelease,
		FixedAt: iss.FixedAt, EventsAt: iss.EventsAt,
	}, version), nil
}

// unmuteReason applies §6.4: it returns why the event unmutes the muted
// issue, or "".
func unmuteReason(tx *store.Tx, iss *store.Issue, now time.Time) (string, error) {
	if !iss.IsMuted {
		return "", nil
	}
	if !iss.UnmuteAfter.IsZero() && now.After(iss.UnmuteAfter) {
		return "An event was observed after the mute deadline of " + iss.UnmuteAfter.UTC().Format(time.RFC3339) + ".", nil
	}
	if c := iss.UnmuteOnVolume; c != nil {
		n, err := tx.RecentEvents(iss, store.AddPeriods(now, c.Period, -c.N), c.Volume)
		if err != nil {
			return "", err
		}
		if n >= c.Volume {
			return fmt.Sprintf("More than %d events per %d %s(s) occurred, unmuting the issue.", c.Volume-1, c.N, c.Period), nil
		}
	}
	return "", nil
}

func toReleases(rs []store.Release) []release.Release {
	out := make([]release.Release, len(rs))
	for i, r := range rs {
		out[i] = release.Release{Version: r.Version, DateReleased: r.DateReleased, SortEpoch: r.SortEpoch}
	}
	return out
}

// ReleaseEpoch places a new release among a project's releases with the
// ordering rules of reference §10 (store.EpochFunc).
func ReleaseEpoch(existing []store.Release, version string, at time.Time) (int, bool) {
	r, latest := release.Create(toReleases(existing), version, at)
	return r.SortEpoch, latest
}

// maxEventsAt caps the releases remembered per issue.
const maxEventsAt = 200

// Loader digests raw events straight into a store batch, without the
// spool: for tools that build a data directory, such as the RAM profile's
// "old installation" scenario. Each event goes through the same
// normalisation, grouping, issue state machine, counters and tags as the
// worker's, with the ingest time the caller gives, so a caller that also
// sets store.DB.Now can spread a data directory over simulated days.
// Scrubbing is not applied. A Loader is not safe for concurrent use; its
// Prepared events may be added from another goroutine.
type Loader struct {
	norm *event.Normalizer
}

// NewLoader returns a Loader.
func NewLoader() *Loader { return &Loader{norm: event.NewNormalizer()} }

// Prepared is an event parsed, normalised and compressed, ready for Add.
type Prepared struct{ it item }

// Prepare parses raw, an event of project ingested at at. It fails only
// for what cannot be an event at all (event.ErrInvalid).
func (l *Loader) Prepare(project int, raw []byte, at time.Time) (*Prepared, error) {
	return l.PrepareID(project, "", raw, at)
}

// PrepareID is Prepare for an event whose id was chosen before (as an
// envelope header's event_id wins over the payload's): the id is kept
// even when the payload has none ("" takes the payload's, as Prepare).
func (l *Loader) PrepareID(project int, id string, raw []byte, at time.Time) (*Prepared, error) {
	ev, body, err := l.norm.Normalize(raw, event.Meta{EventID: id, IngestedAt: at})
	if err != nil {
		return nil, err
	}
	return &Prepared{item{project: project, ingestedAt: at, digestedAt: at, ev: ev, body: store.CompressBody(body)}}, nil
}

// IngestedAt returns the event's ingest time.
func (p *Prepared) IngestedAt() time.Time { return p.it.ingestedAt }

// Add digests p into tx, as the worker digests an event. It returns false
// for a duplicate or an event of an unknown project, which are dropped.
func (p *Prepared) Add(tx *store.Tx) (bool, error) { return digestOne(tx, &p.it) }
