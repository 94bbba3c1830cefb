package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/tinysink/tinysink/digest/event"
	"github.com/tinysink/tinysink/store"
	"github.com/tinysink/tinysink/ui"
)

// The JavaScript SDK tests run real @sentry/node and @sentry/browser from
// npm (testdata/jssdk/package.json). `make jssdk` installs them into
// testdata/jssdk/node_modules (ignored by git); TINYSINK_JS_MODULES names
// another node_modules directory. Without node, the modules or Chromium the
// tests skip, saying what is missing; under CI they fail instead, since
// .ci/run installs all three.

// jsModules returns the node_modules directory holding the JS SDKs.
func jsModules(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		skipOrFail(t, "node not found: JavaScript SDK test skipped (install Node.js 20+ and run `make jssdk`)")
	}
	dir := os.Getenv("TINYSINK_JS_MODULES")
	if dir == "" {
		dir = filepath.Join("testdata", "jssdk", "node_modules")
	}
	dir, _ = filepath.Abs(dir)
	for _, pkg := range []string{"@sentry/node", "@sentry/browser", "esbuild"} {
		if _, err := os.Stat(filepath.Join(dir, pkg, "package.json")); err != nil {
			skipOrFail(t, "npm package "+pkg+" not installed in "+dir+": JavaScript SDK test skipped (run `make jssdk`, or set TINYSINK_JS_MODULES)")
		}
	}
	return dir
}

func skipOrFail(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(msg + "; .ci/run installs it")
	}
	t.Skip(msg)
}

// messageIssues returns the project's issues as title → "<events>
// <level>" of each issue of that title (sorted), and fails unless there
// are want of them.
func messageIssues(t *testing.T, ts *testServer, pid int, want int) map[string]string {
	t.Helper()
	got := map[string]string{}
	n := 0
	for _, a := range ts.issues(t, pid) {
		iss, err := ts.db.IssueByRef(a.ID)
		if err != nil {
			t.Fatal(err)
		}
		s := strings.Fields(got[iss.Title()] + " " + fmt.Sprintf("%d/%s", iss.DigestedEventCount, iss.Level))
		sort.Strings(s)
		got[iss.Title()] = strings.Join(s, " ")
		n++
	}
	if n != want {
		t.Errorf("%d issues %q, want %d", n, got, want)
	}
	return got
}

// checkMessages checks the issues that the SDK scripts' messages make:
// each titled by its message; want maps a title to "<events>/<level>" of
// each of its issues, sorted.
func checkMessages(t *testing.T, got, want map[string]string) {
	t.Helper()
	for title, w := range want {
		if g := got[title]; g != w {
			t.Errorf("issues titled %q: %q, want %q (events/level of each)", title, g, w)
		}
	}
}

// Real @sentry/node 11 sends captureMessage from a node process: each
// message is an issue titled by its text.
func TestNodeSDKMessages(t *testing.T) {
	mods := jsModules(t)
	ts := startServer(t)
	p, err := ts.db.Project(1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join("testdata", "jssdk", "node-messages.js"))
	cmd.Env = append(os.Environ(), "DSN="+ui.DSN(ts.base, p), "NODE_PATH="+mods)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "sent") {
		t.Fatalf("node: %v\n%s", err, out)
	}
	ts.drain(t)
	// Two messages from checkDisk: two issues. One message from two calls
	// of reportReady: one issue of two events. The same message from
	// warmUp: another issue.
	got := messageIssues(t, ts, p.ID, 4)
	checkMessages(t, got, map[string]string{
		"node: disk almost full":  "1/info",
		"node: disk check failed": "1/warning",
		"node: cache warmed":      "1/info 2/info",
	})
	checkMessageGroupings(t, ts, p.ID, "checkDisk", "reportReady", "warmUp")
}

// checkMessageGroupings checks that every issue's key is of the message
// rule and names one of the functions.
func checkMessageGroupings(t *testing.T, ts *testServer, pid int, fns ...string) {
	t.Helper()
	for _, a := range ts.issues(t, pid) {
		iss, _ := ts.db.IssueByRef(a.ID)
		gs, err := ts.db.Groupings(iss)
		if err != nil || len(gs) != 1 {
			t.Fatalf("%q: groupings %+v, %v", iss.Title(), gs, err)
		}
		t.Logf("%q: key %q", iss.Title(), gs[0].Key)
		ok := false
		for _, fn := range fns {
			ok = ok || strings.HasSuffix(gs[0].Key, " ⋄ in "+fn)
		}
		if gs[0].Mechanism != "tinysink-message-v1" || (len(fns) > 0 && !ok) {
			t.Errorf("%q: key %q (%s), want a message key in one of %q", iss.Title(), gs[0].Key, gs[0].Mechanism, fns)
		}
	}
}

