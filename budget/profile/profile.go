// Package profile is the budget command (budget/cmd/budget): a RAM profile of the tinysink
// binary, stage by stage, each stage measured in a fresh process, in the
// shape of Bugsink's published table so the two read side by side.
package profile

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/tinysink/tinysink/budget"
)

// Result is one row of the profile.
type Result struct {
	Stage     string   `json:"stage"`
	RSS       int64    `json:"vm_rss"`
	RSSAnon   int64    `json:"rss_anon"`
	HeapInUse uint64   `json:"heap_inuse"`
	Loaded    []string `json:"loaded,omitempty"`
	Note      string   `json:"note,omitempty"`
}

// Report is the whole profile.
type Report struct {
	Binary   string   `json:"binary"`
	Scenario string   `json:"scenario"`
	Results  []Result `json:"stages"`
	// PerEventByte and PerEventAnon are what each stored event adds to
	// VmRSS and to RssAnon (the default scenario only).
	PerEventByte float64 `json:"per_event_bytes,omitempty"`
	PerEventAnon float64 `json:"per_event_anon_bytes,omitempty"`
	Events       int     `json:"events"`
	// Old describes the data directory of the "old" scenario.
	Old *OldStats `json:"old,omitempty"`
	// Latency is the issue list's latency on it, measured last.
	Latency []Latency `json:"latency,omitempty"`
	// Gate is the row -max-rss and -max-rss-anon check.
	Gate       string `json:"gate"`
	MaxRSS     int64  `json:"max_rss,omitempty"`
	MaxRSSAnon int64  `json:"max_rss_anon,omitempty"`
	// Crossed and CrossedAnon name the first row over each ceiling.
	Crossed     string `json:"crossed,omitempty"`
	CrossedAnon string `json:"crossed_anon,omitempty"`
}

const adminPassword = "profile-password"

// UsageError is an error of Run about its arguments.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// ErrOverCeiling is returned by Run when the gate row is over a ceiling
// given with -max-rss or -max-rss-anon; the report is printed all the same.
var ErrOverCeiling = errors.New("over its ceiling")

// Run implements the budget command (budget/cmd/budget [flags]). It returns an error wrapping
// flag.ErrHelp after -h, a *UsageError for bad arguments and ErrOverCeiling when
// the profile is over a ceiling.
func Run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("budget", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scenario := fs.String("scenario", "new", "new: stage by stage on a fresh data directory; old: a fully warmed server on a data directory of -issues, -events and -days")
	events := fs.Int("events", 10000, "events to store (new: for the per-event cost; old: events in the data directory)")
	issues := fs.Int("issues", 100000, "old: issues in the data directory")
	days := fs.Int("days", 365, "old: days of history (ingest times and counters span them)")
	projects := fs.Int("projects", 3, "old: projects the events are spread over")
	keep := fs.String("keep", "", "old: build the data directory here and keep it (default: a temporary one, removed)")
	maxRSS := fs.String("max-rss", "", "exit 1 when the fully warmed VmRSS is over this size (e.g. 20MiB)")
	maxAnon := fs.String("max-rss-anon", "", "exit 1 when the fully warmed RssAnon is over this size (e.g. 10MiB)")
	asJSON := fs.Bool("json", false, "print JSON instead of a Markdown table")
	bin := fs.String("binary", "./tinysink", "tinysink binary to profile")
	memLimit := fs.String("memory-limit", "", "-memory-limit for the profiled server (default: its default)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &UsageError{err}
	}
	var limit, limitAnon int64
	for _, l := range []struct {
		s   string
		dst *int64
	}{{*maxRSS, &limit}, {*maxAnon, &limitAnon}} {
		if l.s == "" {
			continue
		}
		var err error
		if *l.dst, err = budget.ParseSize(l.s); err != nil {
			return &UsageError{err}
		}
	}
	if abs, err := filepath.Abs(*bin); err == nil {
		*bin = abs
	}
	if _, err := os.Stat(*bin); err != nil {
		return &UsageError{fmt.Errorf("-binary: %w (build it first: make build)", err)}
	}
	p := &profiler{bin: *bin, memLimit: *memLimit, progress: stderr}
	var rep *Report
	var err error
	switch *scenario {
	case "new":
		rep, err = p.run(max(*events, 1001))
	case "old":
		rep, err = p.runOld(OldSize{Issues: *issues, Events: *events, Days: *days, Projects: *projects}, *keep)
	default:
		return &UsageError{fmt.Errorf("unknown -scenario %q (new or old)", *scenario)}
	}
	if err != nil {
		return err
	}
	over := rep.check(limit, limitAnon)
	if *asJSON {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(stdout, string(b))
	} else {
		writeTable(stdout, rep)
	}
	if over {
		return fmt.Errorf("%s is %w (VmRSS %s, RssAnon %s; first rows over them: %q, %q)",
			rep.Gate, ErrOverCeiling, budget.FormatSize(limit), budget.FormatSize(limitAnon), rep.Crossed, rep.CrossedAnon)
	}
	return nil
}

