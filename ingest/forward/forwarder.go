package forward

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tinysink/tinysink/budget"
	"github.com/tinysink/tinysink/ingest/spool"
	"github.com/tinysink/tinysink/store/attach"
)

// CursorFile is the name of the forwarder's cursor in the spool directory:
// the spool position up to which every record was forwarded (or given up
// on), as "seg:off".
const CursorFile = "forward.pos"

// ErrBacklogFull is the reason of Admit's refusals while the forward
// backlog is at Config.MaxBacklog (relay-only mode).
var ErrBacklogFull = errors.New("forward_backlog")

// Config configures a Forwarder. Spool, Dir and DSN are required.
type Config struct {
	Spool *spool.Spool
	// Dir is where the cursor file lives (the spool's directory).
	Dir string
	// DSN returns the upstream DSN of a project's items; "" leaves them
	// unforwarded.
	DSN func(project int) string
	// Primary says that the forwarder is the spool's only reader
	// (relay-only mode, no digest): it releases with Spool.Release rather
	// than through a Hold of its own.
	Primary bool
	// MaxBacklog bounds the bytes of spool not yet forwarded (0: no
	// bound). Over it, with DropOldest the oldest records are skipped
	// (counted in Stats.Dropped) so that local ingest never stops;
	// without, Admit refuses new events (429, reason forward_backlog)
	// until the upstream catches up, so nothing acknowledged is lost.
	MaxBacklog int64
	DropOldest bool
	// Attachments, when set, is where ingest keeps the attachments of
	// events (minidumps included): an event's are sent in its envelope,
	// as attachment items. With Primary (a relay, which keeps them only
	// to forward them) they are deleted once the event is forwarded.
	Attachments *attach.Store
	// Parallel is how many envelopes are in flight at once; default 16.
	Parallel int
	// HTTP is the client to send with; nil: one with a 30 s timeout that
	// keeps a connection per send in flight.
	HTTP *http.Client
	// UserAgent is sent as sentry_client; default "tinysink-forward".
	UserAgent string
	// MinBackoff and MaxBackoff bound the wait between two tries of a
	// failed send; defaults 1 s and 5 min. The wait doubles from
	// MinBackoff, with jitter, and follows the upstream's Retry-After and
	// rate limits when they ask for longer.
	MinBackoff, MaxBackoff time.Duration
	Log                    *slog.Logger
	Now                    func() time.Time
}

// Defaults of a batch: records and payload bytes read from the spool and
// sent before the cursor moves.
const (
	batchRecords = 256
	batchBytes   = 2 << 20
	maxClients   = 64 // upstream clients kept (one per DSN in use)
)

// Stats are the forwarder's figures.
type Stats struct {
	Sent    int64 `json:"sent"`    // items the upstream accepted
	Failed  int64 `json:"failed"`  // items the upstream refused for good (4xx), skipped
	Retries int64 `json:"retries"` // sends that failed and will be tried again
	// Retrying is the number of items waiting to be tried again now.
	Retrying int64 `json:"retrying"`
	Dropped  int64 `json:"dropped"` // items skipped over MaxBacklog (DropOldest)
	// LagItems and LagBytes are what the spool holds that is not
	// forwarded yet; LagSeconds is the age of the oldest of it.
	LagItems   int64     `json:"lag_items"`
	LagBytes   int64     `json:"lag_bytes"`
	LagSeconds float64   `json:"lag_seconds"`
	LastSent   time.Time `json:"last_sent,omitzero"`
	LastError  string    `json:"last_error,omitempty"`
	LastErrAt  time.Time `json:"last_error_at,omitzero"`
	// RetryAt is when the next try of a failed send is due (zero: none).
	RetryAt time.Time `json:"retry_at,omitzero"`
	Cursor  string    `json:"cursor"`
}

// Forwarder forwards every record of a spool to its project's upstream, in
// spool order, from a durable cursor of its own: a restart resumes where
// the last acknowledged batch ended, and an upstream outage only makes the
// backlog grow. Delivery is at least once: a record sent but not yet
// acknowledged by the cursor when the process stops is sent again, with
// the same event id, for the upstream to deduplicate.
type Forwarder struct {
	cfg  Config
	hold *spool.Hold // nil when Primary
	log  *slog.Logger

	mu      sync.Mutex // guards cursor, clients, lastErr*, retryAt, oldest
	cursor  spool.Pos
	clients map[string]*Client
	lastErr string
	errAt   time.Time
	retryAt time.Time
	oldest  time.Time // IngestedAt of the oldest record not yet forwarded (zero: caught up)

	backlog0                                 atomic.Int64 // records between the cursor and end0, counted by Run
	appended0                                int64        // Spool.Appended at New
	end0                                     spool.Pos    // Spool.End at New
	advanced                                 atomic.Int64
	sent, failed, retries, retrying, dropped atomic.Int64
	lastSent                                 atomic.Int64 // unix nanos
}