// Real @sentry/browser 11, bundled and minified by esbuild, loaded by
// Chromium from a page on another origin, posts captureMessage
// cross-origin: each message is an issue titled by its text, not by the
// minified function that sent it.
func TestBrowserSDKMessages(t *testing.T) {
	mods := jsModules(t)
	bin := chromiumBinary()
	if bin == "" {
		skipOrFail(t, "no chromium binary found (apt-get install chromium, or set CHROMIUM): browser SDK test skipped")
	}
	ts := startServer(t)
	p, err := ts.db.Project(1)
	if err != nil {
		t.Fatal(err)
	}

	// Bundle the page's script with the real bundler.
	web := t.TempDir()
	esbuild := exec.Command(filepath.Join(mods, ".bin", "esbuild"), filepath.Join("testdata", "jssdk", "browser-messages.js"),
		"--bundle", "--minify", "--format=iife", "--target=es2020", "--outfile="+filepath.Join(web, "bundle.js"))
	esbuild.Env = append(os.Environ(), "NODE_PATH="+mods)
	if out, err := esbuild.CombinedOutput(); err != nil {
		t.Fatalf("esbuild: %v\n%s", err, out)
	}
	page := `<!doctype html><html><head><meta charset="utf-8"><title>jsmsg</title>` +
		`<script>window.DSN = "` + ui.DSN(ts.base, p) + `";</script><script src="/bundle.js"></script></head><body>app</body></html>`
	if err := os.WriteFile(filepath.Join(web, "index.html"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	site := httptest.NewServer(http.FileServer(http.Dir(web))) // 127.0.0.1, another port: another origin
	defer site.Close()

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	ctx, cancelC := context.WithTimeout(ctx, 90*time.Second)
	defer cancelC()
	if err := chromedp.Do(ctx, chromedp.Navigate(site.URL+"/index.html")); err != nil {
		t.Fatalf("chromium %s: %v", bin, err)
	}
	res, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.runMessages()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("runMessages: %v", err)
	}
	if res != "sent" {
		t.Fatalf("page said %q", res)
	}
	ts.drain(t)
	got := messageIssues(t, ts, p.ID, 4)
	checkMessages(t, got, map[string]string{
		"browser: disk almost full":  "1/info",
		"browser: disk check failed": "1/warning",
		"browser says hello":         "1/warning 2/warning",
	})
	checkMessageGroupings(t, ts, p.ID) // minified names: any function
}

// chromiumBinary returns a Chromium or Chrome binary, or "". CHROMIUM
// overrides the search.
func chromiumBinary() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// An installation upgraded with issues from before the message rule: the
// recorded @sentry/node captureMessage (testdata/sdk-wire), replayed byte
// for byte, continues the issue the previous build made of it (titled and
// keyed "main", the calling function), now titled by its message, with a
// "Grouping changed" history entry; a second message from main is an issue
// of its own.
func TestNodeWireMessageAfterUpgrade(t *testing.T) {
	ts := startServer(t)
	if err := ts.db.SetProjectKey(1, "publickey123"); err != nil { // the capture's key
		t.Fatal(err)
	}
	// What the previous build stored for this event: an issue keyed and
	// titled by the function, in a project without grouping rules.
	var old *store.Issue
	err := ts.db.Digest(func(tx *store.Tx) error {
		p, err := tx.Project(1)
		if err != nil {
			return err
		}
		p.GroupingRules, p.GroupingUpgradedAt = 0, time.Time{}
		old = &store.Issue{FirstSeen: time.Now().Add(-time.Hour), LastSeen: time.Now().Add(-time.Hour), CalculatedType: "main", Level: "warning", Platform: "node"}
		return tx.CreateIssue(p, old, event.GroupingHash("main"), "main", event.MechanismV2)
	})
	if err != nil {
		t.Fatal(err)
	}
	replay := func(body []byte) {
		t.Helper()
		req, _ := http.NewRequest("POST", ts.base+"/api/1/envelope/?sentry_version=7&sentry_key=publickey123&sentry_client=sentry.javascript.node%2F11.12.0", bytes.NewReader(body))
		req.ContentLength = -1 // chunked, as @sentry/node sends
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("replay: %d", resp.StatusCode)
		}
	}
	raw, err := os.ReadFile(filepath.Join("testdata", "sdk-wire", "node", "event-message-warning.raw"))
	if err != nil {
		t.Fatal(err)
	}
	replay(raw)
	// The same function sending another message (the capture with its
	// text and event id changed; the envelope's lengths are not used).
	other := bytes.ReplaceAll(raw, []byte("Disk usage above 90% on /var/lib/data"), []byte("Disk check failed on /var/lib/data"))
	other = bytes.ReplaceAll(other, []byte("210d073027c24c779b18e3bfed260439"), []byte("310d073027c24c779b18e3bfed260439"))
	replay(other)
	ts.drain(t)

	iss, err := ts.db.Issue(old.ID)
	if err != nil {
		t.Fatal(err)
	}
	if iss.Title() != "Disk usage above 90% on /var/lib/data" || iss.DigestedEventCount != 1 {
		t.Errorf("old issue: title %q, %d events", iss.Title(), iss.DigestedEventCount)
	}
	h, _ := ts.db.History(old.ID)
	found := false
	for _, e := range h {
		found = found || e.Kind == store.HistoryGroupingChanged && strings.Contains(e.Comment, `"main"`)
	}
	if !found {
		t.Errorf("history %+v has no grouping change", h)
	}
	got := messageIssues(t, ts, 1, 2)
	if got["Disk check failed on /var/lib/data"] != "1/warning" {
		t.Errorf("issues %q: the other message is not an issue of its own", got)
	}
}
