// End-to-end tests: a real tinysink in-process or as a subprocess, real
// SDK payloads over loopback HTTP.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinysink/tinysink/ingest/relay"
)

var update = flag.Bool("update", false, "rewrite golden files")

// testServer is a tinysink running in-process on 127.0.0.1 with a fresh
// data directory.
type testServer struct {
	*server
	token string
	jar   http.CookieJar // the UI session, once uiGet logged in
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

// binDir holds the binary buildBinary built; TestMain removes it.
var binDir string

// buildBinary builds tinysink once per test run.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "tinysink-bin-")
	if err != nil {
		return "", err
	}
	binDir = dir
	// Both binaries, as make build puts them: tinysink -store=false
	// executes the relay binary beside it.
	bin := filepath.Join(dir, "tinysink")
	out, err := exec.Command("go", "build", "-o", dir+string(filepath.Separator), ".", "./ingest/cmd/relay").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	if err := os.Rename(filepath.Join(dir, "relay"), filepath.Join(dir, relay.Binary)); err != nil {
		return "", err
	}
	return bin, nil
})

// proc is a tinysink subprocess.
type proc struct {
	cmd  *exec.Cmd
	base string
	dsn  string
	key  string
	// project is the banner's line naming the DSN's project.
	project string
}

// tailBuffer keeps the last max bytes written to it; safe for concurrent
// use.
type tailBuffer struct {
	mu  sync.Mutex
	b   []byte
	max int
}

func (w *tailBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b = append(w.b, p...)
	if over := len(w.b) - w.max; over > 0 {
		w.b = append(w.b[:0], w.b[over:]...)
	}
	return len(p), nil
}

func (w *tailBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.b)
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
	// The log's last lines say why, when the server does not come up.
	logTail := &tailBuffer{max: 16 << 10}
	cmd.Stderr = logTail
	if *verbose {
		cmd.Stderr = io.MultiWriter(os.Stderr, logTail)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait() // also waits for the copy of its log
		if t.Failed() {
			t.Logf("the end of the server's log:\n%s", logTail.String())
		}
	})
	sc := bufio.NewScanner(stdout)
	deadline := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	for sc.Scan() {
		line := sc.Text()
		if _, rest, ok := strings.Cut(line, " listening on "); ok {
			p.base = strings.TrimSpace(rest)
		}
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "project:"); ok {
			p.project = strings.TrimSpace(rest)
		}
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "DSN:"); ok {
			p.dsn = strings.TrimSpace(rest)
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	if p.base == "" || p.dsn == "" || !strings.HasSuffix(p.dsn, "/1") || !strings.Contains(p.project, "(id 1)") {
		cmd.Process.Kill()
		err := cmd.Wait() // also waits for the copy of its log
		t.Fatalf("server did not print its address, and project 1 and its DSN: %q, %q, %q; it ended with %v; the end of its log:\n%s",
			p.base, p.project, p.dsn, err, logTail.String())
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

// noQuota turns the default quotas off for load tests.
var noQuota = []string{"-quota-install-5m", "0", "-quota-project-5m", "0", "-quota-install-hour", "0", "-quota-project-hour", "0"}

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