// New returns a forwarder that resumes from the cursor in cfg.Dir, or,
// the first time, starts at the spool's end (what was spooled before
// forwarding was set up is not sent).
func New(cfg Config) (*Forwarder, error) {
	if cfg.Parallel <= 0 {
		cfg.Parallel = 16
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HTTP == nil {
		// Keep a connection per send in flight: the default transport
		// keeps 2 per host and would open (and close) one for most sends.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = cfg.Parallel
		cfg.HTTP = &http.Client{Timeout: 30 * time.Second, Transport: t}
	}
	f := &Forwarder{cfg: cfg, log: cfg.Log, clients: map[string]*Client{}}
	b, err := os.ReadFile(filepath.Join(cfg.Dir, CursorFile))
	switch {
	case err == nil:
		if f.cursor, err = spool.ParsePos(strings.TrimSpace(string(b))); err != nil {
			return nil, fmt.Errorf("forward: %s: %w", CursorFile, err)
		}
	case errors.Is(err, os.ErrNotExist):
		f.cursor = cfg.Spool.End()
		if err := f.saveCursor(f.cursor); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("forward: %w", err)
	}
	if end := cfg.Spool.End(); f.cursor.Seg > end.Seg {
		// A cursor past the spool's end belongs to another spool (the
		// directory was replaced): start at this one's end.
		f.cursor = end
		if err := f.saveCursor(f.cursor); err != nil {
			return nil, err
		}
	}
	if !cfg.Primary {
		f.hold = cfg.Spool.Hold(f.cursor)
	}
	f.appended0, f.end0 = cfg.Spool.Appended(), cfg.Spool.End()
	return f, nil
}

// Close gives up the forwarder's hold on the spool.
func (f *Forwarder) Close() {
	if f.hold != nil {
		f.hold.Close()
	}
}

// RemoveCursor deletes the cursor in dir, so that forwarding set up again
// later starts at the spool's end instead of replaying what was spooled
// meanwhile.
func RemoveCursor(dir string) error {
	err := os.Remove(filepath.Join(dir, CursorFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// saveCursor writes p to the cursor file durably (a new file renamed over
// the old one).
func (f *Forwarder) saveCursor(p spool.Pos) error {
	name := filepath.Join(f.cfg.Dir, CursorFile)
	tmp, err := os.CreateTemp(f.cfg.Dir, CursorFile+".*")
	if err != nil {
		return fmt.Errorf("forward: save cursor: %w", err)
	}
	_, err = tmp.WriteString(p.String() + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), name)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("forward: save cursor: %w", err)
	}
	if d, err := os.Open(f.cfg.Dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Admit implements ingest's admission check: without DropOldest, it
// refuses while the backlog is at MaxBacklog.
func (f *Forwarder) Admit(project int) error {
	if f.cfg.MaxBacklog <= 0 || f.cfg.DropOldest {
		return nil
	}
	f.mu.Lock()
	cur := f.cursor
	f.mu.Unlock()
	if f.cfg.Spool.BytesAfter(cur) >= f.cfg.MaxBacklog {
		return &budget.AdmitError{Reason: ErrBacklogFull, RetryAfter: time.Minute}
	}
	return nil
}

// Stats returns the forwarder's figures.
func (f *Forwarder) Stats() Stats {
	f.mu.Lock()
	st := Stats{LastError: f.lastErr, LastErrAt: f.errAt, RetryAt: f.retryAt, Cursor: f.cursor.String()}
	cur, oldest := f.cursor, f.oldest
	f.mu.Unlock()
	st.Sent, st.Failed, st.Retries = f.sent.Load(), f.failed.Load(), f.retries.Load()
	st.Retrying, st.Dropped = f.retrying.Load(), f.dropped.Load()
	st.LagItems = max(0, f.backlog0.Load()+f.cfg.Spool.Appended()-f.appended0-f.advanced.Load())
	st.LagBytes = f.cfg.Spool.BytesAfter(cur)
	if st.LagItems > 0 && !oldest.IsZero() {
		st.LagSeconds = max(0, f.cfg.Now().Sub(oldest).Seconds())
	}
	if n := f.lastSent.Load(); n != 0 {
		st.LastSent = time.Unix(0, n)
	}
	return st
}

// item is one spool record of a batch, copied out of the spool.
type item struct {
	project    int
	eventID    string
	typ        string
	ingestedAt time.Time
	payload    []byte
	next       spool.Pos
	done       bool
	attached   bool // attachments were found for it
	single     bool // refused in an envelope with others: sent alone
}

// Run forwards until ctx is done, and returns ctx.Err().
func (f *Forwarder) Run(ctx context.Context) error {
	notify := f.cfg.Spool.Watch()
	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	f.countBacklog()
	for {
		f.dropOverBacklog()
		items, full, err := f.read()
		if err != nil {
			f.noteErr(err)
			f.log.Error("forward: read spool", "err", err)
		}
		if len(items) == 0 {
			f.mu.Lock()
			f.oldest = time.Time{}
			f.mu.Unlock()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-notify:
			case <-poll.C:
			}
			continue
		}
		if err := f.deliver(ctx, items); err != nil {
			return err
		}
		if !full {
			// Under a trickle, let the next batch gather more records:
			// every batch costs an fsync of the cursor.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(Linger):
			}
		}
	}
}

// countBacklog counts the records left by earlier processes (between the
// cursor and the spool's end at New), for Stats.LagItems: it reads them
// once, here rather than in New, so that a large backlog does not delay
// the server's start.
func (f *Forwarder) countBacklog() {
	f.mu.Lock()
	cur := f.cursor
	f.mu.Unlock()
	end := f.end0
	var n int64
	f.cfg.Spool.ReadFrom(cur, math.MaxInt, 0, func(r *spool.Record, next spool.Pos) error {
		if next.Seg > end.Seg || next.Seg == end.Seg && next.Off > end.Off {
			return errStop
		}
		if n == 0 {
			f.mu.Lock()
			if f.oldest.IsZero() {
				f.oldest = r.IngestedAt
			}
			f.mu.Unlock()
		}
		n++
		return nil
	})
	f.backlog0.Store(n)
}

// Linger is how long the forwarder waits after a batch that did not fill.
const Linger = 20 * time.Millisecond

// read copies the next batch out of the spool; full says that it stopped
// at a limit, so more records are waiting.
func (f *Forwarder) read() (items []*item, full bool, err error) {
	f.mu.Lock()
	cur := f.cursor
	f.mu.Unlock()
	var size int64
	_, err = f.cfg.Spool.ReadFrom(cur, batchRecords, batchBytes, func(r *spool.Record, next spool.Pos) error {
		size += int64(len(r.Payload))
		items = append(items, &item{
			project: r.Project, eventID: r.EventID, typ: r.Type, ingestedAt: r.IngestedAt,
			payload: append([]byte(nil), r.Payload...), next: next,
		})
		return nil
	})
	if len(items) > 0 {
		f.mu.Lock()
		f.oldest = items[0].ingestedAt
		f.mu.Unlock()
	}
	return items, len(items) >= batchRecords || size >= batchBytes, err
}

// deliver sends items until each is sent or given up on, moving the cursor
// over every finished prefix. It returns only ctx's error.
func (f *Forwarder) deliver(ctx context.Context, items []*item) error {
	backoff := f.cfg.MinBackoff
	for {
		wait := f.sendRound(ctx, items)
		items = f.advance(items)
		if wait == 0 {
			f.retrying.Store(0)
			f.mu.Lock()
			f.retryAt = time.Time{}
			f.mu.Unlock()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if f.overBacklog() {
			return nil // Run skips the oldest, these among them
		}
		// Exponential backoff with full jitter in its upper half, unless
		// the upstream asked for a longer wait.
		d := backoff/2 + rand.N(backoff/2+1)
		if wait > 0 && wait > d {
			d = wait
		}
		backoff = min(2*backoff, f.cfg.MaxBackoff)
		f.mu.Lock()
		f.retryAt = f.cfg.Now().Add(d)
		f.mu.Unlock()
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// sendRound sends every item not done yet, Parallel envelopes at a time:
// each item in its own envelope, but events to an upstream that takes
// several in one envelope (a tinysink) up to its number at a time. It
// returns 0 when all are done, else the longest wait the upstream asked for
// among the failures (-1 when none asked: back off).
func (f *Forwarder) sendRound(ctx context.Context, items []*item) time.Duration {
	var (
		wg      sync.WaitGroup
		sem     = make(chan struct{}, f.cfg.Parallel)
		mu      sync.Mutex // guards pending, wait
		pending int64
		wait    time.Duration
	)
	buf := make([][]byte, f.cfg.Parallel)
	free := make(chan int, f.cfg.Parallel)
	for i := range f.cfg.Parallel {
		free <- i
	}
	launch := func(c *Client, group []*item) {
		sem <- struct{}{}
		slot := <-free
		wg.Go(func() {
			defer func() { free <- slot; <-sem }()
			var err error
			if len(group) == 1 {
				err = f.send(ctx, c, group[0], &buf[slot])
			} else {
				buf[slot] = f.appendEvents(buf[slot][:0], group)
				err = c.Send(ctx, buf[slot], Category(""))
			}
			if cap(buf[slot]) > 4*batchBytes {
				buf[slot] = nil
			}
			n := int64(len(group))
			if err == nil {
				for _, it := range group {
					it.done = true
				}
				f.sent.Add(n)
				f.lastSent.Store(f.cfg.Now().UnixNano())
				return
			}
			f.noteErr(err)
			var fe *Error
			if !errors.As(err, &fe) || !fe.Retry || ctx.Err() != nil && fe.Status == 0 {
				mu.Lock()
				defer mu.Unlock()
				switch {
				case ctx.Err() != nil:
					pending += n // stopping: the items stay behind the cursor
				case len(group) > 1:
					// Refused as a whole (too large?): each goes alone
					// next time, to be taken or refused on its own.
					for _, it := range group {
						it.single = true
					}
					c.OneEventEach()
					pending += n
				default:
					f.failed.Add(1)
					f.log.Warn("forward: the upstream refused an item; skipped", "project_id", group[0].project, "event_id", group[0].eventID, "err", err)
					group[0].done = true
				}
				return
			}
			if !fe.Limited {
				f.retries.Add(n)
			}
			mu.Lock()
			pending += n
			if fe.RetryAfter > wait {
				wait = fe.RetryAfter
			}
			mu.Unlock()
		})
	}
	var (
		group      []*item
		groupC     *Client
		groupBytes int
	)
	for _, it := range items {
		if it.done {
			continue
		}
		dsn := f.cfg.DSN(it.project)
		if dsn == "" {
			it.done = true
			continue
		}
		c, err := f.client(dsn)
		if err != nil {
			f.failed.Add(1)
			f.noteErr(fmt.Errorf("project %d: %w", it.project, err))
			it.done = true
			continue
		}
		if !f.groupable(c, it) {
			launch(c, []*item{it})
			continue
		}
		if len(group) > 0 && (c != groupC || len(group) >= c.EventsPerEnvelope() ||
			groupBytes+len(it.payload) > groupMaxBytes || hasID(group, it.eventID)) {
			launch(groupC, group)
			group, groupBytes = nil, 0
		}
		group, groupC = append(group, it), c
		groupBytes += len(it.payload)
	}
	if len(group) > 0 {
		launch(groupC, group)
	}
	wg.Wait()
	f.retrying.Store(pending)
	if pending == 0 {
		return 0
	}
	if wait == 0 {
		return -1
	}
	return wait
}

// groupMaxBytes bounds the payloads of the events sent in one envelope.
const groupMaxBytes = 1 << 20

// groupable reports whether it may share an envelope with other events:
// the upstream takes several, it is an event without attachments, and its
// payload names its event id (the upstream stores each event of an
// envelope under its own event_id, the first under the envelope's).
func (f *Forwarder) groupable(c *Client, it *item) bool {
	if it.typ != "" || it.single || c.EventsPerEnvelope() < 2 {
		return false
	}
	if !bytes.Contains(it.payload, []byte(`"event_id":"`+it.eventID+`"`)) {
		return false
	}
	if f.cfg.Attachments != nil {
		if as, err := f.cfg.Attachments.List(it.project, it.eventID); err != nil || len(as) > 0 {
			return false
		}
	}
	return true
}

// hasID reports whether an item of group has event id id (two copies of
// an event go in two envelopes, for the upstream to deduplicate).
func hasID(group []*item, id string) bool {
	for _, it := range group {
		if it.eventID == id {
			return true
		}
	}
	return false
}

// appendEvents appends one envelope holding the events of group, without
// an event id in its header: each is stored under its payload's.
func (f *Forwarder) appendEvents(dst []byte, group []*item) []byte {
	dst = AppendEnvelope(dst, "", "", stripMinidumpMark(group[0].payload), f.cfg.Now())
	for _, it := range group[1:] {
		dst = appendItem(dst, "", stripMinidumpMark(it.payload))
	}
	return dst
}

// send sends one item, with its attachments when it is an event that has
// some; buf is the sender's buffer for the envelope.
func (f *Forwarder) send(ctx context.Context, c *Client, it *item, buf *[]byte) error {
	payload := it.payload
	if it.typ == "" {
		payload = stripMinidumpMark(payload)
	}
	*buf = AppendEnvelope((*buf)[:0], it.eventID, it.typ, payload, f.cfg.Now())
	if it.typ == "" && f.cfg.Attachments != nil {
		ab, err := openAttached(f.cfg.Attachments, it.project, it.eventID, *buf)
		if err != nil {
			f.log.Warn("forward: attachments unreadable; the event goes without them", "project_id", it.project, "event_id", it.eventID, "err", err)
		}
		if ab != nil {
			it.attached = true
			defer ab.close()
			return c.SendReader(ctx, ab.reader(), ab.size, Category(it.typ))
		}
	}
	return c.Send(ctx, *buf, Category(it.typ))
}

// advance moves the cursor over the finished prefix of items, saves it and
// releases the spool behind it. It returns the items left.
func (f *Forwarder) advance(items []*item) []*item {
	var n int
	for n < len(items) && items[n].done {
		n++
	}
	if n == 0 {
		return items
	}
	if err := f.saveCursor(items[n-1].next); err != nil {
		f.noteErr(err)
		f.log.Error("forward: save cursor", "err", err)
		return items // sent again on the next round: at least once
	}
	f.setCursor(items[n-1].next, int64(n))
	if f.cfg.Primary && f.cfg.Attachments != nil {
		for _, it := range items[:n] {
			if it.attached {
				f.cfg.Attachments.Delete(it.project, it.eventID)
			}
		}
	}
	return items[n:]
}

// overBacklog reports whether, with DropOldest, the backlog is over
// MaxBacklog.
func (f *Forwarder) overBacklog() bool {
	if f.cfg.MaxBacklog <= 0 || !f.cfg.DropOldest {
		return false
	}
	f.mu.Lock()
	cur := f.cursor
	f.mu.Unlock()
	return f.cfg.Spool.BytesAfter(cur) >= f.cfg.MaxBacklog
}

// setCursor records that the cursor moved to p over n records, and
// releases the spool behind it.
func (f *Forwarder) setCursor(p spool.Pos, n int64) {
	f.mu.Lock()
	f.cursor = p
	f.mu.Unlock()
	f.advanced.Add(n)
	var err error
	if f.hold != nil {
		err = f.hold.Release(p)
	} else {
		err = f.cfg.Spool.Release(p)
	}
	if err != nil && !errors.Is(err, spool.ErrClosed) {
		f.log.Warn("forward: spool release", "err", err)
	}
}

// dropOverBacklog, with DropOldest, skips the oldest records while the
// backlog is over MaxBacklog, down to 90% of it.
func (f *Forwarder) dropOverBacklog() {
	if !f.overBacklog() {
		return
	}
	f.mu.Lock()
	cur := f.cursor
	f.mu.Unlock()
	over := f.cfg.Spool.BytesAfter(cur) - f.cfg.MaxBacklog*9/10
	var n, bytes int64
	next, err := f.cfg.Spool.ReadFrom(cur, math.MaxInt, 0, func(r *spool.Record, next spool.Pos) error {
		if bytes >= over {
			return errStop
		}
		bytes += int64(len(r.Payload)) + 64
		n++
		return nil
	})
	if err != nil && !errors.Is(err, errStop) || n == 0 {
		return
	}
	if err := f.saveCursor(next); err != nil {
		f.noteErr(err)
		return
	}
	f.setCursor(next, n)
	f.dropped.Add(n)
	f.log.Warn("forward: backlog over -forward-max-backlog; oldest items skipped", "items", n, "bytes", bytes)
}

var errStop = errors.New("stop")

// client returns the client of dsn, creating it.
func (f *Forwarder) client(dsn string) (*Client, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.clients[dsn]; ok {
		return c, nil
	}
	c, err := NewClient(dsn, Options{HTTP: f.cfg.HTTP, UserAgent: f.cfg.UserAgent, Now: f.cfg.Now})
	if err != nil {
		return nil, err
	}
	if len(f.clients) >= maxClients {
		clear(f.clients) // DSNs changed many times: start over (limits are relearned)
	}
	f.clients[dsn] = c
	return c, nil
}

func (f *Forwarder) noteErr(err error) {
	f.mu.Lock()
	f.lastErr, f.errAt = err.Error(), f.cfg.Now()
	f.mu.Unlock()
}
