package store

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/buntdb"

	"github.com/tinysink/tinysink/internal/fileio"
)

// Tx is a digest batch: one buntdb write transaction plus the event records
// and bodies the batch adds. Projects and issues read through a Tx are
// cached in it and written back when it commits, so callers change the
// returned structs in place.
type Tx struct {
	db       *DB
	kv       *kvTx
	projects map[int]*Project
	issues   map[uint32]*Issue
	// stored is the index keys and states of each issue in issues as the
	// batch read it (none for an issue it created): nothing else writes
	// an issue during a batch, so flushMeta moves its index entries from
	// these without reading and decoding the stored issue again.
	stored map[uint32]issueIndex
	// groups maps the grouping keys (groupingKey) this batch read or
	// wrote to their issue: the events of a batch mostly share a few
	// issues, and decoding a grouping's JSON per event was ~1 % of the
	// server's CPU at full speed.
	groups map[string]uint32
	// hours and tags are the counter increments of this batch, written
	// once per row when it commits (flushCounts) instead of once per
	// event: a batch's events mostly share a few issues and one hour.
	hours   map[string]*[24]int64 // hourlyKey → per-hour increments
	tags    []tagCount            // in the order first counted
	tagsIdx map[tagRef]int        // index into tags
	pending map[int]*pendingLog
	histSeq int
	replay  bool // see Replay
	// terms are the search terms of the issues this batch indexed
	// (searchindex.go), written back at commit.
	terms map[uint32]*issueTerms
	// probed is where the last HasEvent that found nothing found room in
	// the project's id index, for AddEvent of the same event.
	probed struct {
		project int
		id      [16]byte
		hint    slotHint
	}
}

// pendingLog is what a batch appends to one project's event log.
type pendingLog struct {
	el      *eventLog
	startN  uint32 // first record number of the batch
	segNo   uint32
	segOff  uint32 // offset of body[0] in segment segNo
	rotated bool   // the batch starts a new segment
	recs    []record
	hints   []slotHint // per record, see indexBatch
	// parts are the batch's compressed bodies in record order, written
	// as they are (fileio.WriteParts): the caller's buffers (NewEvent.
	// Compressed), not copies, so a batch does not hold its bodies twice.
	parts   [][]byte
	bodyLen uint32 // the bytes of parts
	ids     map[[16]byte]bool
	recBuf  []byte // recs encoded (write)
}

// batchScratch holds what a digest batch grows one event at a time: the
// list of a project's compressed bodies, its records, their id-index
// hints, ids and encoding, and the tag counts. Grown from empty in every
// batch, they were about a twentieth of the bytes the server allocated at
// full speed, so the last batch's are kept for the next (the first
// project of a batch takes the project's ones) up to maxKeptEvents
// records and maxKeptTags tag counts. DB.ReleaseBuffers drops them.
type batchScratch struct {
	parts   [][]byte
	recs    []record
	hints   []slotHint
	ids     map[[16]byte]bool
	recBuf  []byte
	tags    []tagCount
	tagsIdx map[tagRef]int
}

// What batchScratch keeps at most: the records of a default batch (200)
// several times over, and the tag counts of as many events with a few
// distinct values each.
const (
	maxKeptEvents = 1024
	maxKeptTags   = 4096
)

// keepBatch keeps the buffers of batch t for the next (batchScratch),
// emptied: the largest of its projects' within the bounds. A map is kept
// only when it holds no more than the bound, so a kept map never grew
// past it.
func (db *DB) keepBatch(t *Tx) {
	kept := &db.batch
	for _, pl := range t.pending {
		clear(pl.parts) // the caller's buffers
		keepArray(&kept.parts, pl.parts, maxKeptEvents)
		keepArray(&kept.recs, pl.recs, maxKeptEvents)
		clear(pl.hints[:cap(pl.hints)]) // an index the next batch may have closed
		keepArray(&kept.hints, pl.hints, maxKeptEvents)
		keepArray(&kept.recBuf, pl.recBuf, maxKeptEvents*recSize)
		if kept.ids == nil && len(pl.ids) <= maxKeptEvents {
			clear(pl.ids)
			kept.ids = pl.ids
		}
	}
	clear(t.tags[:cap(t.tags)]) // their strings
	keepArray(&kept.tags, t.tags, maxKeptTags)
	if t.tagsIdx != nil && len(t.tagsIdx) <= maxKeptTags {
		clear(t.tagsIdx)
		kept.tagsIdx = t.tagsIdx
	}
}