// check records the ceilings and the first rows over them, and reports
// whether the gate row is over either ceiling (0 = no ceiling).
func (rep *Report) check(limit, limitAnon int64) bool {
	rep.MaxRSS, rep.MaxRSSAnon = limit, limitAnon
	over := false
	for _, r := range rep.Results {
		if limit > 0 && r.RSS > limit && rep.Crossed == "" {
			rep.Crossed = r.Stage
		}
		if limitAnon > 0 && r.RSSAnon > limitAnon && rep.CrossedAnon == "" {
			rep.CrossedAnon = r.Stage
		}
		if r.Stage == rep.Gate && (limit > 0 && r.RSS > limit || limitAnon > 0 && r.RSSAnon > limitAnon) {
			over = true
		}
	}
	return over
}

func writeTable(w io.Writer, rep *Report) {
	if o := rep.Old; o != nil {
		fmt.Fprintf(w, "Data directory: %d projects, %d issues, %d stored events over %d days (%s on disk), populated in %s.\n\n",
			o.Projects, o.Issues, o.Events, o.Days, mib(o.DiskBytes), o.Populate.Round(time.Second))
	}
	fmt.Fprintf(w, "| stage | VmRSS | RssAnon | Go heap in use | parts loaded |\n|---|---|---|---|---|\n")
	for _, r := range rep.Results {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", r.Stage, mib(r.RSS), mib(r.RSSAnon), mib(int64(r.HeapInUse)), strings.Join(r.Loaded, ", "))
	}
	writeLatencies(w, rep.Latency)
	if rep.PerEventByte != 0 || rep.PerEventAnon != 0 {
		fmt.Fprintf(w, "\nPer stored event, from 1,000 to %d events: %.1f bytes of VmRSS, %.1f bytes of RssAnon.\n", rep.Events, rep.PerEventByte, rep.PerEventAnon)
	}
	for _, c := range []struct {
		name    string
		limit   int64
		crossed string
	}{{"VmRSS", rep.MaxRSS, rep.Crossed}, {"RssAnon", rep.MaxRSSAnon, rep.CrossedAnon}} {
		if c.limit <= 0 {
			continue
		}
		verdict := "within"
		if c.crossed != "" {
			verdict = "first crossed at: " + c.crossed
		}
		fmt.Fprintf(w, "%s ceiling %s (gate: %s): %s.\n", c.name, mib(c.limit), rep.Gate, verdict)
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// Stage names; stageWarm is what -max-rss gates on.
const (
	stageBare   = "bare binary (idle process)"
	stageSetup  = "after setup (store open, listening)"
	stageIngest = "+ first ingest (event stored)"
	stageBad    = "+ first invalid event"
	stageUI     = "+ first UI request"
	stageSM     = "+ first source-mapped event"
	stageWarm   = "fully warmed (everything loaded, all pages served)"
)

type step func(s *session) error

type profiler struct {
	bin      string
	memLimit string
	// progress receives progress lines of long steps.
	progress io.Writer
}

func (p *profiler) run(events int) (*Report, error) {
	rep := &Report{Binary: p.bin, Scenario: "new", Events: events, Gate: stageWarm}
	encodings := []string{"gzip", "deflate", "br", "zstd"}
	type stage struct {
		name  string
		steps []step
	}
	ingest := (*session).firstIngest
	stages := []stage{
		{stageSetup, nil},
		{stageIngest, []step{ingest}},
	}
	for _, enc := range encodings {
		stages = append(stages, stage{"+ first " + enc + " request", []step{ingest, encoded(enc)}})
	}
	var all []step
	all = append(all, ingest)
	for _, enc := range encodings {
		all = append(all, encoded(enc))
	}
	// Everything: the lazy parts of source maps and minidumps too.
	all = append(all, (*session).invalid, (*session).items, (*session).sourceMapped, (*session).minidump, (*session).uiFirst, (*session).crawl)
	stages = append(stages,
		stage{stageBad, []step{ingest, (*session).invalid}},
		stage{stageSM, []step{ingest, (*session).sourceMapped}},
		stage{stageUI, []step{ingest, (*session).uiFirst}},
		stage{stageMinidump, []step{ingest, (*session).minidump}},
		stage{stageWarm, all},
	)

	bare, err := p.bare()
	if err != nil {
		return nil, err
	}
	rep.Results = append(rep.Results, bare)
	for _, st := range stages {
		s, err := p.start()
		if err != nil {
			return nil, err
		}
		for _, fn := range st.steps {
			if err = fn(s); err != nil {
				break
			}
		}
		var r Result
		if err == nil {
			r, err = s.measure(st.name)
		}
		s.stop()
		if err != nil {
			return nil, fmt.Errorf("stage %q: %w", st.name, err)
		}
		rep.Results = append(rep.Results, r)
	}

	// Per-event cost: the same process after 1,000 and after N events.
	s, err := p.startWith(true)
	if err != nil {
		return nil, err
	}
	defer s.stop()
	if err := s.sendMany(1000); err != nil {
		return nil, err
	}
	r1, err := s.measureAfterGC("after 1,000 stored events")
	if err != nil {
		return nil, err
	}
	if err := s.sendMany(events - 1000); err != nil {
		return nil, err
	}
	rN, err := s.measureAfterGC(fmt.Sprintf("after %d stored events", events))
	if err != nil {
		return nil, err
	}
	rep.Results = append(rep.Results, r1, rN)
	rep.PerEventByte = float64(rN.RSS-r1.RSS) / float64(events-1000)
	rep.PerEventAnon = float64(rN.RSSAnon-r1.RSSAnon) / float64(events-1000)
	return rep, nil
}

// bare measures the binary doing nothing.
func (p *profiler) bare() (Result, error) {
	cmd := exec.Command(p.bin, "idle")
	if err := cmd.Start(); err != nil {
		return Result{}, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	time.Sleep(500 * time.Millisecond)
	pr := budget.ReadProcPID(cmd.Process.Pid)
	if pr.RSS == 0 {
		return Result{}, errors.New("cannot read the idle process's /proc status")
	}
	return Result{Stage: stageBare, RSS: pr.RSS, RSSAnon: pr.RSSAnon}, nil
}

// session is one fresh server process on a fresh data directory.
type session struct {
	cmd    *exec.Cmd
	dir    string
	owned  bool // stop removes dir
	base   string
	key    string
	token  string
	client *http.Client
	sent   atomic.Int64
}

func (p *profiler) start() (*session, error) { return p.startWith(false) }

// startWith starts a server on a new temporary data directory; with
// keepAll it raises the project's retention so that every event sent stays
// stored.
func (p *profiler) startWith(keepAll bool) (*session, error) {
	dir, err := os.MkdirTemp("", "tinysink-budget-")
	if err != nil {
		return nil, err
	}
	s, err := p.startIn(dir, true)
	if err != nil || !keepAll {
		return s, err
	}
	// Keep every event the profile sends: the per-event cost is about
	// stored events.
	req, _ := http.NewRequest("PATCH", s.base+"/api/canonical/0/projects/1/", strings.NewReader(`{"retention_max_event_count": 1000000}`))
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := s.client.Do(req)
	if err != nil {
		s.stop()
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		s.stop()
		return nil, fmt.Errorf("raising the retention: %s", resp.Status)
	}
	return s, nil
}

// startIn starts a server on the data directory dir, which stop removes
// when owned is set.
func (p *profiler) startIn(dir string, owned bool) (*session, error) {
	s := &session{dir: dir, owned: owned}
	out, err := exec.Command(p.bin, "token", "create", "-data", dir).Output()
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("token create: %w", err)
	}
	s.token = strings.TrimSpace(string(out))
	args := []string{"serve", "-addr", "127.0.0.1:0", "-data", dir, "-log-level", "error"}
	// The profile stores thousands of events in seconds: no quotas.
	for _, q := range []string{"project-5m", "project-hour", "project-month", "install-5m", "install-hour", "install-month"} {
		args = append(args, "-quota-"+q, "0")
	}
	if p.memLimit != "" {
		args = append(args, "-memory-limit", p.memLimit)
	}
	s.cmd = exec.Command(p.bin, args...)
	s.cmd.Env = append(os.Environ(), "TINYSINK_ADMIN_USER=admin", "TINYSINK_ADMIN_PASSWORD="+adminPassword)
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		s.cmd = nil
		s.stop()
		return nil, err
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if _, rest, ok := strings.Cut(line, " listening on "); ok {
			s.base = strings.TrimSpace(rest)
		}
		if rest, ok := strings.CutPrefix(line, "DSN:"); ok {
			u, err := url.Parse(strings.TrimSpace(rest))
			if err == nil && u.User != nil {
				s.key = u.User.Username()
			}
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	if s.base == "" || s.key == "" {
		s.stop()
		return nil, errors.New("the server did not print its address and DSN")
	}
	jar, _ := cookiejar.New(nil)
	s.client = &http.Client{Jar: jar, Timeout: 5 * time.Minute}
	return s, nil
}

func (s *session) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
	if s.owned {
		os.RemoveAll(s.dir)
	}
}

// measure waits for the process to settle and reads its memory: VmRSS and
// RssAnon from /proc before asking the process anything, then its Go heap
// and loaded parts from /debug/budget.
func (s *session) measure(stage string) (Result, error) {
	time.Sleep(500 * time.Millisecond)
	pr := budget.ReadProcPID(s.cmd.Process.Pid)
	var snap budget.Snapshot
	if err := s.getJSON("/debug/budget?format=json", &snap); err != nil {
		return Result{}, err
	}
	return s.result(stage, pr, snap), nil
}

// measureAfterGC asks the process to collect garbage and return free
// memory first, as Bugsink's profile runs gc.collect(): the per-event rows
// compare what is retained, not where two GC cycles happened to be.
func (s *session) measureAfterGC(stage string) (Result, error) {
	time.Sleep(500 * time.Millisecond)
	var snap budget.Snapshot
	if err := s.getJSON("/debug/budget?gc=1", &snap); err != nil {
		return Result{}, err
	}
	time.Sleep(200 * time.Millisecond)
	pr := budget.ReadProcPID(s.cmd.Process.Pid)
	return s.result(stage+" (after a GC)", pr, snap), nil
}

func (s *session) result(stage string, pr budget.Proc, snap budget.Snapshot) Result {
	r := Result{Stage: stage, RSS: pr.RSS, RSSAnon: pr.RSSAnon, HeapInUse: snap.HeapInUse}
	for _, p := range snap.Parts {
		if p.Loaded {
			r.Loaded = append(r.Loaded, p.Name)
		}
	}
	return r
}

func (s *session) getJSON(path string, v any) error {
	req, _ := http.NewRequest("GET", s.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// post sends an envelope with one event, encoded as enc ("" = plain).
func (s *session) post(enc string, n int) error {
	ev := sampleEvent(n)
	body := envelope(ev)
	var buf bytes.Buffer
	switch enc {
	case "":
		buf.Write(body)
	case "gzip":
		w := gzip.NewWriter(&buf)
		w.Write(body)
		w.Close()
	case "deflate":
		w, _ := flate.NewWriter(&buf, flate.DefaultCompression)
		w.Write(body)
		w.Close()
	case "br":
		buf.Write(storedBrotli(body))
	case "zstd":
		w, _ := zstd.NewWriter(&buf)
		w.Write(body)
		w.Close()
	}
	req, _ := http.NewRequest("POST", s.base+"/api/1/envelope/?sentry_key="+s.key, &buf)
	if enc != "" {
		req.Header.Set("Content-Encoding", enc)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("ingest (%s): %s", enc, resp.Status)
	}
	s.sent.Add(1)
	return nil
}

// waitStored waits until the project has digested every event sent. It
// counts digested events, not stored ones: on an old installation at its
// retention cap each new event evicts an old one, and the stored count
// stays where it is.
func (s *session) waitStored() error {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		var p struct {
			Digested int64 `json:"digested_event_count"`
		}
		if err := s.getJSON("/api/canonical/0/projects/1/", &p); err != nil {
			return err
		}
		if p.Digested >= s.sent.Load() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d events digested", p.Digested, s.sent.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *session) firstIngest() error {
	if err := s.post("", int(s.sent.Load())); err != nil {
		return err
	}
	return s.waitStored()
}

func encoded(enc string) step {
	return func(s *session) error {
		if err := s.post(enc, int(s.sent.Load())); err != nil {
			return err
		}
		return s.waitStored()
	}
}

func (s *session) invalid() error {
	resp, err := s.client.Post(s.base+"/api/1/store/?sentry_key="+s.key, "application/json", strings.NewReader(`{"event_id": "broken`))
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 {
		return fmt.Errorf("invalid event: got %s, want 400", resp.Status)
	}
	return nil
}

// uiFirst loads the login page.
func (s *session) uiFirst() error {
	resp, err := s.client.Get(s.base + "/accounts/login/")
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return nil
}

// crawl logs in and requests every same-site page reachable by GET links,
// up to 200 pages.
func (s *session) crawl() error { return s.crawlFrom(nil) }

// useProject1 sends to project 1 (the server's DSN line names the first
// project by name) and counts the events it digested already as sent.
func (s *session) useProject1() error {
	var p struct {
		DSN      string `json:"dsn"`
		Digested int64  `json:"digested_event_count"`
	}
	if err := s.getJSON("/api/canonical/0/projects/1/", &p); err != nil {
		return err
	}
	u, err := url.Parse(p.DSN)
	if err != nil || u.User == nil {
		return fmt.Errorf("project 1 has no usable DSN: %q", p.DSN)
	}
	s.key = u.User.Username()
	s.sent.Store(p.Digested)
	return nil
}

// crawlFrom logs in, requests first, and then every same-site page
// reachable by GET links from them and from the project list, up to 200
// pages besides first.
func (s *session) crawlFrom(first []string) error {
	form := url.Values{"name": {"admin"}, "password": {adminPassword}}
	req, _ := http.NewRequest("POST", s.base+"/accounts/login/", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", s.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Request.URL.Path == "/accounts/login/" {
		return errors.New("could not log in to the UI")
	}
	seen := map[string]bool{}
	queue := append(append([]string(nil), first...), "/projects/")
	for len(queue) > 0 && len(seen) < 200+len(first) {
		path := queue[0]
		queue = queue[1:]
		if seen[path] {
			continue
		}
		seen[path] = true
		resp, err := s.client.Get(s.base + path)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			return fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		if !strings.Contains(resp.Header.Get("Content-Type"), "html") {
			continue
		}
		for _, link := range links(b) {
			if !seen[link] && !strings.Contains(link, "logout") {
				queue = append(queue, link)
			}
		}
	}
	// The JSON API too.
	var v any
	for _, p := range []string{"/api/canonical/0/projects/", "/api/canonical/0/issues/?project=1", "/api/canonical/0/events/?issue=1",
		"/api/canonical/0/transactions/?project=1", "/api/canonical/0/monitors/?project=1"} {
		s.getJSON(p, &v)
	}
	return nil
}

// links returns the same-site paths of href attributes in an HTML page.
func links(page []byte) []string {
	var out []string
	for rest := page; ; {
		i := bytes.Index(rest, []byte(`href="`))
		if i < 0 {
			return out
		}
		rest = rest[i+6:]
		j := bytes.IndexByte(rest, '"')
		if j < 0 {
			return out
		}
		h := strings.ReplaceAll(string(rest[:j]), "&amp;", "&")
		if strings.HasPrefix(h, "/") && !strings.HasPrefix(h, "//") {
			out = append(out, h)
		}
	}
}

// sendMany stores n more events from 4 connections.
func (s *session) sendMany(n int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for range 4 {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				if err := s.post("", int(i)); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return err
	}
	return s.waitStored()
}
