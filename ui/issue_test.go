package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestIssueDeleteNeedsConfirmation(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.ingest(t, s.project.ID, []byte(`{"message":"doomed"}`), []byte(`{"message":"kept"}`))
	issues := s.issues(t, s.project.ID)
	var doomed, kept = issues[0], issues[1]
	if doomed.CalculatedValue != "doomed" {
		doomed, kept = kept, doomed
	}
	admin := s.login(t, "admin")
	target := fmt.Sprintf("/issues/%d/delete/", doomed.ID)

	if page := s.do("GET", fmt.Sprintf("/issues/%d/event/last/", doomed.ID), nil, admin).Body.String(); !strings.Contains(page, `href="`+target+`"`) {
		t.Error("the issue page has no link to delete the issue")
	}
	rec := s.do("GET", target, nil, admin)
	checkPage(t, target, rec.Code, rec.Body.String())
	if body := rec.Body.String(); !strings.Contains(body, "doomed") || !strings.Contains(body, `name="confirm" value="yes" required`) {
		t.Error("the confirmation page lacks the title or the checkbox")
	}
	if rec := s.do("POST", target, url.Values{}, admin); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "Tick the box") {
		t.Errorf("delete without the box: %d", rec.Code)
	}
	if _, err := s.db.Issue(doomed.ID); err != nil {
		t.Fatal("an unconfirmed delete deleted the issue")
	}
	rec = s.do("POST", target, url.Values{"confirm": {"yes"}}, admin)
	if loc := rec.Header().Get("Location"); rec.Code != http.StatusSeeOther || loc != fmt.Sprintf("/projects/%d/?deleted", s.project.ID) {
		t.Fatalf("delete: %d to %q", rec.Code, loc)
	}
	if _, err := s.db.Issue(doomed.ID); err == nil {
		t.Error("the issue is still there")
	}
	list := s.do("GET", rec.Header().Get("Location"), nil, admin).Body.String()
	if !strings.Contains(list, "The issue was deleted.") || strings.Contains(list, "doomed") || !strings.Contains(list, "kept") {
		t.Error("the issue list after the delete is wrong")
	}
	if rec := s.do("GET", target, nil, admin); rec.Code != http.StatusNotFound {
		t.Errorf("the deleted issue's page: %d, want 404", rec.Code)
	}
	// A new event with the same grouping opens a new issue.
	s.ingest(t, s.project.ID, []byte(`{"message":"doomed"}`))
	if n := len(s.issues(t, s.project.ID)); n != 2 {
		t.Errorf("%d issues after the event came back, want 2", n)
	}
	// A user without the project cannot delete; a member can.
	user := s.login(t, "user")
	kt := fmt.Sprintf("/issues/%d/delete/", kept.ID)
	if rec := s.do("POST", kt, url.Values{"confirm": {"yes"}}, user); rec.Code != http.StatusNotFound {
		t.Errorf("a user without the project deleted: %d", rec.Code)
	}
	s.db.SetUserProjects("user", []int{s.project.ID})
	if rec := s.do("POST", kt, url.Values{"confirm": {"yes"}}, user); rec.Code != http.StatusSeeOther {
		t.Errorf("a member's delete: %d", rec.Code)
	}
}

func TestBrowserAndOSFromUserAgent(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	const firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	s.ingest(t, s.project.ID,
		[]byte(`{"message":"ua only","request":{"url":"http://x/","headers":{"User-Agent":"`+firefox+`"}}}`),
		[]byte(`{"message":"has browser","request":{"headers":[["user-agent","`+firefox+`"]]},"contexts":{"browser":{"name":"Chrome","version":"120"}}}`),
		[]byte(`{"message":"no request"}`))
	admin := s.login(t, "admin")
	details := map[string]string{}
	for _, iss := range s.issues(t, s.project.ID) {
		details[iss.CalculatedValue] = s.do("GET", fmt.Sprintf("/issues/%d/event/last/details/", iss.ID), nil, admin).Body.String()
	}
	const derivedBrowser, derivedOS = "browser (from the User-Agent header)", "os (from the User-Agent header)"
	for _, tt := range []struct {
		issue     string
		want, not []string
	}{
		{"ua only", []string{derivedBrowser, "<td>Firefox</td>", "<td>128.0</td>", derivedOS, "<td>Linux</td>"}, nil},
		{"has browser", []string{derivedOS, "<td>Chrome</td>"}, []string{derivedBrowser, "<td>Firefox</td>"}},
		{"no request", nil, []string{derivedBrowser, derivedOS}},
	} {
		body := details[tt.issue]
		if body == "" {
			t.Fatalf("no details page for %q", tt.issue)
		}
		for _, w := range tt.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: details lack %q", tt.issue, w)
			}
		}
		for _, n := range tt.not {
			if strings.Contains(body, n) {
				t.Errorf("%s: details show %q", tt.issue, n)
			}
		}
	}
}

// The issue's main page (its last event) links the older event and the
// first, and no newer one; an issue of one event links neither.
func TestLastEventNavigation(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	admin := s.login(t, "admin")
	for i := range 3 {
		s.ingest(t, s.project.ID, []byte(fmt.Sprintf(`{"message":"nav","extra":{"n":%d}}`, i)))
	}
	iss := s.issues(t, s.project.ID)
	if len(iss) != 1 || iss[0].StoredEventCount != 3 {
		t.Fatalf("issues = %+v", iss)
	}
	prefix := fmt.Sprintf("/issues/%d/event/", iss[0].ID)
	body := s.do("GET", prefix+"last/", nil, admin).Body.String()
	if !strings.Contains(body, `href="`+prefix+`2/"`) || !strings.Contains(body, `href="`+prefix+`first/"`) || strings.Contains(body, `href="`+prefix+`last/"`) {
		t.Errorf("last event page: want links to event 2 and first, none to last:\n%s", grepLinks(body, prefix))
	}
	s.ingest(t, s.project.ID, []byte(`{"message":"alone"}`))
	for _, is := range s.issues(t, s.project.ID) {
		if is.StoredEventCount != 1 {
			continue
		}
		p := fmt.Sprintf("/issues/%d/event/", is.ID)
		body := s.do("GET", p+"last/", nil, admin).Body.String()
		if strings.Contains(body, `href="`+p+`first/"`) || strings.Contains(body, `href="`+p+`last/"`) {
			t.Errorf("one event's page links first or last:\n%s", grepLinks(body, p))
		}
	}
}

// grepLinks returns the lines of body that hold a link starting with prefix.
func grepLinks(body, prefix string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, prefix) {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return strings.Join(out, "\n")
}
