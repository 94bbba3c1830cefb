package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tinysink/tinysink/store"
)

// searchEvents are three events that each search key tells apart, with
// their titles.
var searchEvents = []struct{ title, body string }{
	{"ZeroDivisionError: division by zero", `{"level":"error","environment":"production","release":"1.0.0","server_name":"web-1",
	 "transaction":"/checkout","user":{"id":"42","email":"alice@example.com"},
	 "contexts":{"browser":{"name":"Chrome","version":"120"},"os":{"name":"Linux"},"trace":{"trace_id":"aaaabbbbccccddddeeeeffff00001111","span_id":"1234567890abcdef"}},
	 "exception":{"values":[{"type":"ZeroDivisionError","value":"division by zero","stacktrace":{"frames":[
	   {"function":"handle_request","module":"web.views","filename":"app/web/views.py","in_app":true},
	   {"function":"compute_total","module":"billing.invoice","filename":"app/billing/invoice.py","in_app":true}]}}]}}`},
	{"Disk almost full", `{"level":"warning","environment":"staging","release":"2.0.0","server_name":"web-2",
	 "transaction":"/upload","user":{"email":"bob@example.com"},"tags":{"customer":"acme"},
	 "contexts":{"browser":{"name":"Firefox","version":"133"},"os":{"name":"Windows","version":"11"}},
	 "message":"Disk almost full"}`},
	{"KeyError: 'user_id'", `{"environment":"production-eu","release":"1.1.0",
	 "exception":{"values":[{"type":"KeyError","value":"'user_id'"}]}}`},
}

// searchCases are queries for each key and the titles (by index into
// searchEvents) they find; the third issue is resolved.
var searchCases = []struct {
	q    string
	want []int
}{
	{"level:warning", []int{1}},
	{"environment:prod", []int{0, 2}},
	{"release:1.0.0", []int{0}},
	{"user.email:alice@example.com", []int{0}},
	{"user.id:42", []int{0}},
	{"browser:firefox*", []int{1}},
	{"os:windows*", []int{1}},
	{"server_name:web-2", []int{1}},
	{"transaction:/checkout", []int{0}},
	{"trace:aaaabbbbccccddddeeeeffff00001111", []int{0}},
	{"customer:acme", []int{1}},
	{"is:resolved", []int{2}},
	{"!level:error", []int{1}},
	{"first_seen:<24h", []int{2}},
	{`browser:"Chrome 120"`, []int{0}},
	{"ZeroDivisionError: division by zero", []int{0}},
	{"compute_total", []int{0}},
	{"invoice.py", []int{0}},
}

// newSearchServer is a test server holding the searchEvents' issues, the
// first two seen two days ago, the third now and resolved.
func newSearchServer(t *testing.T) (*testServer, []uint32) {
	t.Helper()
	s := newTestServer(t)
	now := s.now
	var ids []uint32
	for i, e := range searchEvents {
		s.now = now.Add(-48 * time.Hour)
		if i == 2 {
			s.now = now
		}
		s.ingest(t, s.project.ID, []byte(e.body))
		all := s.issues(t, s.project.ID)
		ids = append(ids, all[len(all)-1].ID)
	}
	s.now = now
	if _, err := s.db.ApplyAction(ids[2], store.ActionResolve, "admin", ""); err != nil {
		t.Fatal(err)
	}
	return s, ids
}

func titlesOf(want []int) string {
	var out []string
	for _, i := range want {
		out = append(out, searchEvents[i].title)
	}
	slices.Sort(out)
	return strings.Join(out, " | ")
}

func TestIssueListSearch(t *testing.T) {
	t.Parallel()
	s, _ := newSearchServer(t)
	c := s.login(t, "admin")
	for _, tt := range searchCases {
		rec := s.do("GET", fmt.Sprintf("/projects/%d/?tab=all&q=%s", s.project.ID, url.QueryEscape(tt.q)), nil, c)
		if rec.Code != http.StatusOK {
			t.Errorf("%q: status %d", tt.q, rec.Code)
			continue
		}
		var got []int
		for i, e := range searchEvents {
			if strings.Contains(rec.Body.String(), escaped(e.title)) {
				got = append(got, i)
			}
		}
		if titlesOf(got) != titlesOf(tt.want) {
			t.Errorf("list %q shows %q, want %q", tt.q, titlesOf(got), titlesOf(tt.want))
		}
	}
	rec := s.do("GET", fmt.Sprintf("/projects/%d/?q=is:asleep", s.project.ID), nil, c)
	if !strings.Contains(rec.Body.String(), `id="search-error"`) || !strings.Contains(rec.Body.String(), "is: takes") {
		t.Errorf("a bad query does not say why: %s", rec.Body.String())
	}
}

// escaped escapes s as html/template shows it in the list.
func escaped(s string) string { return strings.ReplaceAll(s, "'", "&#39;") }

