package ui

import (
	"fmt"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/tinysink/tinysink/store"
)

// hostileEvent carries script in every field a page shows. Each payload
// would set window.__xss (or the title) if it ever ran.
const hostileEvent = `{
 "event_id": "0123456789abcdef0123456789abcdef",
 "platform": "javascript",
 "message": "<script>window.__xss=1;document.title='pwned'</script>",
 "exception": {"values": [
  {"type": "InnerError", "value": "<img src=x onerror=\"window.__xss=20\">"},
  {"type": "<img src=x onerror=window.__xss=2>", "value": "<script>window.__xss=3</script> \u202e evil \u0007 bell \u001b[31m",
   "mechanism": {"type": "<b>onerror</b>", "handled": false},
   "stacktrace": {"frames": [
    {"filename": "javascript:window.__xss=4", "function": "<svg onload=window.__xss=5>", "lineno": 7, "colno": 3, "in_app": true,
     "context_line": "</pre><script>window.__xss=6</script>", "pre_context": ["<iframe src=\"javascript:window.__xss=7\"></iframe>"],
     "post_context": ["</details></li></ol><script>window.__xss=21</script>"],
     "vars": {"<b>key</b>": "<script>window.__xss=8</script>", "url": "javascript:window.__xss=9"}},
    {"filename": "app.js", "function": "f", "lineno": 1, "abs_path": "javascript:window.__xss=22"}
   ]}}
 ]},
 "request": {"url": "javascript:window.__xss=10", "method": "<script>window.__xss=11</script>",
  "headers": {"X-Evil": "\"><script>window.__xss=12</script>"}, "data": "<style>body{display:none}</style>"},
 "breadcrumbs": {"values": [{"message": "<script>window.__xss=13</script>", "category": "<a href=javascript:window.__xss=14>x</a>", "timestamp": 1700000000.5}]},
 "tags": {"evil": "</title><script>window.__xss=15</script>", "<script>": "key"},
 "user": {"email": "<script>window.__xss=16</script>", "id": "javascript:window.__xss=23"},
 "contexts": {"<script>x</script>": {"name": "<img src=x onerror=window.__xss=17>"}},
 "extra": {"link": "javascript:alert(1)", "html": "<a href=\"javascript:window.__xss=24\">click</a>"},
 "release": "<script>window.__xss=18</script>",
 "environment": "\u202eprod",
 "transaction": "<script>window.__xss=19</script>"
}`

// xssPages are the pages of issue id that show event data.
func xssPages(id uint32, pid int) []string {
	base := fmt.Sprintf("/issues/%d/", id)
	return []string{
		base + "event/last/", base + "event/last/?frames=app", base + "event/last/?frame=1",
		base + "event/last/details/", base + "event/last/breadcrumbs/", base + "events/", base + "tags/",
		base + "grouping/", base + "history/", fmt.Sprintf("/projects/%d/", pid), fmt.Sprintf("/projects/%d/?tab=all&q=script", pid),
		"/issues/", "/issues/?tab=all&q=script",
	}
}

// rawMarkup finds markup that only an unescaped payload would produce.
var rawMarkup = regexp.MustCompile(`(?i)<script>window|<img src=x|<svg onload|<iframe|href="javascript:|src="javascript:|<style>body|<b>key|<a href=javascript|\x{202e}|\x07|\x1b`)

func TestEventDataIsEscaped(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.ingest(t, s.project.ID, []byte(hostileEvent))
	iss := s.issues(t, s.project.ID)[0]
	s.db.AddComment(iss.ID, "admin", "<script>window.__xss=25</script>")
	admin := s.login(t, "admin")
	for _, target := range xssPages(iss.ID, s.project.ID) {
		rec := s.do("GET", target, nil, admin)
		body := rec.Body.String()
		checkPage(t, target, rec.Code, body)
		if m := rawMarkup.FindString(body); m != "" {
			i := strings.Index(body, m)
			t.Errorf("GET %s: unescaped event data %q near %q", target, m, body[max(0, i-80):min(len(body), i+80)])
		}
		if n := strings.Count(body, "<script") - strings.Count(body, `<script src="/static/`); n != 0 {
			t.Errorf("GET %s: %d script elements", target, n)
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("GET %s: CSP %q", target, csp)
		}
	}
	// The payloads are there, escaped.
	body := s.do("GET", xssPages(iss.ID, s.project.ID)[0], nil, admin).Body.String()
	for _, want := range []string{"&lt;script&gt;window.__xss=6&lt;/script&gt;", "javascript:window.__xss=4", "&lt;svg onload=window.__xss=5&gt;", "\uFFFD evil ␇ bell ␛[31m"} {
		if !strings.Contains(body, want) {
			t.Errorf("stacktrace page lacks the escaped payload %q", want)
		}
	}
	details := s.do("GET", xssPages(iss.ID, s.project.ID)[3], nil, admin).Body.String()
	if strings.Contains(details, `href="javascript`) || !strings.Contains(details, "javascript:window.__xss=10") {
		t.Error("the request URL is not shown as plain text")
	}
	// Downloads are data, sandboxed.
	for _, dl := range []string{"json/", "download/", "md/"} {
		rec := s.do("GET", fmt.Sprintf("/issues/%d/event/last/%s", iss.ID, dl), nil, admin)
		if ct := rec.Header().Get("Content-Type"); strings.Contains(ct, "html") {
			t.Errorf("%s served as %s", dl, ct)
		}
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(rec.Header().Get("Content-Security-Policy"), "sandbox") {
			t.Errorf("%s lacks nosniff or a sandbox policy", dl)
		}
	}
}

