package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	neturl "net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinysink/tinysink/ingest/relay"
	"github.com/tinysink/tinysink/ingest/spool"
	"github.com/tinysink/tinysink/ui"
)

// envelope returns an envelope with one event of id.
func envelope(id, msg string) []byte {
	ev := fmt.Sprintf(`{"event_id":"%s","platform":"go","level":"error","exception":{"values":[{"type":"ForwardTest","value":%q}]}}`, id, msg)
	return fmt.Appendf(nil, "{\"event_id\":\"%s\"}\n{\"type\":\"event\",\"length\":%d}\n%s\n", id, len(ev), ev)
}

// sendEvents posts n events to base's project pid with key, concurrently,
// and returns the ids acknowledged with a 200.
func sendEvents(t *testing.T, base string, pid int, key string, n int) []string {
	t.Helper()
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	ids := make(chan string)
	for range 4 {
		wg.Go(func() {
			for id := range ids {
				code, body := post(t, fmt.Sprintf("%s/api/%d/envelope/?sentry_key=%s", base, pid, key), nil, envelope(id, "m "+id[:8]))
				if code != 200 {
					t.Errorf("ingest: %d %s", code, body)
					continue
				}
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
			}
		})
	}
	for range n {
		ids <- newID()
	}
	close(ids)
	wg.Wait()
	return acked
}

// upstreamDSN returns the DSN of ts's project 1.
func upstreamDSN(t testing.TB, ts *testServer) string {
	t.Helper()
	p, err := ts.db.Project(1)
	if err != nil {
		t.Fatal(err)
	}
	return ui.DSN(ts.base, p)
}

// arrived waits until the upstream stored every id in project 1, once.
func arrived(t *testing.T, up *testServer, ids []string) {
	t.Helper()
	waitFor(t, 30*time.Second, "the events upstream", func() bool {
		up.drain(t)
		p, err := up.db.Project(1)
		return err == nil && p.DigestedEventCount >= int64(len(ids))
	})
	up.drain(t)
	for _, id := range ids {
		if code := up.apiGet(t, "/api/canonical/0/events/"+id+"/?project=1", nil); code != 200 {
			t.Errorf("event %s upstream: %d", id, code)
		}
	}
	if p, _ := up.db.Project(1); p.DigestedEventCount != int64(len(ids)) {
		t.Errorf("upstream digested %d events, want %d (each once)", p.DigestedEventCount, len(ids))
	}
}

// A storing tinysink forwards to another tinysink: every acknowledged
// event arrives once (the second copy of an event sent twice is
// deduplicated by its id), and the lag and counts show in the API, the
// metrics and the settings page.
func TestForwardToTinysink(t *testing.T) {
	up := startServer(t, noQuota...)
	fw := startServer(t, append(noQuota, "-forward-dsn", upstreamDSN(t, up))...)
	p, _ := fw.db.Project(1)
	ids := sendEvents(t, fw.base, 1, p.Key, 60)
	// The same event twice: the upstream keeps one.
	if code, _ := post(t, fw.base+"/api/1/envelope/?sentry_key="+p.Key, nil, envelope(ids[0], "again")); code != 200 {
		t.Fatalf("resend: %d", code)
	}
	arrived(t, up, ids)
	fw.drain(t)
	if st, _ := fw.db.Project(1); st.DigestedEventCount != int64(len(ids)) {
		t.Errorf("the forwarding server stored %d events, want %d", st.DigestedEventCount, len(ids))
	}

	var st struct {
		Running    bool  `json:"running"`
		InstallDSN bool  `json:"install_dsn"`
		Sent       int64 `json:"sent"`
		LagItems   int64 `json:"lag_items"`
	}
	waitFor(t, 10*time.Second, "the lag to clear", func() bool {
		fw.apiGet(t, "/api/canonical/0/forward/", &st)
		return st.LagItems == 0
	})
	if !st.Running || !st.InstallDSN || st.Sent != int64(len(ids))+1 {
		t.Errorf("GET /forward/ = %+v, want running, sent %d", st, len(ids)+1)
	}
	code, mb := fw.apiDo(t, "GET", "/metrics", nil)
	metrics := string(mb)
	if code != 200 || !strings.Contains(metrics, fmt.Sprintf("tinysink_forward_sent_total %d", len(ids)+1)) || !strings.Contains(metrics, "tinysink_forward_lag_seconds 0") {
		t.Errorf("/metrics: %d, no forward figures:\n%s", code, grepLines(metrics, "forward"))
	}
	page := fw.uiGet(t, "/projects/1/settings/")
	if !strings.Contains(page, `id="forwarding"`) || !strings.Contains(page, `id="forward-status"`) {
		t.Errorf("the settings page has no forwarding section")
	}
}