// keepArray makes *kept s's array, emptied, for the next batch or round
// when it is larger than the one kept and holds at most bound elements.
// The caller no longer uses s.
func keepArray[T any](kept *[]T, s []T, bound int) {
	if c := cap(s); c <= bound && c > cap(*kept) {
		*kept = s[:0]
	}
}

// Digest runs fn as one batch. When fn returns nil, the batch's event
// bodies and records are written and fsync'd, and then the metadata commits
// in one buntdb transaction (one fsync). When fn returns an error or
// panics, nothing is written. Batches are serialised.
func (db *DB) Digest(fn func(tx *Tx) error) (err error) {
	db.digestMu.Lock()
	defer db.digestMu.Unlock()
	tt := db.tree.Begin()
	btx, err := db.kv.Begin(true)
	if err != nil {
		tt.Rollback()
		return err
	}
	kv := &kvTx{kv: btx, t: tt}
	committed := false
	t := &Tx{db: db, kv: kv, projects: map[int]*Project{}, issues: map[uint32]*Issue{}, stored: map[uint32]issueIndex{}, groups: map[string]uint32{}, pending: map[int]*pendingLog{}}
	t.tags, t.tagsIdx = db.batch.tags, db.batch.tagsIdx
	db.batch.tags, db.batch.tagsIdx = nil, nil
	defer func() {
		db.keepBatch(t)
		if r := recover(); r != nil {
			err = fmt.Errorf("store: panic in digest batch: %v", r)
		}
		if err != nil && !committed {
			btx.Rollback()
			tt.Rollback()
		}
	}()
	if err = fn(t); err != nil {
		return err
	}
	if err = t.flushMeta(); err != nil {
		return err
	}
	syncs, err := t.writeFiles()
	if err != nil {
		return err
	}
	if err = setTreeSeq(btx, tt); err != nil {
		return err
	}
	syncJournal, err := tt.PrepareUnsynced()
	if err != nil {
		return err
	}
	// The bodies, the records and the tree's journal are synced at the
	// same time: concurrent fsyncs share the device's cache flushes, and
	// the disk is busy for less of the time in which ingest's group
	// commits wait behind the digest's. The commit point (buntdb's own
	// sync) comes after all of them.
	if err = syncAll(append(syncs, syncJournal)); err != nil {
		t.dropNewSegments()
		return err
	}
	if err = btx.Commit(); err != nil {
		return err
	}
	committed = true
	if err = tt.Apply(); err != nil {
		return err
	}
	t.publish()
	if day := dayString(db.Now()); day != db.rolledUp {
		// Once a day (and at the first batch): fold old hourly counts
		// into daily ones and drop what is past its keep.
		if _, err := db.RollUp(); err != nil {
			return fmt.Errorf("roll up counters: %w", err)
		}
		db.rolledUp = day
	}
	return nil
}

func (t *Tx) flushMeta() error {
	if err := t.flushCounts(); err != nil {
		return err
	}
	for _, p := range t.projects {
		if err := setJSON(t.kv, projectKey(p.ID), p); err != nil {
			return err
		}
	}
	for id, iss := range t.issues {
		// An issue the batch created is not in stored: its zero value is
		// an issue not stored yet.
		if err := writeIssue(t.kv, iss, t.stored[id]); err != nil {
			return err
		}
	}
	return t.flushTerms()
}

