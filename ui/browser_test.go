package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// chromiumPath returns a Chromium or Chrome binary, or "" when there is
// none. CHROMIUM overrides the search.
func chromiumPath() string {
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

// browser is the one headless Chromium of the package's tests, started by
// the first test that needs it and stopped by TestMain.
var browser struct {
	once   sync.Once
	ctx    context.Context // the browser; tests open tabs in it
	err    error
	cancel func()
	dir    string // its profile
}

// browserTurn is held by the one test that drives Chromium at a time; the
// others wait for it. Browser tests are CPU-bound in Chromium (~0.1 s of
// CPU per page load on the 2-core VM), and two of them at once took more
// CPU than the two one after the other (tabs that share the browser
// process slow each other down), so the package's wall time is shortest
// with one at a time, beside the tests that need no browser.
var browserTurn = make(chan struct{}, 1)

// browserHolders are the tests that hold browserTurn: a test may open
// several tabs (several users at once) under one turn.
var browserHolders sync.Map // *testing.T → bool

// stopBrowser stops the shared Chromium, if one was started.
func stopBrowser() {
	if browser.cancel != nil {
		browser.cancel()
		os.RemoveAll(browser.dir)
	}
}

// newBrowser returns a context for driving a new tab of the shared
// headless Chromium, in a browser context of its own (its own cookies and
// storage, as a fresh profile), closed when the test ends.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	bin := chromiumPath()
	if bin == "" {
		t.Skip("no chromium binary found (apt-get install chromium, or set CHROMIUM): browser test skipped")
	}
	if _, held := browserHolders.LoadOrStore(t, true); !held {
		browserTurn <- struct{}{}
		// Registered before the tab's cleanup, so it runs after the tab
		// is closed.
		t.Cleanup(func() {
			browserHolders.Delete(t)
			<-browserTurn
		})
	}
	browser.once.Do(func() {
		// A browser that exits before it listens (it happened once, on a
		// machine busy with other tests) is started again, up to three
		// times, each in a fresh profile; the failures are logged.
		for attempt := 1; attempt <= 3; attempt++ {
			if browser.err = startBrowser(bin); browser.err == nil {
				return
			}
			t.Logf("start chromium, attempt %d: %v", attempt, browser.err)
			stopBrowser()
			browser.cancel = nil
		}
	})
	if browser.err != nil {
		t.Fatalf("start chromium %s: %v", bin, browser.err)
	}
	ctx, cancelTab := chromedp.NewContext(browser.ctx, chromedp.WithNewBrowserContext())
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelT(); cancelTab() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return ctx
}

// startBrowser starts Chromium at bin in a fresh profile, as browser.
func startBrowser(bin string) error {
	var err error
	if browser.dir, err = os.MkdirTemp("", "tinysink-chromium-"); err != nil {
		return err
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(browser.dir),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1200, 900),
		// Less work per page load and per tab, the tests being
		// CPU-bound in Chromium (most as in chromedp's default
		// options): no site-per-process renderers (every page is on
		// 127.0.0.1), no background services, no throttling of the
		// tabs not in front. With these a run of four of the browser
		// tests took 11-21 % less wall time and 5-14 % less CPU.
		chromedp.Flag("disable-features", "IsolateOrigins,site-per-process,Translate,OptimizationHints,MediaRouter,BackForwardCache"),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-hang-monitor", true),
		chromedp.Flag("disable-ipc-flooding-protection", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("mute-audio", true),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	browser.ctx, browser.cancel = ctx, func() { cancelB(); cancelA() }
	return chromedp.Do(ctx)
}

// do runs steps in the browser and fails the test on an error.
func do(t *testing.T, ctx context.Context, step string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", step, err)
	}
}

// get runs one action that returns a value.
func get[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return v
}

