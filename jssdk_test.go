package main

import (
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
