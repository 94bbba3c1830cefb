// End-to-end tests: a real tinysink in-process or as a subprocess, real
// SDK payloads over loopback HTTP.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"
	"github.com/tinysink/tinysink/budget"
	"github.com/tinysink/tinysink/budget/profile"
	"github.com/tinysink/tinysink/store"
	"github.com/tinysink/tinysink/ui"
)

var update = flag.Bool("update", false, "rewrite golden files")

// testServer is a tinysink running in-process on 127.0.0.1 with a fresh
// data directory.
type testServer struct {
	*server
	token string
}

func defaultConfig(dir string, args ...string) *config {
	c, _, err := parseFlags("test", append([]string{"-addr", "127.0.0.1:0", "-data", dir}, args...), io.Discard)
	if err != nil {
		panic(err)
	}
	return c
}

func startServer(t testing.TB, args ...string) *testServer {
	t.Helper()
	t.Setenv("TINYSINK_ADMIN_PASSWORD", "test-password")
	log := slog.New(slog.NewTextHandler(testLogOut(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := newServer(defaultConfig(t.TempDir(), args...), log)
	if err != nil {
		t.Fatalf("newServer: %v", err)
	}
	tok, err := s.db.CreateToken()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; s.close() })
	return &testServer{server: s, token: tok}
}

// apiGet fetches an API path and decodes its JSON into v.
func (ts *testServer) apiGet(t *testing.T, path string, v any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", ts.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+ts.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if v != nil && resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: decode: %v", path, err)
		}
	}
	return resp.StatusCode
}

// waitDigested waits until the spool is drained.
func (ts *testServer) drain(t testing.TB) {
	t.Helper()
	if err := ts.worker.Drain(); err != nil {
		t.Fatalf("Drain: %v", err)
	}
}

type apiIssueT struct {
	ID                 string `json:"id"`
	FriendlyID         string `json:"friendly_id"`
	Title              string `json:"title"`
	CalculatedType     string `json:"calculated_type"`
	CalculatedValue    string `json:"calculated_value"`
	DigestedEventCount int64  `json:"digested_event_count"`
	StoredEventCount   int64  `json:"stored_event_count"`
}

type listT[T any] struct {
	Next    *string `json:"next"`
	Results []T     `json:"results"`
}

