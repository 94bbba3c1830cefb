package forward

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinysink/tinysink/budget"
	"github.com/tinysink/tinysink/ingest/spool"
)

func TestParseDSN(t *testing.T) {
	for _, tt := range []struct{ in, endpoint, key, err string }{
		{"http://abc@127.0.0.1:8000/1", "http://127.0.0.1:8000/api/1/envelope/", "abc", ""},
		{"https://k@o1.ingest.sentry.io/42/", "https://o1.ingest.sentry.io/api/42/envelope/", "k", ""},
		{"https://k:secret@host/sub/path/7", "https://host/sub/path/api/7/envelope/", "k", ""},
		{"ftp://k@host/1", "", "", "scheme"},
		{"http://host/1", "", "", "public key"},
		{"http://k@host/", "", "", "project id"},
		{"http://k@host/abc", "", "", "project id"},
	} {
		d, err := ParseDSN(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseDSN(%q) = %v, want error with %q", tt.in, err, tt.err)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("error shows the key: %v", err)
			}
			continue
		}
		if err != nil || d.Endpoint != tt.endpoint || d.Key != tt.key {
			t.Errorf("ParseDSN(%q) = %+v, %v; want %s key %s", tt.in, d, err, tt.endpoint, tt.key)
		}
	}
}

func TestParseRateLimits(t *testing.T) {
	got := ParseRateLimits("60:error;transaction:organization:quota, 2700:default::x, 10::key, bad, 5:nosuch:org, 120:error:project, NaN:session, inf:monitor")
	want := map[string]time.Duration{"error": 120 * time.Second, "transaction": 60 * time.Second, "default": 2700 * time.Second, "": 10 * time.Second}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ParseRateLimits = %v, want %v", got, want)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		want time.Duration
	}{
		{"7", 7 * time.Second}, {"", 0}, {"-1", 0}, {"soon", 0}, {"nAn", 0}, {"+Inf", 0},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
	} {
		if got := ParseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestAppendEnvelope(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	got := string(AppendEnvelope(nil, "0123456789abcdef0123456789abcdef", "", []byte(`{"a":1}`), at))
	want := `{"event_id":"0123456789abcdef0123456789abcdef","sent_at":"2026-12-03T10:00:00.000Z"}` + "\n" +
		`{"type":"event","length":7}` + "\n" + `{"a":1}` + "\n"
	if got != want {
		t.Errorf("AppendEnvelope =\n%s\nwant\n%s", got, want)
	}
	got = string(AppendEnvelope(nil, "", "check_in", []byte(`{}`), at))
	if !strings.HasPrefix(got, `{"sent_at"`) || !strings.Contains(got, `{"type":"check_in","length":2}`) {
		t.Errorf("AppendEnvelope without id = %s", got)
	}
}

// recorder is an upstream on 127.0.0.1 that records the event ids of the
// envelopes it accepts, answers from a script first, and can go down and
// come back on the same address.
type recorder struct {
	t    testing.TB
	addr string
	srv  *http.Server

	mu     sync.Mutex
	ids    map[string]int // event id -> times received
	script []func(w http.ResponseWriter) bool
	auth   []string
	calls  int
}

func newRecorder(t testing.TB) *recorder {
	rec := &recorder{t: t, ids: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec.addr = ln.Addr().String()
	rec.serve(ln)
	t.Cleanup(rec.down)
	return rec
}

func (rec *recorder) serve(ln net.Listener) {
	rec.srv = &http.Server{Handler: http.HandlerFunc(rec.handle)}
	go rec.srv.Serve(ln)
}

// down stops the upstream: connections are refused.
func (rec *recorder) down() {
	rec.srv.Close()
}

// up starts it again on the same address.
func (rec *recorder) up() {
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", rec.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		rec.t.Fatal(err)
	}
	rec.serve(ln)
}

func (rec *recorder) dsn() string { return "http://publickey@" + rec.addr + "/3" }

func (rec *recorder) handle(w http.ResponseWriter, r *http.Request) {
	rec.mu.Lock()
	rec.calls++
	rec.auth = append(rec.auth, r.Header.Get("X-Sentry-Auth"))
	var step func(http.ResponseWriter) bool
	if len(rec.script) > 0 {
		step, rec.script = rec.script[0], rec.script[1:]
	}
	rec.mu.Unlock()
	if r.URL.Path != "/api/3/envelope/" {
		http.Error(w, "wrong path "+r.URL.Path, http.StatusNotFound)
		return
	}
	if step != nil && step(w) {
		return
	}
	br := bufio.NewReader(r.Body)
	line, err := br.ReadBytes('\n')
	var hdr struct {
		EventID string `json:"event_id"`
	}
	if err != nil || json.Unmarshal(line, &hdr) != nil || hdr.EventID == "" {
		http.Error(w, "bad envelope", http.StatusBadRequest)
		return
	}
	io.Copy(io.Discard, br)
	rec.mu.Lock()
	rec.ids[hdr.EventID]++
	rec.mu.Unlock()
	w.Write([]byte(`{"id":"` + hdr.EventID + `"}`))
}

// then queues scripted answers.
func (rec *recorder) then(steps ...func(http.ResponseWriter) bool) {
	rec.mu.Lock()
	rec.script = append(rec.script, steps...)
	rec.mu.Unlock()
}

func status(code int, hdr ...string) func(http.ResponseWriter) bool {
	return func(w http.ResponseWriter) bool {
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Set(hdr[i], hdr[i+1])
		}
		w.WriteHeader(code)
		return true
	}
}