func grepLines(s, word string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A project's own forward DSN, set through the API while the server runs,
// starts forwarding that project only; a bad DSN is a 400.
func TestForwardPerProject(t *testing.T) {
	up := startServer(t, noQuota...)
	fw := startServer(t, noQuota...)
	var st struct {
		Running bool `json:"running"`
	}
	fw.apiGet(t, "/api/canonical/0/forward/", &st)
	if st.Running {
		t.Fatal("forwarding runs without a forward DSN")
	}
	code, body := fw.apiDo(t, "POST", "/api/canonical/0/projects/", []byte(`{"name":"second"}`))
	if code != 201 && code != 200 {
		t.Fatalf("create project: %d %s", code, body)
	}
	code, body = fw.apiDo(t, "PATCH", "/api/canonical/0/projects/2/", []byte(`{"forward_dsn":"ftp://nope"}`))
	if code != 400 || !strings.Contains(string(body), "forward_dsn") {
		t.Errorf("PATCH a bad DSN: %d %s, want 400", code, body)
	}
	code, body = fw.apiDo(t, "PATCH", "/api/canonical/0/projects/2/", []byte(`{"forward_dsn":"`+upstreamDSN(t, up)+`"}`))
	if code != 200 || !strings.Contains(string(body), `"forward_dsn":"`+upstreamDSN(t, up)) {
		t.Fatalf("PATCH forward_dsn: %d %s", code, body)
	}
	p1, _ := fw.db.Project(1)
	p2, _ := fw.db.Project(2)
	sendEvents(t, fw.base, 1, p1.Key, 5) // not forwarded
	ids := sendEvents(t, fw.base, 2, p2.Key, 20)
	arrived(t, up, ids)

	// The settings page form sets it too; an empty one stops it.
	fw.uiGet(t, "/projects/2/settings/")
	c := &http.Client{Jar: fw.jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.PostForm(fw.base+"/projects/2/forward/", neturl.Values{"forward_dsn": {"not a dsn"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("UI save of a bad DSN: %d, want 400", resp.StatusCode)
	}
	resp, err = c.PostForm(fw.base+"/projects/2/forward/", neturl.Values{"forward_dsn": {""}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || fw.db.ProjectForwardDSN(2) != "" {
		t.Errorf("UI save of an empty DSN: %d, DSN %q", resp.StatusCode, fw.db.ProjectForwardDSN(2))
	}
}

// startRelay runs a relay-only tinysink (-store=false) in-process on dir.
func startRelay(t *testing.T, dir string, args ...string) (r *relay.Relay, stop func()) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testLogOut(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	rc, err := defaultConfig(dir, append([]string{"-store=false"}, args...)...).relayConfig()
	if err != nil {
		t.Fatalf("relayConfig: %v", err)
	}
	r, err = relay.New(rc, log)
	if err != nil {
		t.Fatalf("relay.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Serve(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done; r.Close() }) }
	t.Cleanup(stop)
	return r, stop
}

// A relay spools and forwards to the upstream; stopped mid-run while the
// upstream is unreachable and started again, it loses nothing.
func TestRelayRestartLosesNothing(t *testing.T) {
	up := startServer(t, noQuota...)
	dsn := upstreamDSN(t, up)
	dir := t.TempDir()
	// First the relay points at a closed port: everything waits in its spool.
	down := strings.Replace(dsn, strings.TrimPrefix(up.base, "http://"), "127.0.0.1:1", 1)
	r, stop := startRelay(t, dir, "-forward-dsn", down)
	relayBase := "http://" + r.Addr().String()
	p, _ := up.db.Project(1)
	if code, _ := post(t, relayBase+"/api/1/envelope/?sentry_key=wrongkey0", nil, envelope(newID(), "x")); code != 403 {
		t.Errorf("relay with a wrong key: %d, want 403", code)
	}
	ids := sendEvents(t, relayBase, 1, p.Key, 30)
	waitFor(t, 10*time.Second, "a failed send", func() bool { st := r.ForwardStats(); return st.Retries > 0 })
	resp, err := http.Get(relayBase + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "tinysink_forward_lag_items 30") {
		t.Errorf("relay /metrics: no lag of 30:\n%s", grepLines(string(b), "forward"))
	}
	stop()

	// Restarted against the upstream that answers, with more events.
	r, _ = startRelay(t, dir, "-forward-dsn", dsn)
	relayBase = "http://" + r.Addr().String()
	ids = append(ids, sendEvents(t, relayBase, 1, p.Key, 20)...)
	arrived(t, up, ids)
	waitFor(t, 10*time.Second, "the relay's lag to clear", func() bool { st := r.ForwardStats(); return st.LagItems == 0 })
}

// BenchmarkForwardToTinysink measures forwarding from a relay's spool
// backlog to a real tinysink upstream on 127.0.0.1 (which spools each
// envelope with an fsync, group-committed, and digests meanwhile), with 3 KB
// events: the rate a relay or a forwarding server can sustain.
func BenchmarkForwardToTinysink(b *testing.B) {
	up := startServer(b, noQuota...)
	p, err := up.db.Project(1)
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// The relay starts with its upstream unreachable, so that the whole
	// backlog is spooled before the clock starts.
	rc, err := defaultConfig(b.TempDir(), "-store=false", "-forward-dsn", ui.DSN(up.base, p)).relayConfig()
	if err != nil {
		b.Fatal(err)
	}
	r, err := relay.New(rc, log)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	pad := strings.Repeat("x", 3000)
	var rs []*spool.Record
	for range b.N {
		id := newID()
		rs = append(rs, &spool.Record{Project: 1, EventID: id, IngestedAt: time.Now(),
			Payload: fmt.Appendf(nil, `{"event_id":"%s","message":"benchmark","extra":{"pad":"%s"}}`, id, pad)})
	}
	if err := r.Spool().AppendAll(rs); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Serve(ctx); close(done) }()
	for {
		st := r.ForwardStats()
		if st.LagItems == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	cancel()
	<-done
	if st := r.ForwardStats(); st.Sent != int64(b.N) {
		b.Fatalf("sent %d, want %d", st.Sent, b.N)
	}
}

// flakyUpstream is a recording upstream on 127.0.0.1: it answers from a
// script of failures first, counts the event ids of the envelopes it
// accepts, and can go down and come back on the same address.
type flakyUpstream struct {
	addr string
	srv  *http.Server

	mu     sync.Mutex
	ids    map[string]int
	script []int // statuses to answer before accepting
}

func newFlakyUpstream(t *testing.T, script ...int) *flakyUpstream {
	u := &flakyUpstream{ids: map[string]int{}, script: script}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.addr = ln.Addr().String()
	u.serve(ln)
	t.Cleanup(func() { u.srv.Close() })
	return u
}

func (u *flakyUpstream) serve(ln net.Listener) {
	u.srv = &http.Server{Handler: http.HandlerFunc(u.handle)}
	go u.srv.Serve(ln)
}

func (u *flakyUpstream) handle(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	var code int
	if len(u.script) > 0 {
		code, u.script = u.script[0], u.script[1:]
	}
	u.mu.Unlock()
	switch code {
	case 0:
	case 429:
		w.Header().Set("Retry-After", "0.05")
		w.Header().Set("X-Sentry-Rate-Limits", "0.05:error:organization:quota")
		w.WriteHeader(code)
		return
	default:
		w.WriteHeader(code)
		return
	}
	hdr, err := bufio.NewReader(r.Body).ReadBytes('\n')
	var h struct {
		EventID string `json:"event_id"`
	}
	if err != nil || json.Unmarshal(hdr, &h) != nil || h.EventID == "" {
		w.WriteHeader(400)
		return
	}
	u.mu.Lock()
	u.ids[h.EventID]++
	u.mu.Unlock()
}

func (u *flakyUpstream) down() { u.srv.Close() }

func (u *flakyUpstream) up(t *testing.T) {
	var ln net.Listener
	var err error
	for range 100 {
		if ln, err = net.Listen("tcp", u.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	u.serve(ln)
}

func (u *flakyUpstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.ids)
}

// Through a relay's real ingest to an upstream that answers 500, 503 and
// 429 (Retry-After, X-Sentry-Rate-Limits), goes down mid-run, and while it
// is down sees the relay restarted: every event the relay acknowledged
// arrives, exactly once after deduplication by event id, and nothing else.
func TestRelayThroughFlakyUpstream(t *testing.T) {
	forwardBackoff = [2]time.Duration{5 * time.Millisecond, 50 * time.Millisecond}
	t.Cleanup(func() { forwardBackoff = [2]time.Duration{} })
	up := newFlakyUpstream(t, 500, 503, 429, 500, 429)
	const key = "0123456789abcdef0123456789abcdef"
	dsn := "http://" + key + "@" + up.addr + "/7"
	dir := t.TempDir()
	r, stop := startRelay(t, dir, "-forward-dsn", dsn)
	base := "http://" + r.Addr().String()
	acked := sendEvents(t, base, 7, key, 40)
	waitFor(t, 20*time.Second, "some events upstream", func() bool { return up.count() >= 10 })

	up.down()
	acked = append(acked, sendEvents(t, base, 7, key, 40)...)
	stop() // the relay stops while the upstream is down
	r, _ = startRelay(t, dir, "-forward-dsn", dsn)
	base = "http://" + r.Addr().String()
	acked = append(acked, sendEvents(t, base, 7, key, 20)...)
	up.up(t)

	waitFor(t, 30*time.Second, "every event upstream", func() bool { return up.count() >= len(acked) })
	waitFor(t, 10*time.Second, "the lag to clear", func() bool { st := r.ForwardStats(); return st.LagItems == 0 })
	up.mu.Lock()
	defer up.mu.Unlock()
	for _, id := range acked {
		if up.ids[id] == 0 {
			t.Errorf("acknowledged event %s never arrived", id)
		}
	}
	if len(up.ids) != len(acked) {
		t.Errorf("%d distinct events arrived, %d acknowledged", len(up.ids), len(acked))
	}
}

// With the upstream down for long, a relay's backlog reaches
// -forward-max-backlog: ingest then refuses (429, forward_backlog) rather
// than acknowledge what it might have to drop, and /health/ready says why.
func TestRelayBacklogFull(t *testing.T) {
	const key = "0123456789abcdef0123456789abcdef"
	r, _ := startRelay(t, t.TempDir(), "-forward-dsn", "http://"+key+"@127.0.0.1:1/7", "-forward-max-backlog", "4KiB")
	base := "http://" + r.Addr().String()
	var acked, refused int
	for i := range 40 {
		req, _ := http.NewRequest("POST", base+"/api/7/envelope/?sentry_key="+key, bytes.NewReader(envelope(newID(), fmt.Sprint("n", i))))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case 200:
			acked++
		case 429:
			refused++
			if rl := resp.Header.Get("X-Sentry-Rate-Limits"); !strings.Contains(rl, "forward_backlog") || resp.Header.Get("Retry-After") == "" {
				t.Errorf("429 without forward_backlog: X-Sentry-Rate-Limits %q, Retry-After %q", rl, resp.Header.Get("Retry-After"))
			}
		default:
			t.Fatalf("ingest: %d", resp.StatusCode)
		}
	}
	if acked == 0 || refused == 0 {
		t.Errorf("%d acknowledged, %d refused; want some of each", acked, refused)
	}
	if st := r.ForwardStats(); st.LagItems != int64(acked) || st.Dropped != 0 {
		t.Errorf("forward stats %+v: want all %d acknowledged waiting, none dropped", st, acked)
	}
	resp, err := http.Get(base + "/health/ready")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(b), "forward_backlog") {
		t.Errorf("/health/ready: %d %s, want 503 forward_backlog", resp.StatusCode, b)
	}
}

// A relay's /metrics writes ingest's and the spool's series as the server
// does (one writer each): the same names, the same help, the same labels,
// admission refusals by reason included.
func TestRelayMetricsMatchServer(t *testing.T) {
	e := newEnv(t)
	code, serverText := e.get(t, "/metrics", e.token)
	if code != 200 {
		t.Fatalf("server /metrics = %d", code)
	}
	r, _ := startRelay(t, t.TempDir(), "-forward-dsn", "http://0123456789abcdef0123456789abcdef@127.0.0.1:1/1")
	resp, err := http.Get("http://" + r.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	relayText := string(b)
	// The series ingest and the spool write; the server alone adds the
	// age of the oldest undigested event.
	isShared := func(name string) bool {
		for _, p := range []string{"tinysink_events_accepted", "tinysink_events_refused", "tinysink_envelope_items", "tinysink_spool_"} {
			if strings.HasPrefix(name, p) {
				return name != "tinysink_spool_oldest_age_seconds"
			}
		}
		return false
	}
	shared := func(text string) []string {
		var out []string
		for _, s := range parseProm(t, text) {
			if isShared(s.name) {
				out = append(out, s.name+"{reason="+s.labels["reason"]+"}")
			}
		}
		for _, line := range strings.Split(text, "\n") {
			if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
				if name, _, _ := strings.Cut(rest, " "); isShared(name) {
					out = append(out, line)
				}
			}
		}
		return out
	}
	got, want := shared(relayText), shared(serverText)
	if !slices.Equal(got, want) {
		t.Errorf("relay's ingest and spool series differ from the server's:\nrelay:  %q\nserver: %q", got, want)
	}
	if !slices.Contains(got, "tinysink_events_refused_total{reason=memory}") || !slices.Contains(got, "tinysink_spool_damaged_segments_total{reason=}") {
		t.Errorf("relay /metrics lacks refusals by reason or damaged segments: %q", got)
	}
}