func TestAPIIssueSearch(t *testing.T) {
	t.Parallel()
	s, ids := newSearchServer(t)
	api := NewAPI(s.db, "http://127.0.0.1", nil)
	mux := http.NewServeMux()
	api.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tok, err := s.db.CreateToken()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range searchCases {
		code, body := call(t, srv, tok, "GET", fmt.Sprintf("/api/canonical/0/issues/?project=%d&query=%s", s.project.ID, url.QueryEscape(tt.q)), "")
		if code != http.StatusOK {
			t.Errorf("%q: status %d: %v", tt.q, code, body)
			continue
		}
		var got []int
		res, _ := body["results"].([]any)
		for _, r := range res {
			id, _ := strconv.Atoi(r.(map[string]any)["id"].(string))
			got = append(got, slices.Index(ids, uint32(id)))
		}
		if titlesOf(got) != titlesOf(tt.want) {
			t.Errorf("API %q = %q, want %q", tt.q, titlesOf(got), titlesOf(tt.want))
		}
	}
	code, body := call(t, srv, tok, "GET", fmt.Sprintf("/api/canonical/0/issues/?project=%d&query=%s", s.project.ID, url.QueryEscape("first_seen:soon")), "")
	if b, _ := json.Marshal(body); code != http.StatusBadRequest || !strings.Contains(string(b), "want a date") {
		t.Errorf("bad query: %d %s, want 400 with the reason", code, b)
	}
}

func TestIssueEventSearch(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	for _, email := range []string{"a@example.com", "b@example.com", "a@example.com"} {
		s.ingest(t, s.project.ID, fmt.Appendf(nil, `{"message":"same","user":{"email":%q},"tags":{"n":%q}}`, email, email))
	}
	iss := s.issues(t, s.project.ID)
	if len(iss) != 1 {
		t.Fatalf("%d issues, want 1", len(iss))
	}
	c := s.login(t, "admin")
	for _, tt := range []struct {
		q    string
		want int
	}{{"user.email:a@example.com", 2}, {"user.email:b@example.com", 1}, {"-user.email:b@example.com", 2}, {"same", 3}, {"other", 0}} {
		rec := s.do("GET", fmt.Sprintf("/issues/%d/events/?q=%s", iss[0].ID, url.QueryEscape(tt.q)), nil, c)
		if got := strings.Count(rec.Body.String(), `<td class="num">`); got != tt.want || !strings.Contains(rec.Body.String(), `id="event-search"`) {
			t.Errorf("events %q: %d rows, want %d", tt.q, got, tt.want)
		}
	}
}

// TestBrowserSearch types a search for each key into the issue list's
// search box in Chromium and reads the titles listed; then follows a tag
// value's link from an issue page.
func TestBrowserSearch(t *testing.T) {
	t.Parallel()
	s, ids := newSearchServer(t)
	srv := httptest.NewServer(s.mux)
	defer srv.Close()
	ctx := newBrowser(t)
	do(t, ctx, "log in",
		chromedp.Navigate(srv.URL+"/accounts/login/"),
		chromedp.WaitVisible(chromedp.ID("login")),
		chromedp.SendKeys(chromedp.CSS("input[name=name]"), "admin"),
		chromedp.SendKeys(chromedp.CSS("input[name=password]"), testPassword),
		chromedp.Click(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("logout")))
	list := fmt.Sprintf("%s/projects/%d/?tab=all", srv.URL, s.project.ID)
	titles := `[...document.querySelectorAll("ul.issues a.title")].map(a => a.textContent.replace(/^\W+ /, "")).sort().join(" | ")`
	do(t, ctx, "open the list", chromedp.Navigate(list))
	for i, tt := range searchCases {
		// Each search is typed into the box of the previous one's results;
		// the page that answers carries a marker of which search it is.
		do(t, ctx, "search "+tt.q,
			chromedp.WaitVisible(chromedp.CSS("input[name=q]")),
			chromedp.Evaluate[chromedp.Void](`document.querySelector("input[name=q]").value = ""`),
			chromedp.SendKeys(chromedp.CSS("input[name=q]"), tt.q),
			chromedp.Submit(chromedp.CSS("input[name=q]")))
		waitFor(t, ctx, fmt.Sprintf(`document.readyState == "complete" && new URLSearchParams(location.search).get("q") == %q`, searchCases[i].q))
		if got := get(t, ctx, chromedp.Evaluate[string](titles)); got != titlesOf(tt.want) {
			t.Errorf("browser search %q lists %q, want %q", tt.q, got, titlesOf(tt.want))
		}
	}
	// A tag value on the issue's Tags tab links to the list filtered by it.
	do(t, ctx, "follow a tag link",
		chromedp.Navigate(fmt.Sprintf("%s/issues/%d/tags/", srv.URL, ids[1])),
		chromedp.Click(`//div[@class="dist"]//a[text()="acme"]`),
		chromedp.WaitVisible(chromedp.CSS("ul.issues")))
	if got := get(t, ctx, chromedp.Evaluate[string](titles)); got != titlesOf([]int{1}) {
		t.Errorf("the customer:acme link lists %q", got)
	}
	if q := get(t, ctx, chromedp.Evaluate[string](`document.querySelector("input[name=q]").value`)); q != "customer:acme" {
		t.Errorf("the search box holds %q after the tag link", q)
	}
}

// waitFor polls expression until it is true, across page loads (a poll
// running in the page fails when the page goes).
func waitFor(t *testing.T, ctx context.Context, expression string) {
	t.Helper()
	// Every 5 ms (chromedp's own query interval): a search's page loads
	// in well under 100 ms, so a coarser poll mostly waits after it.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expression)); err == nil && ok {
			return
		}
	}
	t.Fatalf("waited 5 s for %s", expression)
}