// TestBrowserFlow drives the UI in Chromium: log in, open the issue list,
// open an issue, expand a frame, resolve it, mute another, log out.
func TestBrowserFlow(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	events := corpus(t)
	s.ingest(t, s.project.ID, events["python/bugsink_visualshots-rich.json"])
	s.ingest(t, s.project.ID, events["java/sentry-grouping_java-chained.json"])
	srv := httptest.NewServer(s.mux)
	defer srv.Close()
	ctx := newBrowser(t)

	do(t, ctx, "visit without a session",
		chromedp.Navigate(srv.URL+"/projects/"),
		chromedp.WaitVisible(chromedp.ID("login")))
	if loc := get(t, ctx, chromedp.Location()); !strings.Contains(loc, "/accounts/login/") {
		t.Errorf("unauthenticated visit landed on %s, want the login page", loc)
	}
	do(t, ctx, "log in",
		chromedp.SendKeys(chromedp.CSS("input[name=name]"), "admin"),
		chromedp.SendKeys(chromedp.CSS("input[name=password]"), testPassword),
		chromedp.Click(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("logout")))
	if loc := get(t, ctx, chromedp.Location()); !strings.HasSuffix(loc, "/projects/") {
		t.Errorf("after login at %s, want the page asked for first", loc)
	}
	do(t, ctx, "open the issue list",
		chromedp.Click(chromedp.CSS("table.list td a")),
		chromedp.WaitVisible(chromedp.CSS("ul.issues")))
	if text := get(t, ctx, chromedp.Text(chromedp.CSS("ul.issues"))); !strings.Contains(text, "VisualshotsCheckoutError") {
		t.Errorf("issue list shows %q", text)
	}

	// Open the Python issue and expand a frame that starts collapsed.
	do(t, ctx, "open an issue",
		chromedp.Click(`//ul[@class="issues"]//a[contains(., "VisualshotsCheckoutError")]`),
		chromedp.WaitVisible(chromedp.CSS("ol.frames")))
	// Python frames run oldest first, the raise frame last, with its
	// badge. It has no code here, so the newest frame that has is the one
	// expanded at first.
	if got := get(t, ctx, chromedp.Text(chromedp.CSS("ol.frames li:last-child .badge"))); got != "raise VisualshotsCheckoutError" {
		t.Errorf("the last frame's badge is %q", got)
	}
	if !get(t, ctx, chromedp.Evaluate[bool](`[...document.querySelectorAll("ol.frames details")].pop().open`)) {
		t.Error("the newest frame with code is not expanded at first")
	}
	if n := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("ol.frames details[open]").length`)); n != 1 {
		t.Errorf("%d frames expanded at first, want 1", n)
	}
	const second = `document.querySelectorAll("ol.frames details")[1].open`
	if get(t, ctx, chromedp.Evaluate[bool](second)) {
		t.Error("the second frame is expanded at first")
	}
	do(t, ctx, "expand a frame", chromedp.Click(`(//ol[@class="frames"]//details)[2]/summary`))
	if !get(t, ctx, chromedp.Evaluate[bool](second)) {
		t.Error("clicking the second frame did not expand it")
	}
	do(t, ctx, "resolve",
		chromedp.Click(chromedp.ID("action-resolve")),
		chromedp.WaitVisible(chromedp.ID("action-reopen")))
	if text := get(t, ctx, chromedp.Text(chromedp.CSS("dd.state"))); text != "Resolved" {
		t.Errorf("state after resolve = %q", text)
	}

	// Mute the other issue from its page.
	do(t, ctx, "mute the other issue",
		chromedp.Navigate(fmt.Sprintf("%s/projects/%d/", srv.URL, s.project.ID)),
		chromedp.WaitVisible(chromedp.CSS("ul.issues")),
		chromedp.Click(`//ul[@class="issues"]//a[not(contains(., "VisualshotsCheckoutError"))]`),
		chromedp.WaitVisible(chromedp.ID("action-mute")),
		chromedp.Click(chromedp.ID("action-mute")),
		chromedp.WaitVisible(chromedp.ID("action-unmute")))
	if text := get(t, ctx, chromedp.Text(chromedp.CSS("dd.state"))); text != "Muted" {
		t.Errorf("state after mute = %q", text)
	}
	do(t, ctx, "settings page",
		chromedp.Navigate(fmt.Sprintf("%s/projects/%d/settings/", srv.URL, s.project.ID)),
		chromedp.WaitVisible(chromedp.CSS("button.copy")))

	// Add a webhook backend pointing at a receiver on 127.0.0.1 and send
	// it the test message.
	rc := newReceiver(t)
	do(t, ctx, "add a webhook backend",
		chromedp.Click(chromedp.ID("add-webhook")),
		chromedp.WaitVisible(chromedp.ID("backend")),
		chromedp.SendKeys(chromedp.CSS("input[name=name]"), "Browser hook"),
		chromedp.SendKeys(chromedp.CSS("input[name=webhook_url]"), rc.URL+"/hooks/from-the-browser-0001"),
		chromedp.Click(chromedp.ID("save-backend")),
		chromedp.WaitVisible(chromedp.CSS("ul.backends")))
	if text := get(t, ctx, chromedp.Text(chromedp.CSS("ul.backends"))); !strings.Contains(text, "Browser hook") || !strings.Contains(text, rc.URL+"/…0001") || strings.Contains(text, "from-the-browser") {
		t.Errorf("backend list shows %q", text)
	}
	do(t, ctx, "send test message",
		chromedp.Click(chromedp.CSS("ul.backends button")),
		chromedp.WaitVisible(chromedp.ID("test-ok")))
	if got := rc.received(); len(got) != 1 || !json.Valid([]byte(got[0])) || !strings.Contains(got[0], `"alert_reason":"TEST"`) {
		t.Errorf("the receiver got %q, want one JSON test message", got)
	}

	do(t, ctx, "log out",
		chromedp.Click(chromedp.ID("logout")),
		chromedp.WaitVisible(chromedp.ID("login")),
		chromedp.Navigate(srv.URL+"/projects/"),
		chromedp.WaitVisible(chromedp.ID("login")))

	var resolved, muted int
	for _, iss := range s.issues(t, s.project.ID) {
		if iss.IsResolved {
			resolved++
		}
		if iss.IsMuted {
			muted++
		}
	}
	if resolved != 1 || muted != 1 {
		t.Errorf("store has %d resolved and %d muted issues, want 1 and 1", resolved, muted)
	}
}

// TestScreenshots writes PNGs of the main pages to $TINYSINK_SCREENSHOTS,
// for looking at the UI; it is skipped when that is not set.
func TestScreenshots(t *testing.T) {
	t.Parallel()
	dir := os.Getenv("TINYSINK_SCREENSHOTS")
	if dir == "" {
		t.Skip("set TINYSINK_SCREENSHOTS=dir to write screenshots")
	}
	s := newTestServer(t)
	events := corpus(t)
	for _, n := range []string{"python/bugsink_visualshots-rich.json", "java/sentry-grouping_java-chained.json", "javascript/sentry-grouping_minified-javascript.json", "csharp/glitchtip_dotnet_error.json"} {
		s.ingest(t, s.project.ID, events[n])
	}
	srv := httptest.NewServer(s.mux)
	defer srv.Close()
	ctx := newBrowser(t)
	do(t, ctx, "log in", chromedp.Navigate(srv.URL+"/accounts/login/"),
		chromedp.SendKeys(chromedp.CSS("input[name=name]"), "admin"),
		chromedp.SendKeys(chromedp.CSS("input[name=password]"), testPassword),
		chromedp.Click(chromedp.ID("login")), chromedp.WaitVisible(chromedp.ID("logout")))
	iss := s.issues(t, s.project.ID)
	if os.Getenv("TINYSINK_SCREENSHOTS_DARK") != "" {
		dark := emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}}
		if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, dark); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range []int64{1200, 390} {
		for name, path := range map[string]string{
			"projects": "/projects/", "issues": fmt.Sprintf("/projects/%d/", s.project.ID),
			"stacktrace": fmt.Sprintf("/issues/%d/event/last/", iss[len(iss)-1].ID),
			"details":    fmt.Sprintf("/issues/%d/event/last/details/", iss[len(iss)-1].ID),
			"crumbs":     fmt.Sprintf("/issues/%d/event/last/breadcrumbs/", iss[0].ID),
			"pystack":    fmt.Sprintf("/issues/%d/event/last/", iss[0].ID),
			"settings":   fmt.Sprintf("/projects/%d/settings/", s.project.ID),
			"account":    "/accounts/",
			"budget":     "/debug/budget/",
			"webhook":    fmt.Sprintf("/projects/%d/alerts/new/?kind=telegram", s.project.ID),
		} {
			do(t, ctx, name, chromedp.EmulateViewport(w, 900), chromedp.Navigate(srv.URL+path))
			png := get(t, ctx, chromedp.CaptureScreenshot())
			if err := os.WriteFile(fmt.Sprintf("%s/%s-%d.png", dir, name, w), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestBrowserWithoutJavaScript logs in, resolves an issue and logs out with
// scripts switched off: every page and action is plain HTML.
func TestBrowserWithoutJavaScript(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.ingest(t, s.project.ID, corpus(t)["python/bugsink_visualshots-rich.json"])
	srv := httptest.NewServer(s.mux)
	defer srv.Close()
	ctx := newBrowser(t)
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatalf("disable scripts: %v", err)
	}
	do(t, ctx, "log in, open an issue, resolve it, log out",
		chromedp.Navigate(srv.URL+"/projects/"),
		chromedp.WaitVisible(chromedp.ID("login")),
		chromedp.SendKeys(chromedp.CSS("input[name=name]"), "admin"),
		chromedp.SendKeys(chromedp.CSS("input[name=password]"), testPassword),
		chromedp.Click(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("logout")),
		chromedp.Navigate(fmt.Sprintf("%s/projects/%d/", srv.URL, s.project.ID)),
		chromedp.Click(chromedp.CSS("ul.issues a.title")),
		chromedp.WaitVisible(chromedp.ID("action-resolve")),
		chromedp.Click(`(//ol[@class="frames"]//details)[2]/summary`),
		chromedp.Click(chromedp.ID("action-resolve")),
		chromedp.WaitVisible(chromedp.ID("action-reopen")),
		chromedp.Click(chromedp.ID("logout")),
		chromedp.WaitVisible(chromedp.ID("login")))
	if iss := s.issues(t, s.project.ID)[0]; !iss.IsResolved {
		t.Error("the issue was not resolved")
	}
	// Scripts really were off: the copy button stays hidden.
	s.login(t, "admin")
	do(t, ctx, "settings page",
		chromedp.SendKeys(chromedp.CSS("input[name=name]"), "admin"),
		chromedp.SendKeys(chromedp.CSS("input[name=password]"), testPassword),
		chromedp.Click(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("logout")),
		chromedp.Navigate(fmt.Sprintf("%s/projects/%d/settings/", srv.URL, s.project.ID)),
		chromedp.WaitVisible(chromedp.ID("dsn")))
	if !get(t, ctx, chromedp.Evaluate[bool](`document.querySelector("button.copy").hidden`)) {
		t.Error("the copy script ran although scripts were disabled")
	}
	// Deleting an issue: the confirmation is a plain form.
	do(t, ctx, "delete the issue",
		chromedp.Navigate(fmt.Sprintf("%s/projects/%d/?tab=all", srv.URL, s.project.ID)),
		chromedp.Click(chromedp.CSS("ul.issues a.title")),
		chromedp.WaitVisible(chromedp.ID("action-delete")),
		chromedp.Click(chromedp.ID("action-delete")),
		chromedp.WaitVisible(chromedp.ID("confirm-delete")),
		chromedp.Click(chromedp.ID("confirm-delete")),
		chromedp.Click(chromedp.ID("delete-issue")),
		chromedp.WaitVisible(chromedp.ID("deleted")))
	if n := len(s.issues(t, s.project.ID)); n != 0 {
		t.Errorf("%d issues after the delete", n)
	}
}