// hostileBackend gives project pid a backend whose name and last failure
// carry script, and returns its pages.
func hostileBackend(t *testing.T, s *testServer, pid int) []string {
	t.Helper()
	b := &store.AlertBackend{Project: pid, Kind: store.BackendWebhook, Name: "<script>window.__xss=32</script>",
		Config: map[string]string{"webhook_url": "http://127.0.0.1:1/hooks/secretpath0123456789"}}
	if err := s.db.CreateAlertBackend(b); err != nil {
		t.Fatal(err)
	}
	f := &store.Failure{At: time.Now(), Status: 500, Body: failBody + "\x1b[31m\u202e", Error: `<img src=x onerror="window.__xss=33"> POST "http://127.0.0.1:1/hooks/secretpath0123456789"`}
	if err := s.db.RecordBackendResult(b.ID, f, time.Now()); err != nil {
		t.Fatal(err)
	}
	return []string{fmt.Sprintf("/projects/%d/settings/", pid), fmt.Sprintf("/projects/%d/alerts/%d/", pid, b.ID)}
}

func TestAlertBackendDataIsEscaped(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	pages := hostileBackend(t, s, s.project.ID)
	admin := s.login(t, "admin")
	for _, target := range pages {
		rec := s.do("GET", target, nil, admin)
		body := rec.Body.String()
		checkPage(t, target, rec.Code, body)
		if m := rawMarkup.FindString(body); m != "" {
			i := strings.Index(body, m)
			t.Errorf("GET %s: unescaped backend data %q near %q", target, m, body[max(0, i-80):min(len(body), i+80)])
		}
		if !strings.Contains(body, "&lt;script&gt;window.__xss=32&lt;/script&gt;") {
			t.Errorf("GET %s: the backend name is not shown escaped", target)
		}
		if strings.Contains(body, "secretpath") {
			t.Errorf("GET %s: the webhook URL's path is shown", target)
		}
	}
	settings := s.do("GET", pages[0], nil, admin).Body.String()
	for _, want := range []string{"&lt;script&gt;window.__xss=30&lt;/script&gt;", "&lt;img src=x onerror=&#34;window.__xss=33&#34;&gt;", "␛[31m\uFFFD"} {
		if !strings.Contains(settings, want) {
			t.Errorf("settings page lacks the escaped failure %q", want)
		}
	}
}

func TestSafeURLAndClean(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"https://example.com/a?b=c", "https://example.com/a?b=c"},
		{"HTTP://example.com", "HTTP://example.com"},
		{"javascript:alert(1)", ""},
		{"JaVaScRiPt:alert(1)", ""},
		{" javascript:alert(1)", ""},
		{"data:text/html,<script>", ""},
		{"//evil.example/x", ""},
		{"/relative", ""},
		{"vbscript:x", ""},
		{"http://" + strings.Repeat("a", 3000), ""},
	} {
		if got := safeURL(tt.in); got != tt.want {
			t.Errorf("safeURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, tt := range []struct {
		in        string
		n         int
		multiline bool
		want      string
	}{
		{"plain", 10, false, "plain"},
		{"a\x00b\x1bc\x7f", 10, false, "a␀b␛c␡"},
		{"line1\nline2\r\n", 20, true, "line1\nline2\n"},
		{"line1\nline2", 20, false, "line1⏎line2"},
		{"tab\there", 20, false, "tab here"},
		{"\u202eevil\u2066", 10, false, "\uFFFDevil\uFFFD"},
		{"bad\xffutf8", 10, false, "bad\uFFFDutf8"},
		{"\u0085next", 10, false, "\uFFFDnext"},
		{"ééééé", 3, false, "ééé…"},
		{strings.Repeat("x", 20), 5, false, "xxxxx…"},
	} {
		if got := clean(tt.in, tt.n, tt.multiline); got != tt.want {
			t.Errorf("clean(%q, %d, %v) = %q, want %q", tt.in, tt.n, tt.multiline, got, tt.want)
		}
	}
}

// TestBrowserRunsNoEventScript loads every page of the hostile event in
// Chromium and checks that no payload ran.
func TestBrowserRunsNoEventScript(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.ingest(t, s.project.ID, []byte(hostileEvent))
	iss := s.issues(t, s.project.ID)[0]
	backendPages := hostileBackend(t, s, s.project.ID)
	srv := httptest.NewServer(s.mux)
	defer srv.Close()
	ctx := newBrowser(t)
	do(t, ctx, "log in", chromedp.Navigate(srv.URL+"/accounts/login/"),
		chromedp.SendKeys(chromedp.CSS("input[name=name]"), "admin"),
		chromedp.SendKeys(chromedp.CSS("input[name=password]"), testPassword),
		chromedp.Click(chromedp.ID("login")), chromedp.WaitVisible(chromedp.ID("logout")))
	for _, target := range append(xssPages(iss.ID, s.project.ID), backendPages...) {
		do(t, ctx, target, chromedp.Navigate(srv.URL+target), chromedp.WaitReady(chromedp.CSS("main")))
		// Open every frame, so that markup inside collapsed details is live too.
		get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("details").forEach(d => d.open = true); 0`))
		if v := get(t, ctx, chromedp.Evaluate[string](`String(window.__xss)`)); v != "undefined" {
			t.Errorf("%s: an event payload ran (window.__xss = %s)", target, v)
		}
		if title := get(t, ctx, chromedp.Title()); strings.Contains(title, "pwned") || !strings.HasSuffix(title, "tinysink") {
			t.Errorf("%s: title %q", target, title)
		}
		// The only scripts a page may load are the static ones.
		if n := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("script:not([src^='/static/']), iframe, img, svg[onload], a[href^='javascript']").length`)); n != 0 {
			t.Errorf("%s: %d live elements from event data", target, n)
		}
	}
}