func (ts *testServer) issues(t *testing.T, project int) []apiIssueT {
	t.Helper()
	var all []apiIssueT
	path := fmt.Sprintf("/api/canonical/0/issues/?project=%d", project)
	for path != "" {
		var l listT[apiIssueT]
		if code := ts.apiGet(t, path, &l); code != 200 {
			t.Fatalf("GET %s = %d", path, code)
		}
		all = append(all, l.Results...)
		path = ""
		if l.Next != nil {
			path = strings.TrimPrefix(*l.Next, ts.base)
		}
	}
	return all
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func post(t *testing.T, url string, hdr map[string]string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sampleGolden is the part of digest/event's golden summary this test uses.
type sampleGolden struct {
	Title       string `json:"title"`
	Type        string `json:"calculated_type"`
	GroupingKey string `json:"grouping_key"`
}

// Every sample event, sent once through /store/ and once inside an
// envelope, is stored exactly once per project and grouped by its golden
// grouping key.
func TestSamplesStoredAndGrouped(t *testing.T) {
	ts := startServer(t)
	storeP, err := ts.db.CreateProject("via store")
	if err != nil {
		t.Fatal(err)
	}
	envP, err := ts.db.CreateProject("via envelope")
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join("digest", "event", "testdata", "events")
	type sent struct {
		name, storeID, envID string
		golden               sampleGolden
	}
	var all []sent
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		var g sampleGolden
		gb, err := os.ReadFile(filepath.Join("digest", "event", "testdata", "golden", rel))
		if err != nil {
			return fmt.Errorf("golden for %s: %w", rel, err)
		}
		if err := json.Unmarshal(gb, &g); err != nil {
			return err
		}
		s := sent{name: rel, storeID: newID(), envID: newID(), golden: g}
		// /store/: the payload's own event_id, replaced so that samples
		// that share one (variants of one event) stay distinct.
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		m["event_id"], _ = json.Marshal(s.storeID)
		body, _ := json.Marshal(m)
		code, resp := post(t, fmt.Sprintf("%s/api/%d/store/?sentry_key=%s", ts.base, storeP.ID, storeP.Key), map[string]string{"Content-Type": "application/json"}, body)
		if code != 200 || !strings.Contains(resp, s.storeID) {
			t.Errorf("%s via /store/: %d %s", rel, code, resp)
		}
		// Envelope: the original bytes, with the event id in the header.
		env := fmt.Appendf(nil, "{\"event_id\":\"%s\"}\n{\"type\":\"event\",\"length\":%d}\n%s\n", s.envID, len(raw), raw)
		code, resp = post(t, fmt.Sprintf("%s/api/%d/envelope/", ts.base, envP.ID), map[string]string{
			"X-Sentry-Auth": "Sentry sentry_version=7, sentry_key=" + envP.Key,
		}, env)
		if code != 200 {
			t.Errorf("%s via envelope: %d %s", rel, code, resp)
		}
		all = append(all, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 150 {
		t.Fatalf("only %d samples found", len(all))
	}
	ts.drain(t)

	wantKeys := map[string]bool{}
	for _, s := range all {
		wantKeys[s.golden.GroupingKey] = true
	}
	for _, p := range []*store.Project{storeP, envP} {
		pr, _ := ts.db.Project(p.ID)
		if pr.StoredEventCount != int64(len(all)) || pr.DigestedEventCount != int64(len(all)) {
			t.Errorf("project %s: stored %d, digested %d; want %d", p.Slug, pr.StoredEventCount, pr.DigestedEventCount, len(all))
		}
		issues := ts.issues(t, p.ID)
		if len(issues) != len(wantKeys) {
			t.Errorf("project %s: %d issues, want %d (distinct golden grouping keys)", p.Slug, len(issues), len(wantKeys))
		}
	}
	// Each event is retrievable, and its issue's type matches the golden.
	for _, s := range all {
		for _, id := range []string{s.storeID, s.envID} {
			var ev struct {
				Issue string          `json:"issue"`
				Data  json.RawMessage `json:"data"`
			}
			if code := ts.apiGet(t, "/api/canonical/0/events/"+id+"/", &ev); code != 200 {
				t.Errorf("%s: event %s: %d", s.name, id, code)
				continue
			}
			var iss apiIssueT
			ts.apiGet(t, "/api/canonical/0/issues/"+ev.Issue+"/", &iss)
			if iss.CalculatedType != s.golden.Type {
				t.Errorf("%s: issue type %q, golden %q", s.name, iss.CalculatedType, s.golden.Type)
			}
			if !json.Valid(ev.Data) {
				t.Errorf("%s: stored data is not valid JSON", s.name)
			}
		}
	}
}

// wireRequest is a captured SDK request.
type wireRequest struct {
	Method  string              `json:"method"`
	Path    string              `json:"path"`
	Query   string              `json:"query"`
	Headers map[string][]string `json:"headers"`
	Kind    string              `json:"kind"`
	Items   []struct {
		Type string `json:"type"`
	} `json:"items"`
	EnvelopeHeader struct {
		EventID string `json:"event_id"`
	} `json:"envelope_header"`
}

// Every captured SDK request replayed byte for byte gets a 2xx; each event
// it carries is stored and grouped as the golden file says, and the other
// requests store nothing.
func TestSDKWireReplay(t *testing.T) {
	ts := startServer(t)
	// The captures were made against project 1 with key publickey123.
	if err := ts.db.SetProjectKey(1, "publickey123"); err != nil {
		t.Fatal(err)
	}
	metas, _ := filepath.Glob(filepath.Join("testdata", "sdk-wire", "*", "*.meta.json"))
	if len(metas) < 40 {
		t.Fatalf("found %d captures", len(metas))
	}
	type result struct {
		Label  string `json:"label"`
		Status int    `json:"status"`
		Events int    `json:"events"`
		Title  string `json:"title,omitempty"`
		Issue  string `json:"issue,omitempty"`
	}
	var results []result
	wantEvents := 0
	ids := map[string]string{} // label → event id
	for _, mp := range metas {
		label := strings.TrimSuffix(strings.TrimPrefix(mp, filepath.Join("testdata", "sdk-wire")+"/"), ".meta.json")
		var m wireRequest
		b, _ := os.ReadFile(mp)
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(m.Path, "/api/1/") {
			continue // sentry-cli's web API calls (releases, uploads)
		}
		raw, err := os.ReadFile(strings.TrimSuffix(mp, ".meta.json") + ".raw")
		if err != nil {
			t.Fatal(err)
		}
		u := ts.base + m.Path
		if m.Query != "" {
			u += "?" + m.Query
		}
		req, _ := http.NewRequest(m.Method, u, bytes.NewReader(raw))
		for k, vs := range m.Headers {
			if k == "Content-Length" {
				continue
			}
			for _, v := range vs {
				req.Header.Add(k, v)
			}
		}
		if _, chunked := m.Headers["Transfer-Encoding"]; chunked || m.Headers["Content-Length"] == nil {
			req.ContentLength = -1 // send chunked, as @sentry/node does
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Errorf("%s: %d %s", label, resp.StatusCode, body)
		}
		n := 0
		if m.Kind == "store" {
			n = 1
		}
		for _, it := range m.Items {
			if it.Type == "event" {
				n++
			}
		}
		wantEvents += n
		if n == 1 {
			var r struct {
				ID string `json:"id"`
			}
			json.Unmarshal(body, &r)
			ids[label] = r.ID
		}
		results = append(results, result{Label: label, Status: resp.StatusCode, Events: n})
	}
	ts.drain(t)
	pr, _ := ts.db.Project(1)
	if pr.StoredEventCount != int64(wantEvents) {
		t.Errorf("stored %d events, want %d", pr.StoredEventCount, wantEvents)
	}
	for i := range results {
		id := ids[results[i].Label]
		if id == "" {
			continue
		}
		var ev struct {
			Issue string `json:"issue"`
		}
		if code := ts.apiGet(t, "/api/canonical/0/events/"+id+"/", &ev); code != 200 {
			t.Errorf("%s: event %s not stored (%d)", results[i].Label, id, code)
			continue
		}
		iss, err := ts.db.IssueByRef(ev.Issue)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := ts.db.Project(iss.ProjectID)
		results[i].Issue = store.FriendlyID(p, iss)
		results[i].Title = iss.Title()
	}
	sort.Slice(results, func(i, j int) bool { return results[i].Label < results[j].Label })
	checkWireHealth(t, ts)
	got, _ := json.MarshalIndent(results, "", "  ")
	got = append(got, '\n')
	golden := filepath.Join("testdata", "sdk-wire.golden.json")
	if *update {
		os.WriteFile(golden, got, 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden (run with -update): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("results differ from %s (run with -update and review):\n%s", golden, got)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type dbError struct{ host string }

func (e *dbError) Error() string { return "database down: host " + e.host }

// A real sentry-go client reports to tinysink; its events are stored and
// grouped (values differing only in an IP address share an issue).
func TestSentryGoClient(t *testing.T) {
	ts := startServer(t)
	p, err := ts.db.Project(1)
	if err != nil {
		t.Fatal(err)
	}
	client, err := sentry.NewClient(sentry.ClientOptions{
		Dsn: ui.DSN(ts.base, p), Release: "myapp@1.2.3", Environment: "test",
		Transport: sentry.NewHTTPSyncTransport(),
	})
	if err != nil {
		t.Fatal(err)
	}
	hub := sentry.NewHub(client, sentry.NewScope())
	for i := range 3 {
		hub.CaptureException(&dbError{host: fmt.Sprintf("10.0.0.%d", i+1)})
	}
	hub.CaptureMessage("cache warmed")
	hub.WithScope(func(scope *sentry.Scope) {
		scope.SetTag("tenant", "acme")
		hub.CaptureException(fmt.Errorf("payment failed"))
	})
	if !client.Flush(10 * time.Second) {
		t.Fatal("sentry-go did not flush")
	}
	ts.drain(t)
	issues := ts.issues(t, 1)
	byTitle := map[string]apiIssueT{}
	for _, iss := range issues {
		byTitle[iss.Title] = iss
	}
	if len(issues) != 3 {
		t.Fatalf("%d issues, want 3: %+v", len(issues), issues)
	}
	db, ok := byTitle["*main.dbError: database down: host 10.0.0.3"]
	if !ok || db.DigestedEventCount != 3 || db.StoredEventCount != 3 {
		t.Errorf("database issue = %+v (titles: %v)", db, keys(byTitle))
	}
	if iss, ok := byTitle["cache warmed"]; !ok || iss.CalculatedType != "Log Message" {
		t.Errorf("message issue missing or wrong: %+v", iss)
	}
	pay, ok := byTitle["*errors.errorString: payment failed"]
	if !ok {
		t.Fatalf("payment issue missing: %v", keys(byTitle))
	}
	rels, _ := ts.db.Releases(1)
	if len(rels) != 1 || rels[0].Version != "myapp@1.2.3" {
		t.Errorf("releases = %+v", rels)
	}
	ref, _ := ts.db.IssueByRef(pay.ID)
	tags, _ := ts.db.IssueTags(ref.ID)
	found := false
	for _, tg := range tags {
		found = found || tg.Key == "tenant" && tg.Value == "acme" && tg.Count == 1
	}
	if !found {
		t.Errorf("tag tenant=acme not counted: %+v", tags)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var verbose = flag.Bool("server-log", false, "show the server's log")

func testLogOut() io.Writer {
	if *verbose {
		return os.Stderr
	}
	return io.Discard
}

// buildBinary builds tinysink once per test run.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "tinysink-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "tinysink")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// proc is a tinysink subprocess.
type proc struct {
	cmd  *exec.Cmd
	base string
	dsn  string
	key  string
}

func startProc(t testing.TB, dir string, extra ...string) *proc {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"serve", "-addr", "127.0.0.1:0", "-data", dir, "-quota-install-5m", "0", "-quota-project-5m", "0", "-quota-install-hour", "0", "-quota-project-hour", "0"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "TINYSINK_ADMIN_PASSWORD=test-password")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if *verbose {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	deadline := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	for sc.Scan() {
		line := sc.Text()
		if _, rest, ok := strings.Cut(line, " listening on "); ok {
			p.base = strings.TrimSpace(rest)
		}
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "DSN:"); ok {
			p.dsn = strings.TrimSpace(rest)
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	if p.base == "" || p.dsn == "" {
		t.Fatalf("server did not print its address and DSN")
	}
	u := strings.TrimPrefix(p.dsn, "http://")
	p.key, _, _ = strings.Cut(u, "@")
	return p
}

// get fetches an API path of the subprocess with the bearer token tok,
// decodes its JSON into v (when set) and returns the status.
func (p *proc) get(t testing.TB, tok, path string, v any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", p.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil {
		json.NewDecoder(resp.Body).Decode(v)
	}
	return resp.StatusCode
}

// load sends envelopes from workers until stop is closed and records the
// event ids that got a 200.
func load(p *proc, workers int, stop <-chan struct{}, acked chan<- string) {
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second}
	for w := range workers {
		wg.Go(func() {
			// At most 350 events per worker and round: three rounds stay
			// under the default retention of 10,000, so every acknowledged
			// event must still be there at the end.
			for i := 0; i < 350; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := newID()
				ev := fmt.Sprintf(`{"event_id":"%s","platform":"go","level":"error","exception":{"values":[{"type":"CrashTest","value":"worker %d failed"}]},"extra":{"pad":"%s"}}`, id, w, strings.Repeat("x", 2000))
				body := fmt.Sprintf("{\"event_id\":\"%s\"}\n{\"type\":\"event\",\"length\":%d}\n%s\n", id, len(ev), ev)
				req, _ := http.NewRequest("POST", p.base+"/api/1/envelope/?sentry_key="+p.key, strings.NewReader(body))
				resp, err := client.Do(req)
				if err != nil {
					return // the server died
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					acked <- id
				}
			}
		})
	}
	wg.Wait()
}

// tinysink is killed with SIGKILL while SDKs send events, twice, and
// restarted: every event that got a 200 is stored exactly once.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills subprocesses")
	}
	dir := t.TempDir()
	ackedCh := make(chan string, 1<<16)
	for round := range 3 {
		p := startProc(t, dir)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { load(p, 8, stop, ackedCh); close(done) }()
		time.Sleep(time.Duration(300+200*round) * time.Millisecond)
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
		close(stop)
		<-done
	}
	close(ackedCh)
	acked := map[string]bool{}
	for id := range ackedCh {
		acked[id] = true
	}
	if len(acked) < 50 {
		t.Fatalf("only %d events acknowledged before the kills", len(acked))
	}

	// Restart; the digest drains the spool left behind.
	tok := createToken(t, dir)
	p := startProc(t, dir)
	get := func(path string, v any) int { return p.get(t, tok, path, v) }
	var proj struct {
		Stored int `json:"stored_event_count"`
	}
	waitFor(t, 60*time.Second, "the spool to drain", func() bool {
		get("/api/canonical/0/projects/1/", &proj)
		return proj.Stored >= len(acked)
	})
	time.Sleep(200 * time.Millisecond)
	for id := range acked {
		if code := get("/api/canonical/0/events/"+id+"/", nil); code != 200 {
			t.Errorf("acknowledged event %s: %d", id, code)
		}
	}
	// No event is stored twice: walk every issue's events.
	var issues struct {
		Results []struct {
			ID     string `json:"id"`
			Stored int    `json:"stored_event_count"`
		} `json:"results"`
	}
	get("/api/canonical/0/issues/?project=1", &issues)
	seen := map[string]bool{}
	total := 0
	for _, iss := range issues.Results {
		path := "/api/canonical/0/events/?issue=" + iss.ID
		for path != "" {
			var l struct {
				Next    *string `json:"next"`
				Results []struct {
					EventID string `json:"event_id"`
				} `json:"results"`
			}
			get(path, &l)
			for _, e := range l.Results {
				if seen[e.EventID] {
					t.Errorf("event %s stored twice", e.EventID)
				}
				seen[e.EventID] = true
				total++
			}
			path = ""
			if l.Next != nil {
				path = strings.TrimPrefix(*l.Next, p.base)
			}
		}
	}
	get("/api/canonical/0/projects/1/", &proj)
	if total != proj.Stored {
		t.Errorf("walked %d events, project says %d stored", total, proj.Stored)
	}
	t.Logf("%d acknowledged, %d stored after 3 kills", len(acked), total)
}

func createToken(t testing.TB, dir string) string {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "token", "create", "-data", dir).Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// A burst past the project's 5-minute quota gets 429 with Retry-After and
// X-Sentry-Rate-Limits; a real sentry-go client then stops sending.
func TestQuotaRefusesAndSentryGoBacksOff(t *testing.T) {
	ts := startServer(t, "-quota-project-5m", "5")
	p, _ := ts.db.Project(1)
	send := func() *http.Response {
		body := fmt.Sprintf(`{"event_id":"%s","message":"burst"}`, newID())
		resp, err := http.Post(ts.base+"/api/1/store/?sentry_key="+p.Key, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for i := range 5 {
		if resp := send(); resp.StatusCode != 200 {
			t.Fatalf("event %d: %d", i, resp.StatusCode)
		}
	}
	resp := send()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(resp.Header.Get("X-Sentry-Rate-Limits"), ":error;") {
		t.Fatalf("over quota: %d, Retry-After %q, X-Sentry-Rate-Limits %q", resp.StatusCode,
			resp.Header.Get("Retry-After"), resp.Header.Get("X-Sentry-Rate-Limits"))
	}

	// A second project with its own quota, reached through a counting proxy.
	p2, _ := ts.db.CreateProject("sdk")
	var mu sync.Mutex
	requests := 0
	target, _ := url.Parse(ts.base)
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	if err := ts.db.SetProjectQuota(p2.ID, &store.QuotaLimits{FiveMin: 3}); err != nil {
		t.Fatal(err)
	}
	p2.Key, _ = ts.db.ProjectKey(p2.ID)
	client, err := sentry.NewClient(sentry.ClientOptions{Dsn: ui.DSN(proxy.URL, p2), Transport: sentry.NewHTTPSyncTransport()})
	if err != nil {
		t.Fatal(err)
	}
	hub := sentry.NewHub(client, sentry.NewScope())
	for i := range 10 {
		hub.CaptureException(fmt.Errorf("flood %d", i))
	}
	client.Flush(5 * time.Second)
	mu.Lock()
	defer mu.Unlock()
	if requests != 4 {
		t.Errorf("sentry-go sent %d requests; want 3 accepted + 1 refused, then none", requests)
	}
	ts.drain(t)
	if pr, _ := ts.db.Project(p2.ID); pr.StoredEventCount != 3 {
		t.Errorf("stored %d events, want 3", pr.StoredEventCount)
	}
}

// findSentryCLI returns the sentry-cli binary: $SENTRY_CLI, or on PATH. CI
// installs it (npm @sentry/cli); elsewhere the test is skipped without it.
func findSentryCLI(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SENTRY_CLI"); p != "" {
		return p
	}
	if p, err := exec.LookPath("sentry-cli"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("sentry-cli not found; .ci/run installs it")
	}
	t.Skip("sentry-cli not found (set SENTRY_CLI or npm install @sentry/cli)")
	return ""
}

// A real sentry-cli creates and finalises a release, records a deploy and
// lists releases against tinysink.
func TestSentryCLIReleases(t *testing.T) {
	cli := findSentryCLI(t)
	ts := startServer(t)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(cli, args...)
		cmd.Env = append(os.Environ(), "SENTRY_URL="+ts.base, "SENTRY_AUTH_TOKEN="+ts.token,
			"SENTRY_ORG=tinysink", "SENTRY_PROJECT=default", "SENTRY_DISABLE_UPDATE_CHECK=1", "SENTRY_LOAD_DOTENV=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("sentry-cli %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("releases", "new", "2.1.0")
	run("releases", "finalize", "2.1.0")
	run("deploys", "new", "-r", "2.1.0", "-e", "production")
	out := run("releases", "list")
	if !strings.Contains(out, "2.1.0") {
		t.Errorf("releases list does not show 2.1.0:\n%s", out)
	}
	rel, err := ts.db.Release(1, "2.1.0")
	if err != nil {
		t.Fatalf("release not stored: %v", err)
	}
	if ds, _ := ts.db.Deploys(1, "2.1.0"); len(ds) != 1 || ds[0].Environment != "production" {
		t.Errorf("deploys = %+v", ds)
	}
	t.Logf("release %s dated %v", rel.Version, rel.DateReleased)
}

// budgetOf reads a subprocess's /debug/budget.
func budgetOf(t *testing.T, p *proc, tok string) map[string]any {
	t.Helper()
	var m map[string]any
	if code := p.get(t, tok, "/debug/budget", &m); code != 200 || m == nil {
		t.Fatalf("GET /debug/budget = %d", code)
	}
	return m
}

func loadedParts(m map[string]any) []string {
	var out []string
	parts, _ := m["parts"].([]any)
	for _, p := range parts {
		if pm, ok := p.(map[string]any); ok && pm["loaded"] == true {
			out = append(out, pm["name"].(string))
		}
	}
	return out
}

// After start only the core is loaded: every optional part (decoders,
// parsers, templates) waits for its first use.
func TestNothingOptionalAtStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a subprocess")
	}
	dir := t.TempDir()
	tok := createToken(t, dir)
	p := startProc(t, dir)
	m := budgetOf(t, p, tok)
	if loaded := loadedParts(m); len(loaded) != 0 {
		t.Errorf("loaded at start: %v", loaded)
	}
	if parts, _ := m["parts"].([]any); len(parts) < 8 {
		t.Errorf("only %d parts registered: %v", len(parts), m["parts"])
	}
	// A gzip request loads the gzip decoder, and an event the parsers.
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	fmt.Fprintf(zw, `{"message":"hello","request":{"headers":{"User-Agent":"Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0"}}}`)
	zw.Close()
	req, _ := http.NewRequest("POST", p.base+"/api/1/store/?sentry_key="+p.key, &buf)
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("gzip event: %v %v", resp, err)
	}
	resp.Body.Close()
	waitFor(t, 10*time.Second, "the event to be digested", func() bool {
		return slices.Contains(loadedParts(budgetOf(t, p, tok)), "zstd-encoder")
	})
	loaded := loadedParts(budgetOf(t, p, tok))
	for _, want := range []string{"gzip-decoder", "useragent", "zstd-encoder"} {
		if !slices.Contains(loaded, want) {
			t.Errorf("%s not loaded after its first use: %v", want, loaded)
		}
	}
	if slices.Contains(loaded, "brotli-decoder") {
		t.Errorf("brotli decoder loaded without a br request")
	}
}

// Under a flood of 1 MB events with -memory-limit 16MiB the server keeps
// serving (429s are fine), its RSS stays under 32 MiB, and every event it
// acknowledged is stored.
func TestFloodOfLargeEventsUnderMemoryLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("floods a subprocess")
	}
	dir := t.TempDir()
	tok := createToken(t, dir)
	p := startProc(t, dir, "-memory-limit", "16MiB", "-quota-project-month", "0", "-quota-install-month", "0")
	pid := p.cmd.Process.Pid

	// Two shapes of ~1 MB event: one huge string, and ~300k small values
	// (the expensive kind to parse).
	big := strings.Repeat("x", 1000000)
	var many strings.Builder
	many.WriteString("[")
	for i := range 300000 {
		if i > 0 {
			many.WriteString(",")
		}
		many.WriteString(strconv.Itoa(i % 100))
	}
	many.WriteString("]")
	shapes := []string{`"` + big + `"`, many.String()}

	var peak atomic.Int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if rss := budget.ReadProcPID(pid).RSS; rss > peak.Load() {
				peak.Store(rss)
			}
		}
	}()

	var mu sync.Mutex
	var acked []string
	codes := map[int]int{}
	deadline := time.Now().Add(2 * time.Second)
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 30 * time.Second}
	for w := range 8 {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				id := newID()
				ev := fmt.Sprintf(`{"event_id":"%s","message":"flood %d","extra":{"blob":%s}}`, id, w, shapes[(w+i)%2])
				env := fmt.Sprintf("{\"event_id\":\"%s\"}\n{\"type\":\"event\",\"length\":%d}\n%s\n", id, len(ev), ev)
				resp, err := client.Post(p.base+"/api/1/envelope/?sentry_key="+p.key, "application/x-sentry-envelope", strings.NewReader(env))
				if err != nil {
					t.Errorf("request failed (the server must keep serving): %v", err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				codes[resp.StatusCode]++
				if resp.StatusCode == 200 {
					acked = append(acked, id)
				}
				mu.Unlock()
				if resp.StatusCode == 429 {
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	// Wait for the digest to catch up, still sampling.
	get := func(path string, v any) int { return p.get(t, tok, path, v) }
	var proj struct {
		Stored int `json:"stored_event_count"`
	}
	waitFor(t, 60*time.Second, "the digest to catch up", func() bool {
		get("/api/canonical/0/projects/1/", &proj)
		return proj.Stored >= len(acked)
	})
	close(stopSampling)
	<-sampled
	t.Logf("status codes %v; %d acknowledged, %d stored; peak VmRSS %.1f MiB", codes, len(acked), proj.Stored, float64(peak.Load())/(1<<20))
	if len(acked) < 20 {
		t.Errorf("only %d events acknowledged", len(acked))
	}
	if peak.Load() >= 32<<20 {
		t.Errorf("peak VmRSS %.1f MiB, want under 32 MiB", float64(peak.Load())/(1<<20))
	}
	for _, id := range acked {
		if code := get("/api/canonical/0/events/"+id+"/", nil); code != 200 {
			t.Errorf("acknowledged event %s: %d", id, code)
		}
	}
}

// The CLI commands work on a data directory no server holds, and refuse
// with a clear message while one does.
func TestCLICommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a subprocess")
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, err := exec.Command(bin, "project", "create", "Backend API", "-data", dir, "-base-url", "https://errors.example.org").Output()
	if err != nil {
		t.Fatalf("project create: %v", err)
	}
	dsn := strings.TrimSpace(string(out))
	if !strings.HasPrefix(dsn, "https://") || !strings.HasSuffix(dsn, "@errors.example.org/1") {
		t.Errorf("DSN = %q", dsn)
	}
	out, err = exec.Command(bin, "project", "list", "-data", dir).Output()
	if err != nil || !strings.Contains(string(out), "backend-api") {
		t.Errorf("project list = %q, %v", out, err)
	}
	if out, err := exec.Command(bin, "token", "create", "-data", dir).Output(); err != nil || len(strings.TrimSpace(string(out))) != 40 {
		t.Errorf("token create = %q, %v", out, err)
	}
	help, _ := exec.Command(bin, "-h").CombinedOutput()
	for _, s := range settings {
		if !strings.Contains(string(help), "-"+s.flag) || !strings.Contains(string(help), s.env) {
			t.Errorf("-h does not list -%s / %s", s.flag, s.env)
		}
	}
	startProc(t, dir)
	cmd := exec.Command(bin, "project", "list", "-data", dir)
	msg, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "in use by a running tinysink") {
		t.Errorf("project list while a server runs: %v, %q", err, msg)
	}
}

// noQuota turns the default quotas off for load tests.
var noQuota = []string{"-quota-install-5m", "0", "-quota-project-5m", "0", "-quota-install-hour", "0", "-quota-project-hour", "0"}

// A backup taken through the running server while events keep arriving
// restores into a data directory that holds every event acknowledged before
// the backup started; ingest answers throughout.
func TestBackupUnderLoadRestoresEveryAckedEvent(t *testing.T) {
	ts := startServer(t, noQuota...)
	ps, _ := ts.db.Projects()
	p := ps[0]
	url := fmt.Sprintf("%s/api/%d/store/", ts.base, p.ID)
	hdr := map[string]string{"X-Sentry-Auth": "Sentry sentry_version=7, sentry_key=" + p.Key, "Content-Type": "application/json"}

	var mu sync.Mutex
	var acked []string // in acknowledgement order
	var failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := newID()
				body := fmt.Sprintf(`{"event_id":"%s","exception":{"values":[{"type":"LoadError%d","value":"worker %d event %d"}]}}`, id, i%7, w, i)
				req, _ := http.NewRequest("POST", url, strings.NewReader(body))
				for k, v := range hdr {
					req.Header.Set(k, v)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					continue
				}
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
			}
		})
	}
	waitFor(t, 20*time.Second, "500 events acknowledged", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 500
	})
	mu.Lock()
	before := slices.Clone(acked)
	mu.Unlock()

	file := filepath.Join(t.TempDir(), "backup.tar.zst")
	var out, errOut bytes.Buffer
	// The server holds the data directory: the command goes through it.
	if code := run([]string{"backup", file, "-url", ts.base, "-token", ts.token, "-data", ts.db.Dir()}, &out, &errOut); code != 0 {
		t.Fatalf("backup: %d %s", code, errOut.String())
	}
	mu.Lock()
	during := len(acked) - len(before)
	mu.Unlock()
	close(stop)
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Errorf("%d requests failed during the test", n)
	}
	t.Logf("%s; %d events acknowledged before the backup, %d while it ran", strings.TrimSpace(out.String()), len(before), during)

	dir := filepath.Join(t.TempDir(), "restored")
	out.Reset()
	if code := run([]string{"restore", file, "-data", dir}, &out, &errOut); code != 0 {
		t.Fatalf("restore: %d %s", code, errOut.String())
	}
	// A restore refuses a directory that is not empty.
	if code := run([]string{"restore", file, "-data", dir}, io.Discard, &errOut); code == 0 || !strings.Contains(errOut.String(), "not empty") {
		t.Errorf("restore into a used directory: %d %s", code, errOut.String())
	}

	// Open the restored directory as a server does and digest its spool.
	s, err := newServer(defaultConfig(dir), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("newServer on the restored directory: %v", err)
	}
	defer s.close()
	if err := s.worker.Drain(); err != nil {
		t.Fatal(err)
	}
	missing := 0
	for _, id := range before {
		eid, _ := store.ParseEventID(id)
		if _, _, err := s.db.ProjectEvent(p.ID, eid); err != nil {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d events acknowledged before the backup are missing after restore", missing, len(before))
	}
	rp, _ := s.db.Project(p.ID)
	if rp.StoredEventCount < int64(len(before)) {
		t.Errorf("restored project stores %d events, want at least %d", rp.StoredEventCount, len(before))
	}
}