// writeFiles writes every pending body and record, and returns the syncs
// that make them durable (the segments, the logs, and the directory of a
// new segment), which Digest runs before its commit point.
func (t *Tx) writeFiles() ([]func() error, error) {
	var syncs []func() error
	for _, pl := range t.pending {
		if len(pl.recs) == 0 {
			continue
		}
		el := pl.el
		seg := el.seg
		if pl.rotated {
			f, err := os.OpenFile(el.segPath(pl.segNo), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
			if err != nil {
				return nil, err
			}
			seg = f
		}
		if err := pl.write(seg); err != nil {
			if pl.rotated {
				// The new segment holds nothing committed: a retry of the
				// batch creates it again.
				seg.Close()
				os.Remove(el.segPath(pl.segNo))
			}
			return nil, err
		}
		syncs = append(syncs, func() error {
			if err := seg.Sync(); err != nil {
				return fmt.Errorf("sync event bodies: %w", err)
			}
			return nil
		}, func() error {
			if err := el.log.Sync(); err != nil {
				return fmt.Errorf("sync event log: %w", err)
			}
			return nil
		})
		if pl.rotated {
			// Hand the new segment to publish via the pending log.
			pl.el.nextSeg = seg
			syncs = append(syncs, func() error { return syncDir(el.dir) })
		}
	}
	return syncs, nil
}

// dropNewSegments closes and removes the segments this batch created, when
// it fails before its commit point: they hold nothing committed, and a
// retry creates them again.
func (t *Tx) dropNewSegments() {
	for _, pl := range t.pending {
		if el := pl.el; pl.rotated && el.nextSeg != nil {
			el.nextSeg.Close()
			el.nextSeg = nil
			os.Remove(el.segPath(pl.segNo))
		}
	}
}

// write writes pl's bodies to seg and its records to the log.
func (pl *pendingLog) write(seg *os.File) error {
	el := pl.el
	if err := fileio.WriteParts(seg, pl.parts, int64(pl.segOff)); err != nil {
		return fmt.Errorf("write event bodies: %w", err)
	}
	buf := slices.Grow(pl.recBuf[:0], len(pl.recs)*recSize)[:len(pl.recs)*recSize]
	pl.recBuf = buf
	for i := range pl.recs {
		pl.recs[i].marshal(buf[i*recSize:])
	}
	if _, err := el.log.WriteAt(buf, int64(pl.startN)*recSize); err != nil {
		return fmt.Errorf("write event log: %w", err)
	}
	return nil
}

// syncAll runs the syncs, up to maxSyncs at a time, and returns their
// errors. (A batch of events of many projects has two syncs per project:
// each one running blocks a thread.)
func syncAll(syncs []func() error) error {
	errs := make([]error, len(syncs))
	var next atomic.Int32
	run := func() {
		for i := int(next.Add(1)) - 1; i < len(syncs); i = int(next.Add(1)) - 1 {
			errs[i] = syncs[i]()
		}
	}
	var wg sync.WaitGroup
	for range min(len(syncs), maxSyncs) - 1 {
		wg.Go(run)
	}
	run()
	wg.Wait()
	return errors.Join(errs...)
}

// maxSyncs is how many fsyncs syncAll runs at once.
const maxSyncs = 4

// publish makes the committed records visible to readers.
func (t *Tx) publish() {
	for _, pl := range t.pending {
		if len(pl.recs) == 0 {
			continue
		}
		el := pl.el
		next, ierr := el.growIDs(pl.startN+uint32(len(pl.recs)), len(pl.recs))
		el.mu.Lock()
		if pl.rotated {
			el.segMu.Lock()
			el.segs[el.segNo] = el.seg
			el.segMu.Unlock()
			el.seg, el.nextSeg = el.nextSeg, nil
			el.segNo = pl.segNo
		}
		el.segOff = pl.segOff + pl.bodyLen
		el.n = pl.startN + uint32(len(pl.recs))
		el.indexBatch(pl.startN, pl.recs, pl.hints, next, ierr)
		el.mu.Unlock()
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Project returns the project for this batch; changes to it are saved at
// commit.
func (t *Tx) Project(id int) (*Project, error) {
	if p, ok := t.projects[id]; ok {
		return p, nil
	}
	var p Project
	if err := getJSON(t.kv, projectKey(id), &p); err != nil {
		return nil, err
	}
	t.projects[id] = &p
	return &p, nil
}

// Issue returns the issue for this batch; changes to it are saved at
// commit.
func (t *Tx) Issue(id uint32) (*Issue, error) {
	if iss, ok := t.issues[id]; ok {
		return iss, nil
	}
	var iss Issue
	if err := getJSON(t.kv, issueKey(id), &iss); err != nil {
		return nil, err
	}
	t.issues[id] = &iss
	t.stored[id] = issueIndex{keys: iss.indexKeys(), states: iss.states()}
	return &iss, nil
}

// Grouping is one grouping key of an issue.
type Grouping struct {
	Issue     uint32 `json:"issue"`
	Key       string `json:"key"`
	Mechanism string `json:"mechanism"`
	// SucceededBy is the key that took over the issue from this one when
	// the grouping rules changed (see Tx.CarryOver); the old key then
	// leads no other new key to the issue.
	SucceededBy string `json:"succeeded_by,omitempty"`
}

// Grouping returns the grouping with the given sha256 hex hash of its key.
func (t *Tx) Grouping(project int, hash string) (*Grouping, error) {
	var g Grouping
	if err := getJSON(t.kv, groupingKey(project, hash), &g); err != nil {
		return nil, err
	}
	return &g, nil
}

// CarryOver attaches the new grouping key (hash, key, mechanism) to the
// issue of the old grouping (oldHash, old), records on old that it was
// succeeded, and returns the issue: an event grouped by newer rules
// continues the issue its previous key made (reference §5.5, ATTACH).
func (t *Tx) CarryOver(project int, oldHash string, old *Grouping, hash, key, mechanism string) (*Issue, error) {
	iss, err := t.Issue(old.Issue)
	if err != nil {
		return nil, err
	}
	old.SucceededBy = key
	if err := setJSON(t.kv, groupingKey(project, oldHash), old); err != nil {
		return nil, err
	}
	if _, _, err := t.kv.Set(issueGroupingKey(iss.ID, hash), "", nil); err != nil {
		return nil, err
	}
	k := groupingKey(project, hash)
	t.groups[k] = iss.ID
	return iss, setJSON(t.kv, k, Grouping{Issue: iss.ID, Key: key, Mechanism: mechanism})
}

// IssueForGrouping returns the issue that the grouping key with the given
// sha256 hex hash belongs to.
func (t *Tx) IssueForGrouping(project int, hash string) (*Issue, error) {
	k := groupingKey(project, hash)
	if id, ok := t.groups[k]; ok {
		return t.Issue(id)
	}
	var g Grouping
	if err := getJSON(t.kv, k, &g); err != nil {
		return nil, err
	}
	t.groups[k] = g.Issue
	return t.Issue(g.Issue)
}

// CreateIssue creates iss in project p with the grouping key (hash, key,
// mechanism), assigning its id and digest order.
func (t *Tx) CreateIssue(p *Project, iss *Issue, hash, key, mechanism string) error {
	id, err := nextSeq(t.kv, "issue")
	if err != nil {
		return err
	}
	if id > uint64(^uint32(0)-1) {
		return errors.New("store: issue ids exhausted")
	}
	p.IssueCount++
	iss.ID = uint32(id)
	iss.ProjectID = p.ID
	iss.DigestOrder = p.IssueCount
	t.issues[iss.ID] = iss
	if _, _, err := t.kv.Set(projectIssueKey(p.ID, iss.DigestOrder), strconv.FormatUint(id, 10), nil); err != nil {
		return err
	}
	if _, _, err := t.kv.Set(issueGroupingKey(iss.ID, hash), "", nil); err != nil {
		return err
	}
	k := groupingKey(p.ID, hash)
	t.groups[k] = iss.ID
	return setJSON(t.kv, k, Grouping{Issue: iss.ID, Key: key, Mechanism: mechanism})
}

// NewEvent is an event to store.
type NewEvent struct {
	EventID   [16]byte
	Ingested  time.Time
	Timestamp time.Time
	Body      []byte // the normalised event JSON; stored compressed
	// Compressed, when set, is Body already passed through CompressBody
	// (Body is then ignored), so a batch need not hold the plain bodies.
	// The store writes it from the caller's buffer: it must not change
	// until the transaction has committed or failed.
	Compressed []byte
	NeverEvict bool
}

// HasEvent reports whether project already stores an event with this id,
// counting the events added earlier in this batch.
func (t *Tx) HasEvent(project int, id [16]byte) bool {
	if pl, ok := t.pending[project]; ok && pl.ids[id] {
		return true
	}
	el := t.db.eventLog(project)
	if el == nil {
		return false
	}
	el.mu.RLock()
	defer el.mu.RUnlock()
	_, ok, free, err := el.ids.probe(el.log, el.n, &id)
	if err != nil {
		free = noSlot
	}
	t.probed.project, t.probed.id, t.probed.hint = project, id, slotHint{x: el.ids, slot: free}
	return ok && err == nil
}

// AddEvent stores ev as the next event of iss in project p. The caller has
// already counted the event in iss.DigestedEventCount, which becomes the
// event's digest order within the issue. AddEvent updates the stored counts
// and the committed extents; digested counts and timestamps are the
// caller's.
func (t *Tx) AddEvent(p *Project, iss *Issue, ev *NewEvent) error {
	pl, err := t.pendingFor(p)
	if err != nil {
		return err
	}
	n := pl.startN + uint32(len(pl.recs))
	if n == ^uint32(0) {
		return errors.New("store: event log full")
	}
	body := ev.Compressed
	if body == nil {
		body = compressBlob(nil, ev.Body)
	}
	off := pl.segOff + pl.bodyLen
	pl.parts = append(pl.parts, body)
	pl.bodyLen += uint32(len(body))
	r := record{
		EventID:   ev.EventID,
		Issue:     iss.ID,
		Order:     uint32(iss.DigestedEventCount),
		Ingested:  ev.Ingested.UnixMilli(),
		Digested:  t.db.Now().UnixMilli(),
		Timestamp: ev.Timestamp.UnixMilli(),
		Seg:       pl.segNo,
		Off:       off,
		Len:       uint32(len(body)),
		Prev:      iss.LastRec,
	}
	if ev.NeverEvict {
		r.Flags |= flagNeverEvict
	}
	r.Irrelevance = uint8(bits.Len64(uint64(math.Round(rand.Float64() * float64(iss.StoredEventCount+1) * 2))))
	hint := slotHint{slot: noSlot}
	if t.probed.project == p.ID && t.probed.id == ev.EventID {
		hint = t.probed.hint
	}
	t.probed.hint = slotHint{slot: noSlot}
	pl.recs = append(pl.recs, r)
	pl.hints = append(pl.hints, hint)
	pl.ids[ev.EventID] = true
	iss.LastRec = n + 1
	if iss.FirstRec == 0 {
		iss.FirstRec = n + 1
	}
	iss.StoredEventCount++
	p.StoredEventCount++
	p.LogLen = n + 1
	p.Seg = pl.segNo
	p.SegOff = pl.segOff + pl.bodyLen
	return nil
}

func (t *Tx) pendingFor(p *Project) (*pendingLog, error) {
	if pl, ok := t.pending[p.ID]; ok {
		return pl, nil
	}
	el := t.db.eventLog(p.ID)
	if el == nil {
		return nil, fmt.Errorf("store: project %d has no event log", p.ID)
	}
	el.mu.RLock()
	// The batch's first project has the buffers the last batch kept.
	kept := &t.db.batch
	pl := &pendingLog{el: el, startN: el.n, segNo: el.segNo, segOff: el.segOff, ids: kept.ids, parts: kept.parts[:0], recs: kept.recs, hints: kept.hints, recBuf: kept.recBuf}
	if pl.ids == nil {
		pl.ids = map[[16]byte]bool{}
	}
	kept.parts, kept.recs, kept.hints, kept.ids, kept.recBuf = nil, nil, nil, nil, nil
	broken := el.broken
	el.mu.RUnlock()
	if broken != nil {
		return nil, broken
	}
	if pl.segOff >= segmentMax {
		pl.rotated = true
		pl.segNo++
		pl.segOff = 0
	}
	t.pending[p.ID] = pl
	return pl, nil
}

// ReleaseBuffers drops the buffers kept from one digest batch for the
// next (DB.batch and DB.cands, the tree journal's writer, the pages
// WidenTreeCache made room for), so that an idle server does not hold
// them; the next batch grows new ones.
func (db *DB) ReleaseBuffers() {
	db.digestMu.Lock()
	db.cands, db.spans, db.batch = nil, nil, batchScratch{}
	db.digestMu.Unlock()
	db.tree.ReleaseBuffers()
	db.tree.SetCacheBytes(treeCache)
}

// WidenTreeCache lets the tree cache the pages of a digest batch
// (batchTreeCache) until ReleaseBuffers; the digest calls it before each
// batch it commits.
func (db *DB) WidenTreeCache() {
	db.tree.SetCacheBytes(batchTreeCache)
}

// RecycleTreePages lets the tree reuse the buffers of the pages that leave
// its cache (btree.DB.RecyclePages) until ReleaseBuffers. The digest calls
// it before the batches it takes while behind: back-to-back batches free
// and need a cache's worth of buffers each, while after a trickle's
// batches the buffers kept raised the old installation's fully warmed
// VmRSS by 0.5–0.7 MiB (budget -scenario old, three runs each).
func (db *DB) RecycleTreePages() {
	db.tree.RecyclePages()
}

func (db *DB) eventLog(project int) *eventLog {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.logs[project]
}

// maxTagValues caps the distinct values counted per issue and tag key, so
// that a tag with a unique value per event (a request id) cannot make the
// metadata grow with the number of events.
const maxTagValues = 100

// tagRef names one tag value of one issue.
type tagRef struct {
	issue      uint32
	key, value string
}

// tagCount is a tag value's increment in a batch.
type tagCount struct {
	tagRef
	n int64
}

// CountTag adds one to the count of key=value on the issue. The count is
// written when the batch commits.
func (t *Tx) CountTag(iss *Issue, key, value string) error {
	ref := tagRef{iss.ID, key, value}
	if i, ok := t.tagsIdx[ref]; ok {
		t.tags[i].n++
		return nil
	}
	if t.tagsIdx == nil {
		t.tagsIdx = map[tagRef]int{}
	}
	t.tagsIdx[ref] = len(t.tags)
	t.tags = append(t.tags, tagCount{ref, 1})
	return nil
}

// addTag adds n to the count of key=value on issue id; a value not yet
// counted while the issue already counts maxTagValues values of key goes
// to OtherTagValue.
func addTag(tx *kvTx, id uint32, key, value string, n int64) error {
	k := issueTagKey(id, key, value)
	s, err := tx.Get(k)
	if errors.Is(err, buntdb.ErrNotFound) {
		nk := issueTagCountKey(id, key)
		ns, _ := tx.Get(nk)
		distinct, _ := strconv.Atoi(ns)
		if distinct >= maxTagValues {
			k = issueTagKey(id, key, OtherTagValue)
			s, _ = tx.Get(k)
		} else if _, _, err := tx.Set(nk, strconv.Itoa(distinct+1), nil); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	old, _ := strconv.ParseInt(s, 10, 64)
	_, _, err = tx.Set(k, strconv.FormatInt(old+n, 10), nil)
	return err
}

// flushCounts writes the batch's hourly and tag counter increments, tags
// in the order their values were first counted (which decides the values
// past maxTagValues).
func (t *Tx) flushCounts() error {
	for k, h := range t.hours {
		if err := addHours(t.kv, k, h); err != nil {
			return err
		}
	}
	for _, c := range t.tags {
		if err := addTag(t.kv, c.issue, c.key, c.value, c.n); err != nil {
			return err
		}
	}
	return nil
}

// Release is a version of a project's code, created when an event first
// names it (or through the API).
type Release struct {
	Project      int       `json:"project"`
	Version      string    `json:"version"`
	DateReleased time.Time `json:"date_released"`
	// SortEpoch orders releases across switches between semver and
	// date-ordered versions (reference §10).
	SortEpoch int `json:"sort_epoch"`
	// DateFinalized is when sentry-cli finalized the release (its
	// dateReleased); zero until then. See FinalizeRelease.
	DateFinalized time.Time `json:"date_finalized,omitzero"`
}

// EpochFunc decides where a new release goes among the existing ones: its
// sort epoch, and whether it becomes the latest release.
type EpochFunc func(existing []Release, version string, at time.Time) (epoch int, latest bool)

// EnsureRelease creates the release when the project does not have it yet,
// and reports whether it did. When the new release is the latest, every
// issue waiting to be resolved "in the next release" is resolved in it.
func (t *Tx) EnsureRelease(project int, version string, at time.Time, epoch EpochFunc) (bool, error) {
	if version == "" {
		return false, nil
	}
	k := releaseKey(project, version)
	if _, err := t.kv.Get(k); err == nil {
		return false, nil
	} else if !errors.Is(err, buntdb.ErrNotFound) {
		return false, err
	}
	existing, err := t.Releases(project)
	if err != nil {
		return false, err
	}
	r := Release{Project: project, Version: version, DateReleased: at.UTC()}
	latest := false
	if epoch != nil {
		r.SortEpoch, latest = epoch(existing, version, at)
	}
	if err := setJSON(t.kv, k, r); err != nil {
		return false, err
	}
	if latest {
		return true, t.materializeNext(project, version, at)
	}
	return true, nil
}

// Releases returns the project's releases, as stored in this batch.
func (t *Tx) Releases(project int) ([]Release, error) {
	var out []Release
	err := t.kv.AscendKeys(releasePrefix(project)+"*", func(k, v string) bool {
		var r Release
		if jsonUnmarshal(v, &r) == nil {
			out = append(out, r)
		}
		return true
	})
	return out, err
}

// materializeNext resolves in version every issue of the project that was
// resolved "in the next release".
func (t *Tx) materializeNext(project int, version string, at time.Time) error {
	var ids []uint32
	t.kv.ascend(nextReleasePrefix(project), func(k, v string) bool {
		ids = append(ids, issueIDOfIndexKey(k))
		return true
	})
	for _, id := range ids {
		iss, err := t.Issue(id)
		if err != nil {
			return err
		}
		if !iss.IsResolvedByNextRelease {
			continue
		}
		iss.IsResolvedByNextRelease = false
		iss.FixedAt = append(iss.FixedAt, version)
		if err := t.AddHistory(iss.ID, HistoryEntry{Kind: HistoryNextMaterialized, At: at.UTC(), Comment: "resolved in " + version}); err != nil {
			return err
		}
	}
	return nil
}

// AddHistory records an entry in an issue's history.
func (t *Tx) AddHistory(issue uint32, e HistoryEntry) error {
	if t.replay {
		return nil
	}
	// Entries of one batch share a clock reading; keep their keys apart.
	t.histSeq++
	e.At = e.At.Add(time.Duration(t.histSeq))
	return addHistory(t.kv, issue, e)
}

// TreePages returns how many pages of the tree the batch has changed so
// far: each is a 4 KiB page image the batch holds until it commits.
func (t *Tx) TreePages() int { return t.kv.t.DirtyPages() }

// SetSpoolPos records how far the spool has been digested, in the same
// transaction as the batch.
func (t *Tx) SetSpoolPos(pos string) error {
	_, _, err := t.kv.Set(keySpoolPos, pos, nil)
	return err
}

// SpoolPos returns the spool position recorded by the last batch ("" when
// none).
func (db *DB) SpoolPos() (string, error) {
	var pos string
	err := db.view(func(tx *kvTx) error {
		s, err := tx.Get(keySpoolPos)
		if errors.Is(err, buntdb.ErrNotFound) {
			return nil
		}
		pos = s
		return err
	})
	return pos, err
}

// Releases returns the project's releases, newest first.
func (db *DB) Releases(project int) ([]Release, error) {
	var out []Release
	err := db.view(func(tx *kvTx) error {
		return tx.AscendKeys(releasePrefix(project)+"*", func(k, v string) bool {
			var r Release
			if jsonUnmarshal(v, &r) == nil {
				out = append(out, r)
			}
			return true
		})
	})
	sortReleases(out)
	return out, err
}

// RecentEvents counts the issue's stored events digested at or after since,
// this batch's included, and stops counting at limit. It walks the issue's
// chain from its newest event, so it costs at most limit record reads.
func (t *Tx) RecentEvents(iss *Issue, since time.Time, limit int64) (int64, error) {
	el := t.db.eventLog(iss.ProjectID)
	if el == nil {
		return 0, nil
	}
	pl := t.pending[iss.ProjectID]
	ms := since.UnixMilli()
	el.mu.RLock()
	defer el.mu.RUnlock()
	var n int64
	for next := iss.LastRec; next != 0 && n < limit; {
		var r record
		if pl != nil && next-1 >= pl.startN {
			r = pl.recs[next-1-pl.startN]
		} else {
			var err error
			if r, err = el.readRecord(next - 1); err != nil {
				return n, err
			}
		}
		if r.Digested < ms {
			break
		}
		if r.Flags&flagDeleted == 0 {
			n++
		}
		next = r.Prev
	}
	return n, nil
}

// MarkNeverEvict marks the issue's newest event, added in this batch, as
// one retention must keep (it regressed or unmuted the issue).
func (t *Tx) MarkNeverEvict(project int, iss *Issue) {
	pl := t.pending[project]
	if pl == nil || iss.LastRec == 0 || iss.LastRec-1 < pl.startN {
		return
	}
	pl.recs[iss.LastRec-1-pl.startN].Flags |= flagNeverEvict
}