func (rec *recorder) received() map[string]int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := make(map[string]int, len(rec.ids))
	for k, v := range rec.ids {
		out[k] = v
	}
	return out
}

// rig is a spool and a forwarder over it.
type rig struct {
	t      testing.TB
	dir    string
	sp     *spool.Spool
	f      *Forwarder
	cancel context.CancelFunc
	done   chan error
	cfg    Config
}

func newRig(t *testing.T, dir string, cfg Config) *rig {
	t.Helper()
	sp, err := spool.Open(dir, spool.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Spool, cfg.Dir = sp, dir
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff, cfg.MaxBackoff = 5*time.Millisecond, 50*time.Millisecond
	}
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, dir: dir, sp: sp, f: f, cfg: cfg}
}

func (r *rig) start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() { r.done <- r.f.Run(ctx) }()
}

func (r *rig) stop() {
	if r.cancel != nil {
		r.cancel()
		if err := <-r.done; !errors.Is(err, context.Canceled) {
			r.t.Errorf("Run = %v", err)
		}
		r.cancel = nil
	}
	r.f.Close()
	r.sp.Close()
}

// append spools n events for project 1 and returns their ids.
func (r *rig) append(from, n int) []string {
	var ids []string
	for i := from; i < from+n; i++ {
		id := fmt.Sprintf("%032x", i+1)
		err := r.sp.Append(&spool.Record{Project: 1, EventID: id, IngestedAt: time.Now(), Payload: []byte(`{"message":"m` + id + `"}`)})
		if err != nil {
			r.t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// waitFor waits (at most 20 s) until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// allArrived checks that every id arrived (at least once: the upstream
// deduplicates by id) and nothing else did.
func allArrived(t *testing.T, got map[string]int, ids []string) {
	t.Helper()
	for _, id := range ids {
		if got[id] == 0 {
			t.Errorf("event %s never arrived", id)
		}
	}
	if len(got) != len(ids) {
		t.Errorf("%d distinct events arrived, want %d", len(got), len(ids))
	}
}

func TestForwarderThroughFailures(t *testing.T) {
	rec := newRecorder(t)
	r := newRig(t, t.TempDir(), Config{DSN: func(int) string { return rec.dsn() }, Parallel: 4})
	// Refusals first: two 500s, a 429 with Retry-After, a 429 with a
	// per-category rate limit, then a 503.
	rec.then(
		status(500), status(500),
		status(429, "Retry-After", "0.1"),
		status(429, "X-Sentry-Rate-Limits", "0.1:error:organization:quota"),
		status(503),
	)
	ids := r.append(0, 50)
	r.start()
	waitFor(t, "the first events", func() bool { return len(rec.received()) >= 20 })

	// The upstream goes down mid-run; events keep coming.
	rec.down()
	ids = append(ids, r.append(50, 50)...)
	waitFor(t, "a failed send", func() bool { return r.f.Stats().Retrying > 0 })
	if st := r.f.Stats(); st.LagItems == 0 || st.LagBytes == 0 || st.LastError == "" {
		t.Errorf("while down: Stats = %+v, want lag and an error", st)
	}
	rec.up()
	waitFor(t, "all events", func() bool { return len(rec.received()) == len(ids) })
	waitFor(t, "the lag to clear", func() bool { st := r.f.Stats(); return st.LagItems == 0 && st.Retrying == 0 })
	allArrived(t, rec.received(), ids)

	st := r.f.Stats()
	if st.Sent < int64(len(ids)) || st.Retries < 4 || st.Failed != 0 || st.LagBytes != 0 {
		t.Errorf("Stats = %+v", st)
	}
	if a := rec.auth[len(rec.auth)-1]; !strings.Contains(a, "sentry_key=publickey") {
		t.Errorf("X-Sentry-Auth = %q", a)
	}
	r.stop()
}

func TestForwarderRateLimitHoldsCategory(t *testing.T) {
	rec := newRecorder(t)
	r := newRig(t, t.TempDir(), Config{DSN: func(int) string { return rec.dsn() }, Parallel: 1})
	rec.then(status(429, "X-Sentry-Rate-Limits", "0.3:error:organization:quota"))
	ids := r.append(0, 3)
	start := time.Now()
	r.start()
	waitFor(t, "all events", func() bool { return len(rec.received()) == 3 })
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("sent again after %v, before the rate limit's 300ms", d)
	}
	rec.mu.Lock()
	calls := rec.calls
	rec.mu.Unlock()
	// The limited category is not tried while limited: one refused call,
	// then one per event.
	if calls != 4 {
		t.Errorf("upstream got %d calls, want 4", calls)
	}
	allArrived(t, rec.received(), ids)
	r.stop()
}

func TestForwarderGivesUpOnA4xx(t *testing.T) {
	rec := newRecorder(t)
	r := newRig(t, t.TempDir(), Config{DSN: func(int) string { return rec.dsn() }, Parallel: 1})
	rec.then(status(400))
	ids := r.append(0, 3)
	r.start()
	waitFor(t, "the others", func() bool { return len(rec.received()) == 2 })
	waitFor(t, "the lag to clear", func() bool { return r.f.Stats().LagItems == 0 })
	if st := r.f.Stats(); st.Failed != 1 || st.Sent != 2 {
		t.Errorf("Stats = %+v, want 1 failed, 2 sent", st)
	}
	if rec.received()[ids[0]] != 0 {
		t.Errorf("the refused event arrived")
	}
	r.stop()
}

func TestForwarderRestartLosesNothing(t *testing.T) {
	rec := newRecorder(t)
	dir := t.TempDir()
	dsn := func(int) string { return rec.dsn() }
	r := newRig(t, dir, Config{DSN: dsn})
	var ids []string
	ids = append(ids, r.append(0, 100)...)
	r.start()
	waitFor(t, "some events", func() bool { return len(rec.received()) >= 10 })
	// Stop mid-run with the upstream down, so some are in flight.
	rec.down()
	ids = append(ids, r.append(100, 100)...)
	r.stop()

	r = newRig(t, dir, Config{DSN: dsn})
	ids = append(ids, r.append(200, 50)...)
	r.start()
	waitFor(t, "a failed send after the restart", func() bool { return r.f.Stats().Retrying > 0 })
	// At least what has not arrived waits; what arrived but was not yet
	// under the cursor when the forwarder stopped waits too, and is sent
	// again (the upstream deduplicates).
	if st := r.f.Stats(); st.LagItems < int64(len(ids)-len(rec.received())) || st.LagItems > int64(len(ids)) {
		t.Errorf("after the restart: LagItems = %d, want at least the %d not yet arrived", st.LagItems, len(ids)-len(rec.received()))
	}
	rec.up()
	waitFor(t, "all events", func() bool { return len(rec.received()) == len(ids) })
	waitFor(t, "the lag to clear", func() bool { return r.f.Stats().LagItems == 0 })
	allArrived(t, rec.received(), ids)
	r.stop()
}

func TestForwarderFirstStartSkipsOldRecords(t *testing.T) {
	rec := newRecorder(t)
	dir := t.TempDir()
	sp, err := spool.Open(dir, spool.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	sp.Append(&spool.Record{Project: 1, EventID: fmt.Sprintf("%032x", 999), Payload: []byte(`{}`)})
	sp.Close()
	r := newRig(t, dir, Config{DSN: func(int) string { return rec.dsn() }})
	ids := r.append(0, 2)
	r.start()
	waitFor(t, "the events", func() bool { return len(rec.received()) == 2 })
	waitFor(t, "the lag to clear", func() bool { return r.f.Stats().LagItems == 0 })
	allArrived(t, rec.received(), ids)
	r.stop()
}

// The digest worker releasing its position must not delete what the
// forwarder has not sent: the spool keeps it until the upstream is back.
func TestForwarderHoldsTheSpool(t *testing.T) {
	rec := newRecorder(t)
	rec.down()
	dir := t.TempDir()
	sp, err := spool.Open(dir, spool.Options{NoSync: true, SegmentSize: 512})
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(Config{Spool: sp, Dir: dir, DSN: func(int) string { return rec.dsn() }, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, dir: dir, sp: sp, f: f}
	ids := r.append(0, 40)
	r.start()
	// The digest worker has read everything and releases it.
	if err := sp.Release(sp.End()); err != nil {
		t.Fatal(err)
	}
	if st := sp.Stats(); st.Files < 5 {
		t.Fatalf("spool files after the digest's release: %d, want the forward backlog kept", st.Files)
	}
	rec.up()
	waitFor(t, "all events", func() bool { return len(rec.received()) == len(ids) })
	waitFor(t, "the spool to shrink", func() bool { return sp.Stats().Files <= 2 })
	r.stop()
}

// With the upstream down for long, the backlog grows to MaxBacklog. In
// relay-only mode ingest is then refused (nothing acknowledged is lost);
// with DropOldest the oldest items are skipped and counted instead.
func TestForwarderBacklogBound(t *testing.T) {
	rec := newRecorder(t)
	rec.down()
	t.Run("refuse", func(t *testing.T) {
		r := newRig(t, t.TempDir(), Config{DSN: func(int) string { return rec.dsn() }, Primary: true, MaxBacklog: 4 << 10})
		r.start()
		if err := r.f.Admit(1); err != nil {
			t.Fatalf("Admit with an empty backlog = %v", err)
		}
		r.append(0, 100)
		err := r.f.Admit(1)
		var ae *budget.AdmitError
		if !errors.As(err, &ae) || !errors.Is(ae.Reason, ErrBacklogFull) || ae.RetryAfter <= 0 {
			t.Errorf("Admit over the backlog = %v, want forward_backlog", err)
		}
		if st := r.f.Stats(); st.Dropped != 0 || st.LagItems != 100 {
			t.Errorf("Stats = %+v, want 100 waiting, none dropped", st)
		}
		r.stop()
	})
	t.Run("drop oldest", func(t *testing.T) {
		r := newRig(t, t.TempDir(), Config{DSN: func(int) string { return rec.dsn() }, MaxBacklog: 4 << 10, DropOldest: true})
		r.start()
		r.append(0, 100)
		if err := r.f.Admit(1); err != nil {
			t.Errorf("Admit with DropOldest = %v, want nil", err)
		}
		waitFor(t, "the oldest to be dropped", func() bool { st := r.f.Stats(); return st.Dropped > 0 && st.LagBytes < 4<<10 })
		if st := r.f.Stats(); st.LagBytes >= 4<<10 || st.LagItems+st.Dropped != 100 {
			t.Errorf("Stats = %+v, want the lag under the bound and lag+dropped = 100", st)
		}
		r.stop()
	})
}

func TestClientLimits(t *testing.T) {
	rec := newRecorder(t)
	c, err := NewClient(rec.dsn(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec.then(status(429, "X-Sentry-Rate-Limits", "60:transaction:org"))
	env := AppendEnvelope(nil, fmt.Sprintf("%032x", 1), "transaction", []byte(`{}`), time.Now())
	err = c.Send(context.Background(), env, "transaction")
	var fe *Error
	if !errors.As(err, &fe) || fe.Status != 429 || !fe.Retry || fe.RetryAfter < 59*time.Second {
		t.Fatalf("Send = %#v, want a 429 of 60s", err)
	}
	if err := c.Send(context.Background(), env, "transaction"); !errors.As(err, &fe) || !fe.Limited {
		t.Errorf("Send while limited = %v, want Limited", err)
	}
	// Another category still goes.
	env = AppendEnvelope(nil, fmt.Sprintf("%032x", 2), "", []byte(`{}`), time.Now())
	if err := c.Send(context.Background(), env, "error"); err != nil {
		t.Errorf("Send of an event = %v", err)
	}
	if !bytes.Contains([]byte(rec.auth[0]), []byte("sentry_version=7")) {
		t.Errorf("auth = %q", rec.auth[0])
	}
}

func TestForwarderCursorOfAnotherSpool(t *testing.T) {
	rec := newRecorder(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, CursorFile), []byte("99:1234\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := newRig(t, dir, Config{DSN: func(int) string { return rec.dsn() }})
	ids := r.append(0, 3)
	r.start()
	waitFor(t, "the events", func() bool { return len(rec.received()) == 3 })
	allArrived(t, rec.received(), ids)
	r.stop()
}

// eventsUpstream is a tinysink-like upstream on 127.0.0.1: it says that it
// takes several events an envelope, counts each event item by the
// event_id of its payload, and refuses (413) envelopes of more than max
// events.
type eventsUpstream struct {
	addr string
	max  int

	mu       sync.Mutex
	ids      map[string]int
	multi    int // envelopes of several events taken
	refused  int
	requests int
}

func newEventsUpstream(t *testing.T, max int) *eventsUpstream {
	u := &eventsUpstream{max: max, ids: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.addr = ln.Addr().String()
	srv := &http.Server{Handler: u}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return u
}

func (u *eventsUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	br := bufio.NewReader(r.Body)
	br.ReadBytes('\n') // the envelope header
	var ids []string
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			break
		}
		var ih struct {
			Type   string `json:"type"`
			Length int    `json:"length"`
		}
		if json.Unmarshal(line, &ih) != nil {
			http.Error(w, "bad item header", 400)
			return
		}
		p := make([]byte, ih.Length+1)
		if _, err := io.ReadFull(br, p); err != nil {
			http.Error(w, "short item", 400)
			return
		}
		var ev struct {
			EventID string `json:"event_id"`
		}
		json.Unmarshal(p[:ih.Length], &ev)
		ids = append(ids, ev.EventID)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.requests++
	if len(ids) > u.max {
		u.refused++
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
		return
	}
	if len(ids) > 1 {
		u.multi++
	}
	for _, id := range ids {
		u.ids[id]++
	}
	w.Header().Set(EventsPerEnvelopeHeader, "100")
	w.Write([]byte(`{}`))
}

// appendWithIDs spools n events whose payloads name their ids, and the
// first of them once more (a retried event).
func (r *rig) appendWithIDs(n int) []string {
	var ids []string
	for i := range n {
		id := fmt.Sprintf("%032x", i+1)
		ids = append(ids, id)
	}
	for _, id := range append(ids, ids[0]) {
		err := r.sp.Append(&spool.Record{Project: 1, EventID: id, IngestedAt: time.Now(), Payload: []byte(`{"event_id":"` + id + `","message":"m"}`)})
		if err != nil {
			r.t.Fatal(err)
		}
	}
	return ids
}

// To an upstream that says it takes several events an envelope, events go
// several at a time, two copies of one event never in one envelope; an
// envelope refused as a whole is sent again one event at a time, so
// nothing is lost or failed.
func TestForwarderGroupsEvents(t *testing.T) {
	for _, max := range []int{100, 1} {
		t.Run(fmt.Sprint("max", max), func(t *testing.T) {
			u := newEventsUpstream(t, max)
			r := newRig(t, t.TempDir(), Config{DSN: func(int) string { return "http://k@" + u.addr + "/3" }, Primary: true})
			defer r.stop()
			ids := r.appendWithIDs(1) // the first answer says the upstream takes several
			r.start()
			waitFor(t, "the first event", func() bool { return r.f.Stats().LagItems == 0 })
			ids = append(ids, r.appendWithIDs(200)[1:]...)
			waitFor(t, "every event", func() bool { return r.f.Stats().LagItems == 0 })
			u.mu.Lock()
			defer u.mu.Unlock()
			for _, id := range ids {
				if n := u.ids[id]; n < 1 {
					t.Errorf("event %s arrived %d times", id, n)
				}
			}
			if st := r.f.Stats(); st.Failed != 0 {
				t.Errorf("failed %d", st.Failed)
			}
			if max > 1 && u.multi == 0 {
				t.Errorf("no envelope held several events (%d requests)", u.requests)
			}
			// Refused: the groups of one round (200 events, 32 a group),
			// then never again.
			if max == 1 && (u.refused < 1 || u.refused > 7 || u.multi != 0) {
				t.Errorf("refused %d, multi %d", u.refused, u.multi)
			}
		})
	}
}