// Without a running server, backup opens the store itself; with one and no
// token, it says what to do.
func TestBackupCommandOffline(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := db.CreateProject("offline")
	db.Close()
	file := filepath.Join(t.TempDir(), "b.tar.zst")
	var out, errOut bytes.Buffer
	if code := run([]string{"backup", file, "-data", dir}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "1 projects") {
		t.Fatalf("offline backup: %d %q %q", code, out.String(), errOut.String())
	}
	restored := filepath.Join(t.TempDir(), "r")
	if code := run([]string{"restore", file, "-data", restored}, &out, &errOut); code != 0 {
		t.Fatalf("restore: %s", errOut.String())
	}
	rdb, err := store.Open(restored)
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := rdb.ProjectKey(p.ID); !ok || k != p.Key {
		t.Errorf("restored project key = %q, %v", k, ok)
	}
	rdb.Close()
	if code := run([]string{"backup", file, "-data", filepath.Join(dir, "nope")}, io.Discard, &errOut); code == 0 {
		t.Error("backup of a missing data directory succeeded")
	}

	ts := startServer(t)
	errOut.Reset()
	t.Setenv("TINYSINK_TOKEN", "")
	if code := run([]string{"backup", file, "-data", ts.db.Dir()}, io.Discard, &errOut); code == 0 || !strings.Contains(errOut.String(), "-token") {
		t.Errorf("backup of a held directory without a token: %d %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"backup", file, "-url", ts.base, "-token", "wrong", "-data", ts.db.Dir()}, io.Discard, &errOut); code == 0 || !strings.Contains(errOut.String(), "401") {
		t.Errorf("backup with a wrong token: %d %q", code, errOut.String())
	}
	// The token may also come from <data>/api-token (the Debian package
	// writes one).
	os.WriteFile(filepath.Join(ts.db.Dir(), "api-token"), []byte(ts.token+"\n"), 0o600)
	errOut.Reset()
	if code := run([]string{"backup", file, "-url", ts.base, "-data", ts.db.Dir()}, io.Discard, &errOut); code != 0 {
		t.Errorf("backup with the token file: %d %q", code, errOut.String())
	}
}

// The server mounts the health checks and the metrics: /metrics needs a
// token on -addr and none on -metrics-addr.
func TestOpsEndpoints(t *testing.T) {
	ts := startServer(t, "-metrics-addr", "127.0.0.1:0", "-max-disk", "1GiB")
	for _, path := range []string{"/health/live", "/health/ready"} {
		resp, err := http.Get(ts.base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "OK\n" {
			t.Errorf("GET %s = %d %q", path, resp.StatusCode, b)
		}
	}
	if code := ts.apiGet(t, "/metrics", nil); code != 200 {
		t.Errorf("/metrics with a token = %d", code)
	}
	resp, err := http.Get(ts.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("/metrics without a token = %d", resp.StatusCode)
	}
	resp, err = http.Get("http://" + ts.metricsLn.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "tinysink_data_max_bytes 1.073741824e+09\n") ||
		!strings.Contains(string(b), `tinysink_events_refused_total{reason="memory"} 0`) {
		t.Errorf("-metrics-addr /metrics = %d\n%s", resp.StatusCode, b)
	}
}

// BenchmarkBackup100k measures an online backup of 100,000 stored events
// taken through the running server's endpoint while four clients keep
// sending events, and reports the archive size and the ingest latency
// meanwhile. "samples" stores the sample events round robin (whose
// repeats the archive's zstd finds again); "unique" stores incompressible
// bodies of the same mean compressed size (1.2 KB), the worst case. Run it
// with
//
//	go test -run '^$' -bench Backup100k -benchtime 1x .
func BenchmarkBackup100k(b *testing.B) {
	var samples [][]byte
	filepath.WalkDir(filepath.Join("digest", "event", "testdata", "events"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, ".json") {
			if raw, err := os.ReadFile(path); err == nil {
				samples = append(samples, raw)
			}
		}
		return nil
	})
	b.Run("samples", func(b *testing.B) {
		benchBackup(b, samples, func(i int) []byte { return store.CompressBody(samples[i%len(samples)]) })
	})
	b.Run("unique", func(b *testing.B) {
		benchBackup(b, samples, func(i int) []byte {
			body := make([]byte, 1200)
			rand.Read(body)
			return store.CompressBody(body)
		})
	})
}

func benchBackup(b *testing.B, samples [][]byte, body func(i int) []byte) {
	const events = 100_000
	ts := startServer(b, noQuota...)
	ps, _ := ts.db.Projects()
	p := ps[0]
	for from := 0; from < events; from += 1000 {
		err := ts.db.Digest(func(tx *store.Tx) error {
			pr, err := tx.Project(p.ID)
			if err != nil {
				return err
			}
			pr.RetentionMax = 2 * events // keep them all
			for i := from; i < from+1000; i++ {
				k := i % len(samples)
				hash := fmt.Sprintf("%064x", k)
				iss, err := tx.IssueForGrouping(p.ID, hash)
				if err != nil {
					iss = &store.Issue{CalculatedType: "Sample", CalculatedValue: strconv.Itoa(k)}
					if err := tx.CreateIssue(pr, iss, hash, hash, "bench"); err != nil {
						return err
					}
				}
				iss.DigestedEventCount++
				pr.DigestedEventCount++
				var id [16]byte
				copy(id[:], fmt.Sprintf("%016d", i))
				if err := tx.AddEvent(pr, iss, &store.NewEvent{EventID: id, Ingested: time.Now(), Timestamp: time.Now(), Compressed: body(i)}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	u, _ := ts.db.DataUsage()
	b.Logf("%d events stored: %s of events, %s of metadata", events, budget.FormatSize(u.Events), budget.FormatSize(u.Store))

	url := fmt.Sprintf("%s/api/%d/store/", ts.base, p.ID)
	file := filepath.Join(b.TempDir(), "backup.tar.zst")
	for b.Loop() {
		var mu sync.Mutex
		var lat []time.Duration
		var failed atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					req, _ := http.NewRequest("POST", url, bytes.NewReader(samples[i%len(samples)]))
					req.Header.Set("X-Sentry-Auth", "Sentry sentry_version=7, sentry_key="+p.Key)
					start := time.Now()
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						failed.Add(1)
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						failed.Add(1)
						b.Logf("ingest during the backup: %d %s", resp.StatusCode, resp.Header.Get("X-Sentry-Rate-Limits"))
					}
					mu.Lock()
					lat = append(lat, time.Since(start))
					mu.Unlock()
				}
			})
		}
		time.Sleep(100 * time.Millisecond) // the clients are under way
		start := time.Now()
		mu.Lock()
		n0 := len(lat)
		mu.Unlock()
		if code := run([]string{"backup", file, "-url", ts.base, "-token", ts.token, "-data", ts.db.Dir()}, io.Discard, os.Stderr); code != 0 {
			b.Fatal("backup failed")
		}
		took := time.Since(start)
		mu.Lock()
		during := slices.Clone(lat[n0:])
		mu.Unlock()
		close(stop)
		wg.Wait()
		st, _ := os.Stat(file)
		slices.Sort(during)
		var p99, worst time.Duration
		if len(during) > 0 {
			p99, worst = during[len(during)*99/100], during[len(during)-1]
		}
		b.ReportMetric(took.Seconds(), "s/backup")
		b.ReportMetric(float64(st.Size())/(1<<20), "MiB/archive")
		b.ReportMetric(float64(len(during))/took.Seconds(), "ingest-req/s")
		b.ReportMetric(float64(p99.Microseconds())/1000, "ingest-p99-ms")
		b.ReportMetric(float64(failed.Load()), "ingest-failed")
		b.Logf("backup %.2fs, archive %s, %d ingest requests answered meanwhile (p99 %v, max %v), %d failed",
			took.Seconds(), budget.FormatSize(st.Size()), len(during), p99, worst, failed.Load())
	}
}

// The README's settings table is generated from the settings list
// (go test . -run TestREADMESettings -update).
func TestREADMESettings(t *testing.T) {
	var b strings.Builder
	b.WriteString("| flag | environment | default | meaning |\n| --- | --- | --- | --- |\n")
	for _, s := range settings {
		def := "`" + s.def + "`"
		if s.def == "" {
			def = "(empty)"
		}
		fmt.Fprintf(&b, "| `-%s` | `%s` | %s | %s |\n", s.flag, s.env, def, strings.ReplaceAll(s.help, "|", "\\|"))
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	const open, close = "<!-- settings -->\n", "<!-- /settings -->"
	i, j := bytes.Index(readme, []byte(open)), bytes.Index(readme, []byte(close))
	if i < 0 || j < i {
		t.Fatal("README.md has no settings markers")
	}
	got := string(readme[i+len(open) : j])
	if got == b.String() {
		return
	}
	if *update {
		out := append(append(append([]byte{}, readme[:i+len(open)]...), b.String()...), readme[j:]...)
		if err := os.WriteFile("README.md", out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's settings table is out of date (go test . -run TestREADMESettings -update)")
}

// BenchmarkAlertLatency measures, under ~1,000 events/s, the time from a
// new issue's first event being ingested (its first_seen, an upper bound on
// "digested") to its webhook arriving at a receiver on 127.0.0.1. It
// reports the p50 and p99 in ms.
func BenchmarkAlertLatency(b *testing.B) {
	var mu sync.Mutex
	var lat []time.Duration
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			FirstSeen time.Time `json:"first_seen"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		lat = append(lat, time.Since(body.FirstSeen))
		mu.Unlock()
	}))
	defer recv.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := b.TempDir()
	s, err := newServer(defaultConfig(dir, "-quota-install-5m", "0", "-quota-project-5m", "0", "-quota-install-hour", "0", "-quota-project-hour", "0"), log)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.serve(ctx); close(done) }()
	defer func() { cancel(); <-done; s.close() }()
	if err := s.db.CreateAlertBackend(&store.AlertBackend{Project: 1, Kind: store.BackendWebhook, Name: "bench",
		Config: map[string]string{"webhook_url": recv.URL + "/hook"}}); err != nil {
		b.Fatal(err)
	}
	p, _ := s.db.Project(1)
	url := s.base + "/api/1/store/?sentry_key=" + p.Key
	pad := strings.Repeat("x", 12000)
	b.ResetTimer()
	for b.Loop() {
		lat = lat[:0]
		const seconds, perSecond, newEvery = 5, 1000, 100 // 10 new issues a second
		var wg sync.WaitGroup
		start := time.Now()
		for w := range 8 {
			wg.Go(func() {
				client := &http.Client{}
				for i := w; i < seconds*perSecond; i += 8 {
					time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / perSecond)))
					typ := "Steady"
					if i%newEvery == 0 {
						typ = fmt.Sprintf("New%d_%d", i, time.Now().UnixNano())
					}
					ev := fmt.Sprintf(`{"exception":{"values":[{"type":%q,"value":"v"}]},"extra":{"pad":%q}}`, typ, pad)
					resp, err := client.Post(url, "application/json", strings.NewReader(ev))
					if err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}
			})
		}
		wg.Wait()
		time.Sleep(2 * time.Second) // let the last alerts arrive
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	if len(lat) == 0 {
		b.Fatal("no webhook arrived")
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
	b.ReportMetric(float64(len(lat)), "alerts")
}

// consistent walks every issue of project 1 through the API of a running
// subprocess: no event twice, every body readable, the counts add up. It
// returns the number of stored events.
func consistent(t *testing.T, p *proc, tok string) int {
	t.Helper()
	get := func(path string, v any) int { return p.get(t, tok, path, v) }
	var issues struct {
		Results []struct {
			ID     string `json:"id"`
			Stored int    `json:"stored_event_count"`
		} `json:"results"`
	}
	// Wait for the digest to have drained what the kills left behind.
	waitFor(t, 60*time.Second, "the digest to go idle", func() bool {
		var b struct {
			Digest struct {
				Idle bool `json:"idle"`
			} `json:"digest"`
		}
		get("/debug/budget", &b)
		return b.Digest.Idle
	})
	get("/api/canonical/0/issues/?project=1", &issues)
	seen := map[string]bool{}
	for _, iss := range issues.Results {
		var events []string
		for path := "/api/canonical/0/events/?issue=" + iss.ID + "&order=asc"; path != ""; {
			var l struct {
				Next    *string `json:"next"`
				Results []struct {
					EventID string `json:"event_id"`
				} `json:"results"`
			}
			get(path, &l)
			for _, e := range l.Results {
				events = append(events, e.EventID)
			}
			path = ""
			if l.Next != nil {
				path = strings.TrimPrefix(*l.Next, p.base)
			}
		}
		if len(events) != iss.Stored {
			t.Errorf("issue %s lists %d events, says %d", iss.ID, len(events), iss.Stored)
		}
		for _, id := range events {
			e := struct{ EventID string }{id}
			if seen[e.EventID] {
				t.Errorf("event %s listed twice", e.EventID)
			}
			seen[e.EventID] = true
			if code := get("/api/canonical/0/events/"+e.EventID+"/", nil); code != 200 {
				t.Errorf("event %s: %d", e.EventID, code)
			}
		}
	}
	var proj struct {
		Stored int `json:"stored_event_count"`
	}
	get("/api/canonical/0/projects/1/", &proj)
	if proj.Stored != len(seen) {
		t.Errorf("project says %d stored, issues list %d", proj.Stored, len(seen))
	}
	return len(seen)
}

// SIGKILL while retention rounds and compactions run (a retention of 300
// makes them run all the time) and while a backup streams: every restart
// opens the store, and what it holds is consistent.
func TestCrashDuringRetentionAndBackup(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills subprocesses")
	}
	dir := t.TempDir()
	tok := createToken(t, dir)
	for round := range 3 {
		p := startProc(t, dir)
		if round == 0 {
			req, _ := http.NewRequest("PATCH", p.base+"/api/canonical/0/projects/1/", strings.NewReader(`{"retention_max_event_count": 300}`))
			req.Header.Set("Authorization", "Bearer "+tok)
			if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
				t.Fatalf("PATCH retention: %v %v", resp, err)
			}
		}
		stop := make(chan struct{})
		done := make(chan struct{})
		sink := make(chan string, 1<<14)
		go func() { load(p, 4, stop, sink); close(done) }()
		if round == 2 {
			// A backup streaming into a reader that stops reading: the kill
			// lands while it holds the digest.
			req, _ := http.NewRequest("POST", p.base+"/api/canonical/0/backup/", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				io.CopyN(io.Discard, resp.Body, 1024)
				defer resp.Body.Close()
			}
		}
		time.Sleep(time.Duration(400+150*round) * time.Millisecond)
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
		close(stop)
		<-done
	}
	p := startProc(t, dir)
	waitFor(t, 30*time.Second, "ready", func() bool {
		resp, err := http.Get(p.base + "/health/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	n := consistent(t, p, tok)
	if n == 0 || n > 300+300/20+50 {
		t.Errorf("%d events stored with a retention of 300", n)
	}
}

// `tinysink budget -scenario old` at a small size builds its data
// directory, warms a real server on it and reports the fully warmed rows,
// VmRSS and RssAnon; the ceilings gate that row.
func TestBudgetOldScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server subprocess")
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	run := func(extra ...string) (int, profile.Report, string) {
		args := append([]string{"budget", "-scenario", "old", "-issues", "200", "-events", "2000", "-days", "30", "-json"}, extra...)
		cmd := exec.Command(bin, args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		var rep profile.Report
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("budget output: %v\n%s\n%s", err, out, stderr.String())
		}
		return code, rep, stderr.String()
	}
	code, rep, stderr := run()
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if rep.Old == nil || rep.Old.Issues != 200 || rep.Old.Events != 2000 || rep.Old.Days != 30 {
		t.Errorf("old = %+v", rep.Old)
	}
	if n := strings.Count(stderr, "populating:"); n != 10 {
		t.Errorf("%d progress lines, want one per 10%%:\n%s", n, stderr)
	}
	var warm *profile.Result
	for i, r := range rep.Results {
		if r.RSS <= 0 || r.RSSAnon <= 0 || r.RSSAnon > r.RSS {
			t.Errorf("row %q: VmRSS %d, RssAnon %d", r.Stage, r.RSS, r.RSSAnon)
		}
		if r.Stage == rep.Gate {
			warm = &rep.Results[i]
		}
	}
	if warm == nil || len(rep.Results) != 3 || !slices.Contains(warm.Loaded, "ui-templates") || !slices.Contains(warm.Loaded, "zstd-decoder") {
		t.Fatalf("no fully warmed row, or not fully warmed: %+v", rep.Results)
	}
	// A ceiling below the fully warmed RssAnon fails the run.
	code, rep, _ = run("-max-rss-anon", "1MiB")
	if code != 1 || rep.CrossedAnon == "" {
		t.Errorf("with -max-rss-anon 1MiB: exit %d, crossed %q", code, rep.CrossedAnon)
	}
}
