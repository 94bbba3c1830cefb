package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinysink/tinysink/budget"
	"github.com/tinysink/tinysink/budget/profile"
)

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
		return slices.Contains(loadedParts(budgetOf(t, p, tok)), "s2-encoder")
	})
	loaded := loadedParts(budgetOf(t, p, tok))
	for _, want := range []string{"gzip-decoder", "useragent", "s2-encoder"} {
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
	// Each sender goes on until 3 of its events are acknowledged (24 in
	// all), whatever the machine's speed; refusals (429) while memory is
	// short are allowed, a server that never acknowledges again is not.
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 30 * time.Second}
	for w := range 8 {
		wg.Go(func() {
			for i, mine := 0, 0; mine < 3 && i < 400; i++ {
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
					mine++
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
	// Registered after the server's, so it runs while the server is up.
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		var ready strings.Builder
		if resp, err := http.Get(p.base + "/health/ready"); err == nil {
			io.Copy(&ready, io.LimitReader(resp.Body, 4<<10))
			resp.Body.Close()
		}
		t.Logf("status codes %v, %d acknowledged, %d stored; /health/ready: %s", codes, len(acked), proj.Stored, ready.String())
	})
	waitFor(t, 60*time.Second, "the digest to catch up", func() bool {
		get("/api/canonical/0/projects/1/", &proj)
		return proj.Stored >= len(acked)
	})
	close(stopSampling)
	<-sampled
	t.Logf("status codes %v; %d acknowledged, %d stored; peak VmRSS %.1f MiB", codes, len(acked), proj.Stored, float64(peak.Load())/(1<<20))
	if len(acked) < 24 {
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

// The budget command's old scenario (budget/cmd/budget -scenario old) at a small size builds its data
// directory, warms a real server on it and reports the fully warmed rows,
// VmRSS and RssAnon; the ceilings gate that row.
func TestBudgetOldScenario(t *testing.T) {
	t.Parallel() // a subprocess of its own; see TestStartOnFullDisk
	if testing.Short() {
		t.Skip("starts a server subprocess")
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	run := func(extra ...string) (int, profile.Report, string) {
		args := append([]string{"-binary", bin, "-scenario", "old", "-issues", "200", "-events", "2000", "-days", "30", "-json"}, extra...)
		var stdout, stderr strings.Builder
		err := profile.Run(args, &stdout, &stderr)
		code := 0
		if errors.Is(err, profile.ErrOverCeiling) {
			code = 1
			fmt.Fprintf(&stderr, "budget: %v\n", err)
		} else if err != nil {
			t.Fatal(err)
		}
		var rep profile.Report
		if err := json.Unmarshal([]byte(stdout.String()), &rep); err != nil {
			t.Fatalf("budget output: %v\n%s\n%s", err, stdout.String(), stderr.String())
		}
		return code, rep, stderr.String()
	}
	// One run, with a ceiling below the fully warmed RssAnon: it fails
	// the run (exit 1), and the report is printed all the same.
	code, rep, stderr := run("-max-rss-anon", "1MiB")
	if code != 1 || rep.CrossedAnon == "" || !strings.Contains(stderr, "over its ceiling") {
		t.Errorf("with -max-rss-anon 1MiB: exit %d, crossed %q, stderr:\n%s", code, rep.CrossedAnon, stderr)
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
}
