package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinysink/tinysink/budget/prom"
	"github.com/tinysink/tinysink/digest"
	"github.com/tinysink/tinysink/ingest"
	"github.com/tinysink/tinysink/ingest/quota"
	"github.com/tinysink/tinysink/ingest/spool"
	"github.com/tinysink/tinysink/store"
	"github.com/tinysink/tinysink/store/disk"
	"github.com/tinysink/tinysink/ui"
)

// env is a store, spool, digest worker and ingest handler behind a real
// loopback HTTP server, with the ops endpoints mounted as main mounts
// them.
type env struct {
	db     *store.DB
	sp     *spool.Spool
	worker *digest.Worker
	watch  *Watch
	srv    *httptest.Server
	proj   *store.Project
	token  string
	// free is the fake disk's available bytes (of 100 GiB).
	free atomic.Int64
	// skew moves the watch's clock forward.
	skew atomic.Int64
	// readOnly makes the fake disk read-only.
	readOnly atomic.Bool
	refusals *ingest.Refusals
	quota    *quota.Quota
	log      *slog.Logger
	logBuf   syncBuffer
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newEnv(t *testing.T) *env { return newEnvQuota(t, quota.Limits{}) }

// newEnvQuota is newEnv with a per-project quota; its log lines go to
// e.logBuf.
func newEnvQuota(t *testing.T, projectQuota quota.Limits) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{}
	e.log = slog.New(slog.NewTextHandler(&e.logBuf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e.free.Store(50 << 30)
	var err error
	if e.db, err = store.Open(dir); err != nil {
		t.Fatal(err)
	}
	if e.proj, err = e.db.CreateProject("app"); err != nil {
		t.Fatal(err)
	}
	if e.token, err = e.db.CreateToken(); err != nil {
		t.Fatal(err)
	}
	if e.sp, err = spool.Open(filepath.Join(dir, "spool"), spool.Options{}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	if e.worker, err = digest.New(e.db, e.sp, log); err != nil {
		t.Fatal(err)
	}
	disk := &disk.Guard{Dir: dir, MinFree: 64 << 20, MinFreeFrac: 0.01, Statfs: func(string) (disk.Space, error) {
		return disk.Space{Avail: e.free.Load(), Total: 100 << 30, ReadOnly: e.readOnly.Load()}, nil
	}, Now: func() time.Time { return time.Now().Add(time.Hour) }}
	// The guard's clock jumps an hour ahead at each call so that its
	// one-second cache never hides a change the test makes.
	var tick atomic.Int64
	disk.Now = func() time.Time { return time.Unix(tick.Add(10), 0) }
	e.refusals = ingest.NewRefusals(e.log)
	e.quota = quota.New(quota.Config{Project: projectQuota})
	ing := ingest.New(ingest.Config{Projects: e.db, Admit: quota.Admitters{disk, e.quota}, Spool: e.sp, Logger: log,
		OnAccept: func(p int) { e.quota.Count(p); e.refusals.Accepted(p) }, OnRefuse: e.refusals.Refused})
	e.watch = newWatch(watchConfig{DB: e.db, Spool: e.sp, Worker: e.worker, Ingest: ing, Refusals: e.refusals, Disk: disk, Version: "test"})
	e.watch.Now = func() time.Time { return time.Now().Add(time.Duration(e.skew.Load())) }
	e.refusals.Now = e.watch.Now
	mux := http.NewServeMux()
	ing.Register(mux)
	e.watch.Register(mux, ui.NewAPI(e.db, "", log).Protect(store.ScopeRead))
	e.srv = httptest.NewServer(mux)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { e.worker.Run(ctx) })
	t.Cleanup(func() {
		e.srv.Close()
		cancel()
		wg.Wait()
		e.sp.Close()
		e.db.Close()
	})
	return e
}

func (e *env) get(t *testing.T, path, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// send posts an event to /store/ with key (the project's when empty).
func (e *env) send(t *testing.T, key, body string) (int, string) {
	t.Helper()
	if key == "" {
		key = e.proj.Key
	}
	req, _ := http.NewRequest("POST", fmt.Sprintf("%s/api/%d/store/", e.srv.URL, e.proj.ID), strings.NewReader(body))
	req.Header.Set("X-Sentry-Auth", "Sentry sentry_version=7, sentry_key="+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *env) waitDigested(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.worker.Stats().Digested < n {
		if time.Now().After(deadline) {
			t.Fatalf("digested %d events, want %d", e.worker.Stats().Digested, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func readyReasons(t *testing.T, body string) []string {
	t.Helper()
	var v struct {
		Status  string   `json:"status"`
		Reasons []string `json:"reasons"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.Status != "unavailable" || len(v.Reasons) == 0 {
		t.Fatalf("503 body %q: %v", body, err)
	}
	return v.Reasons
}

// A worker whose batch blocks (here behind a backup that nobody reads) is
// reported as stalled once the oldest waiting event and the last batch are
// older than 30 s, while ingest keeps acknowledging; readiness returns when
// the worker goes on.
func TestReadyReportsStalledDigest(t *testing.T) {
	e := newEnv(t)
	if code, body := e.get(t, "/health/live", ""); code != 200 || body != "OK\n" {
		t.Errorf("live = %d %q", code, body)
	}
	if code, _ := e.send(t, "", `{"message":"one"}`); code != 200 {
		t.Fatalf("send = %d", code)
	}
	e.waitDigested(t, 1)
	if code, body := e.get(t, "/health/ready", ""); code != 200 || body != "OK\n" {
		t.Fatalf("ready = %d %q", code, body)
	}

	// Block the digest: a backup into a pipe nobody reads holds the lock.
	pr, pw := io.Pipe()
	backupDone := make(chan error, 1)
	go func() {
		err := e.db.Backup(pw)
		pw.CloseWithError(err)
		backupDone <- err
	}()
	if _, err := io.ReadFull(pr, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if code, body := e.send(t, "", `{"message":"two"}`); code != 200 {
		t.Fatalf("ingest during a stalled digest = %d %s", code, body)
	}
	// Give the worker the time to pick the event up and block on it.
	waitUntil(t, func() bool { return !e.worker.Stats().Idle })
	if code, body := e.get(t, "/health/ready", ""); code != 200 {
		t.Fatalf("ready with a fresh backlog = %d %s", code, body)
	}
	e.skew.Store(int64(31 * time.Second))
	code, body := e.get(t, "/health/ready", "")
	if code != 503 {
		t.Fatalf("ready with a stalled digest = %d %s", code, body)
	}
	reasons := readyReasons(t, body)
	if len(reasons) != 1 || !strings.Contains(reasons[0], "digest stalled") || !strings.Contains(reasons[0], "backup") {
		t.Errorf("reasons = %q", reasons)
	}

	pr.CloseWithError(io.ErrClosedPipe)
	if err := <-backupDone; err == nil {
		t.Error("Backup into a closed pipe succeeded")
	}
	e.waitDigested(t, 2)
	if code, body := e.get(t, "/health/ready", ""); code != 200 {
		t.Errorf("ready after the worker went on = %d %s", code, body)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// With the disk nearly full, ingest refuses with a clear message and
// readiness fails; when space returns both recover by themselves. A data
// directory that takes no writes fails readiness too.
func TestDiskFullAndWriteProbe(t *testing.T) {
	e := newEnv(t)
	e.free.Store(500 << 20) // below 1% of 100 GiB
	code, body := e.send(t, "", `{"message":"no room"}`)
	if code != http.StatusTooManyRequests || !strings.Contains(body, "disk_full") {
		t.Errorf("send on a full disk = %d %s, want 429 with a message", code, body)
	}
	code, body = e.get(t, "/health/ready", "")
	if code != 503 {
		t.Fatalf("ready on a full disk = %d", code)
	}
	if r := readyReasons(t, body); len(r) != 1 || !strings.Contains(r[0], "disk nearly full: 500.0MiB available of 100.0GiB (threshold 1.0GiB)") {
		t.Errorf("reasons = %q", r)
	}
	e.free.Store(20 << 30)
	if code, body := e.send(t, "", `{"message":"room again"}`); code != 200 {
		t.Errorf("send after space returned = %d %s", code, body)
	}
	if code, body := e.get(t, "/health/ready", ""); code != 200 {
		t.Errorf("ready after space returned = %d %s", code, body)
	}
	e.readOnly.Store(true)
	code, body = e.get(t, "/health/ready", "")
	if r := readyReasons(t, body); code != 503 || !strings.Contains(r[0], "read-only") {
		t.Errorf("ready on a read-only file system = %d %q", code, r)
	}
	e.readOnly.Store(false)

	// The probe file turned into a directory: writes fail. The last probe
	// is reused for ProbeEvery; a digest batch committed since then counts
	// as a good probe; the next real probe fails.
	probe := filepath.Join(e.db.Dir(), "probe")
	os.Remove(probe)
	if err := os.Mkdir(probe, 0o700); err != nil {
		t.Fatal(err)
	}
	e.waitDigested(t, 1)
	if code, _ := e.get(t, "/health/ready", ""); code != 200 {
		t.Errorf("ready within ProbeEvery of a good probe = %d", code)
	}
	e.skew.Store(int64(61 * time.Second))
	e.get(t, "/health/ready", "")
	e.skew.Store(int64(122 * time.Second))
	code, body = e.get(t, "/health/ready", "")
	if code != 503 {
		t.Fatalf("ready with a failing probe = %d", code)
	}
	if r := readyReasons(t, body); !strings.Contains(r[0], "does not take writes") {
		t.Errorf("reasons = %q", r)
	}
}

// promSample is one parsed sample line.
type promSample struct {
	name   string
	labels map[string]string
	value  float64
}

var (
	promName  = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	promLine  = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$`)
	promLabel = regexp.MustCompile(`^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)`)
)

// parseProm parses the text exposition format strictly: every family has
// one HELP and one TYPE line before its samples, and its samples are
// together.
func parseProm(t *testing.T, text string) []promSample {
	t.Helper()
	types := map[string]string{}
	helps := map[string]bool{}
	closed := map[string]bool{}
	var out []promSample
	cur := ""
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, _, _ := strings.Cut(rest, " ")
			if helps[name] || !promName.MatchString(name) {
				t.Fatalf("line %d: HELP %q repeated or bad", i+1, name)
			}
			helps[name] = true
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			if _, dup := types[name]; dup || (typ != "counter" && typ != "gauge") || !helps[name] {
				t.Fatalf("line %d: TYPE %q", i+1, line)
			}
			types[name] = typ
			if cur != "" {
				closed[cur] = true
			}
			cur = name
			continue
		}
		m := promLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("line %d: not a sample: %q", i+1, line)
		}
		s := promSample{name: m[1], labels: map[string]string{}}
		if m[1] != cur || closed[m[1]] {
			t.Fatalf("line %d: sample of %q outside its family (current %q)", i+1, m[1], cur)
		}
		if types[m[1]] == "counter" && !strings.HasSuffix(m[1], "_total") {
			t.Errorf("counter %s does not end in _total", m[1])
		}
		if m[2] != "" {
			ls := m[2][1 : len(m[2])-1]
			for ls != "" {
				lm := promLabel.FindStringSubmatch(ls)
				if lm == nil {
					t.Fatalf("line %d: bad labels %q", i+1, m[2])
				}
				s.labels[lm[1]] = strings.NewReplacer(`\"`, `"`, `\n`, "\n", `\\`, `\`).Replace(lm[2])
				ls = ls[len(lm[0]):]
			}
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("line %d: bad value %q", i+1, m[3])
		}
		s.value = v
		out = append(out, s)
	}
	return out
}

func find(samples []promSample, name string, labels ...string) (float64, bool) {
	for _, s := range samples {
		if s.name != name {
			continue
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			match = match && s.labels[labels[i]] == labels[i+1]
		}
		if match {
			return s.value, true
		}
	}
	return 0, false
}

// /metrics needs a token, and reports what happened: accepted and refused
// events by reason, digest, spool, store, alerts and memory figures.
func TestMetricsScrape(t *testing.T) {
	e := newEnv(t)
	for i := range 3 {
		if code, _ := e.send(t, "", fmt.Sprintf(`{"message":"m%d"}`, i)); code != 200 {
			t.Fatalf("send = %d", code)
		}
	}
	e.send(t, "0123456789abcdef0123456789abcdef", `{"message":"wrong key"}`)
	e.send(t, "", `{"message":`)
	e.free.Store(1 << 20)
	e.send(t, "", `{"message":"full"}`)
	e.free.Store(50 << 30)
	e.waitDigested(t, 3)

	if code, _ := e.get(t, "/metrics", ""); code != 401 {
		t.Errorf("/metrics without a token = %d", code)
	}
	if code, _ := e.get(t, "/metrics", "wrong"); code != 401 {
		t.Errorf("/metrics with a wrong token = %d", code)
	}
	code, text := e.get(t, "/metrics", e.token)
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	samples := parseProm(t, text)
	for _, tt := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"tinysink_build_info", []string{"version", "test"}, 1},
		{"tinysink_events_accepted_total", nil, 3},
		{"tinysink_events_refused_total", []string{"reason", "auth"}, 1},
		{"tinysink_events_refused_total", []string{"reason", "malformed"}, 1},
		{"tinysink_events_refused_total", []string{"reason", "disk_full"}, 1},
		{"tinysink_events_refused_total", []string{"reason", "memory"}, 0},
		{"tinysink_events_refused_total", []string{"reason", "size"}, 0},
		{"tinysink_events_digested_total", nil, 3},
		{"tinysink_events_duplicate_total", nil, 0},
		{"tinysink_spool_oldest_age_seconds", nil, 0},
		{"tinysink_project_stored_events", []string{"project", "app", "project_id", strconv.Itoa(e.proj.ID)}, 3},
		{"tinysink_alerts_pending", nil, 0},
		{"tinysink_alert_delivery_failures_total", nil, 0},
		{"tinysink_disk_avail_bytes", nil, 50 << 30},
		{"tinysink_disk_min_free_bytes", nil, 1 << 30},
		{"tinysink_ready", nil, 1},
	} {
		if got, ok := find(samples, tt.name, tt.labels...); !ok || got != tt.want {
			t.Errorf("%s%v = %v (found %v), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
	for _, name := range []string{"tinysink_memory_rss_bytes", "tinysink_memory_rss_anon_bytes", "tinysink_go_heap_inuse_bytes",
		"tinysink_digest_batches_total", "tinysink_digest_last_batch_timestamp_seconds", "tinysink_spool_files"} {
		if got, ok := find(samples, name); !ok || got <= 0 {
			t.Errorf("%s = %v (found %v), want > 0", name, got, ok)
		}
	}
	if got, ok := find(samples, "tinysink_project_stored_bytes", "project", "app"); !ok || got < 3*80 {
		t.Errorf("stored bytes = %v", got)
	}
	if got, ok := find(samples, "tinysink_data_bytes", "part", "events"); !ok || got < 3*80 {
		t.Errorf("data bytes of events = %v", got)
	}
	limit := debug.SetMemoryLimit(-1)
	if limit == 1<<63-1 {
		limit = 0
	}
	if got, _ := find(samples, "tinysink_memory_limit_bytes"); got != float64(limit) {
		t.Errorf("memory limit = %v, want %d", got, limit)
	}
	if _, ok := find(samples, "tinysink_go_gc_cycles_total"); !ok {
		t.Error("no GC count")
	}

	// A separate listener serves the same without a token.
	plain := httptest.NewServer(e.watch.Handler())
	defer plain.Close()
	resp, err := http.Get(plain.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "tinysink_events_accepted_total 3\n") {
		t.Errorf("plain /metrics = %d", resp.StatusCode)
	}
}

func TestPromEscaping(t *testing.T) {
	var p prom.Writer
	p.Family("x_total", "counter", "a \\ b\nc")
	p.Sample("x_total", 2.5, "l", "q\"uo\\te\nnl")
	want := "# HELP x_total a \\\\ b\\nc\n# TYPE x_total counter\nx_total{l=\"q\\\"uo\\\\te\\nnl\"} 2.5\n"
	if got := string(p.Bytes()); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	s := parseProm(t, string(p.Bytes()))
	if len(s) != 1 || s[0].labels["l"] != "q\"uo\\te\nnl" {
		t.Errorf("parsed %+v", s)
	}
}

// After a restart, a spool segment that was fully digested but not yet
// released (the active segment of the previous process) holds no backlog:
// readiness starts from the position the store recorded, not from the
// first record on disk.
func TestReadyAfterRestartWithDigestedSpool(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := db.CreateProject("app")
	sp, err := spool.Open(filepath.Join(dir, "spool"), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = sp.Append(&spool.Record{Project: p.ID, EventID: strings.Repeat("ab", 16), IngestedAt: time.Now().Add(-time.Hour),
		Payload: []byte(`{"message":"old"}`)})
	if err != nil {
		t.Fatal(err)
	}
	w, _ := digest.New(db, sp, slog.New(slog.DiscardHandler))
	if err := w.Drain(); err != nil {
		t.Fatal(err)
	}
	sp.Close()
	db.Close()

	if db, err = store.Open(dir); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if sp, err = spool.Open(filepath.Join(dir, "spool"), spool.Options{}); err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if w, err = digest.New(db, sp, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if err := w.Drain(); err != nil {
		t.Fatal(err)
	}
	watch := newWatch(watchConfig{DB: db, Spool: sp, Worker: w})
	watch.Now = func() time.Time { return time.Now().Add(time.Minute) }
	if r := watch.Ready(); !r.Ready() || r.Backlog != 0 {
		t.Errorf("Ready after a restart = %+v", r)
	}
	// The worker releases what was digested before the restart at once,
	// so the spool's own figures agree.
	if st := sp.Stats(); !st.Oldest.IsZero() || st.Files != 1 {
		t.Errorf("spool after a restart over digested records: %+v", st)
	}
}

// KeepMaxDisk evicts at once when the budget is exceeded, no more than the
// budget needs, and the metrics report it.
func TestKeepMaxDisk(t *testing.T) {
	e := newEnv(t)
	for i := range 40 {
		pad := make([]byte, 8000)
		rand.Read(pad)
		body := fmt.Sprintf(`{"message":"m%d","extra":{"pad":"%x"}}`, i, pad)
		if code, _ := e.send(t, "", body); code != 200 {
			t.Fatalf("send = %d", code)
		}
	}
	e.waitDigested(t, 40)
	u, _ := e.db.DataUsage()
	e.watch.cfg.MaxDisk = u.Store + u.Events/2
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	batches := func() int64 { return e.worker.Stats().Batches }
	go func() {
		e.db.KeepMaxDisk(ctx, e.watch.cfg.MaxDisk, batches, slog.New(slog.DiscardHandler))
		close(done)
	}()
	waitUntil(t, func() bool { return e.db.DiskEvicted() > 0 })
	cancel()
	<-done
	after, _ := e.db.DataUsage()
	// Evicting half the events meets the budget; the tree's journal, which
	// grows with every eviction until a checkpoint, must not make it evict
	// more (it evicted 38 of the 40 when it counted).
	if n := e.db.DiskEvicted(); n > 24 {
		t.Errorf("evicted %d of 40 events for a budget that half of them meet", n)
	}
	if after.Store+after.Events > e.watch.cfg.MaxDisk {
		t.Errorf("usage %d over the budget %d", after.Store+after.Events, e.watch.cfg.MaxDisk)
	}
	_, text := e.get(t, "/metrics", e.token)
	if !strings.Contains(text, "tinysink_events_evicted_disk_total "+strconv.FormatInt(e.db.DiskEvicted(), 10)+"\n") {
		t.Error("metrics do not report the evictions")
	}
}

// Refusals that go on for 30 s with no event of the project accepted fail
// readiness with the reason and the project, and are logged at Warn at
// most once a minute; readiness recovers by itself when the refusals stop
// (10 s without one) or when an event of the project gets through.
func TestSustainedRefusalsFailReadiness(t *testing.T) {
	e := newEnvQuota(t, quota.Limits{FiveMin: 1})
	at := func(d time.Duration) { e.skew.Store(int64(d)) }
	ready := func(when string) []string {
		t.Helper()
		code, body := e.get(t, "/health/ready", "")
		if code == 200 {
			return nil
		}
		if code != 503 {
			t.Fatalf("%s: ready = %d %s", when, code, body)
		}
		return readyReasons(t, body)
	}
	refuse := func() {
		t.Helper()
		if code, body := e.send(t, "", `{"message":"over quota"}`); code != http.StatusTooManyRequests {
			t.Fatalf("send over the quota = %d %s", code, body)
		}
	}
	warnings := func() int {
		return strings.Count(e.logBuf.String(), `level=WARN msg="ingest refusing events" reason=project_quota project_id=1 `)
	}

	if code, body := e.send(t, "", `{"message":"within quota"}`); code != 200 {
		t.Fatalf("first send = %d %s", code, body)
	}
	e.waitDigested(t, 1) // else the skewed clock sees a stalled digest
	for _, s := range []int{0, 9, 18, 27} {
		at(time.Duration(s) * time.Second)
		refuse()
	}
	if r := ready("after 27 s of refusals"); r != nil {
		t.Errorf("ready failed before 30 s of refusals: %q", r)
	}
	at(36 * time.Second)
	refuse()
	r := ready("after 36 s of refusals")
	if want := "ingest refusing events: project_quota (project 1 'app') for 36s, 5 refused"; len(r) != 1 || r[0] != want {
		t.Errorf("reasons = %q, want [%q]", r, want)
	}
	if n := warnings(); n != 1 {
		t.Errorf("%d warnings after 36 s, want 1:\n%s", n, e.logBuf.String())
	}
	// Refusals every 9 s: one more line once a minute has passed.
	for s := 45; s <= 90; s += 9 {
		at(time.Duration(s) * time.Second)
		refuse()
	}
	if n := warnings(); n != 1 {
		t.Errorf("%d warnings within a minute of the first, want 1", n)
	}
	at(99 * time.Second)
	refuse()
	if n := warnings(); n != 2 {
		t.Errorf("%d warnings after a minute, want 2", n)
	}
	if !strings.Contains(e.logBuf.String(), "refused=7") {
		t.Errorf("the second line does not count the 7 refusals since the first:\n%s", e.logBuf.String())
	}
	if r := ready("while refusing"); len(r) != 1 {
		t.Errorf("reasons while refusing = %q", r)
	}
	// No refusal for more than 10 s: ready again.
	at(110 * time.Second)
	if r := ready("after the refusals stopped"); r != nil {
		t.Errorf("ready after the refusals stopped: %q", r)
	}
	if _, m := e.get(t, "/metrics", e.token); !strings.Contains(m, `tinysink_events_refused_total{reason="project_quota"} 12`) {
		t.Error("metrics do not count the 12 quota refusals")
	}
}

// A disk that fills up gives sustained disk_full refusals; the first event
// accepted once space returns ends them at once.
func TestSustainedRefusalsEndWithAnAcceptedEvent(t *testing.T) {
	e := newEnv(t)
	e.free.Store(500 << 20)
	for _, s := range []int{0, 8, 16, 24, 32} {
		e.skew.Store(int64(time.Duration(s) * time.Second))
		if code, _ := e.send(t, "", `{"message":"no room"}`); code != http.StatusTooManyRequests {
			t.Fatalf("send on a full disk = %d", code)
		}
	}
	e.free.Store(20 << 30)
	code, body := e.get(t, "/health/ready", "")
	if r := readyReasons(t, body); code != 503 || len(r) != 1 || !strings.HasPrefix(r[0], "ingest refusing events: disk_full (project 1 'app') for 32s") {
		t.Fatalf("ready after 32 s of disk_full = %d %q", code, r)
	}
	if code, _ := e.send(t, "", `{"message":"room again"}`); code != 200 {
		t.Fatalf("send after space returned = %d", code)
	}
	e.waitDigested(t, 1) // else the skewed clock sees a stalled digest
	if code, body := e.get(t, "/health/ready", ""); code != 200 {
		t.Errorf("ready after an accepted event = %d %s", code, body)
	}
}
