package ui

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tinysink/tinysink/store"
)

// TestReleaseHealthPages: the releases page lists each release's health,
// an issue shows its releases' crash-free rates, and the project page says
// what the SDKs and ingest dropped this week.
func TestReleaseHealthPages(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	pid := s.project.ID
	s.ingest(t, pid, []byte(`{"event_id":"0123456789abcdef0123456789abcdef","release":"web@2.0","exception":{"values":[{"type":"KeyError","value":"boom"}]}}`))
	err := s.db.Digest(func(tx *store.Tx) error {
		for i := range 8 {
			u := store.SessionUpdate{Release: "web@2.0", Environment: "production", At: s.now, Sessions: 1, User: fmt.Sprint("u", i)}
			if i == 0 {
				u.Crashed, u.UserCrashed = 1, true
			}
			if err := tx.AddSession(pid, u); err != nil {
				return err
			}
		}
		if err := tx.AddClientReport(pid, s.now, "ratelimit_backoff", "error", 1204); err != nil {
			return err
		}
		return tx.AddDroppedItems(pid, s.now, "profile", 3)
	})
	if err != nil {
		t.Fatal(err)
	}
	cookie := s.login(t, "admin")

	target := fmt.Sprintf("/projects/%d/releases/", pid)
	w := s.do("GET", target, nil, cookie)
	checkPage(t, target, w.Code, w.Body.String())
	body := w.Body.String()
	for _, want := range []string{"web@2.0", "production", ">87.5%<", ">100%<"} {
		if !strings.Contains(body, want) {
			t.Errorf("releases page lacks %q", want)
		}
	}

	iss := s.issues(t, pid)[0]
	target = fmt.Sprintf("/issues/%d/event/last/", iss.ID)
	w = s.do("GET", target, nil, cookie)
	checkPage(t, target, w.Code, w.Body.String())
	if !strings.Contains(w.Body.String(), "web@2.0 <span class=\"health\"") || !strings.Contains(w.Body.String(), "(87.5% crash-free)") {
		t.Errorf("issue page does not show the release's crash-free rate")
	}

	target = fmt.Sprintf("/projects/%d/", pid)
	w = s.do("GET", target, nil, cookie)
	checkPage(t, target, w.Code, w.Body.String())
	page := strings.ReplaceAll(w.Body.String(), "\u202f", ",") // count's thousands separator
	for _, want := range []string{"Your SDKs dropped 1,204 events this week: 1,204 to rate limits.", "Received but not kept this week: 3 profile"} {
		if !strings.Contains(page, want) {
			t.Errorf("project page lacks %q", want)
		}
	}

	// No sessions: no percentages, and no notice.
	p2, _ := s.db.CreateProject("Empty")
	target = fmt.Sprintf("/projects/%d/releases/", p2.ID)
	if w := s.do("GET", target, nil, cookie); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "No releases yet") {
		t.Errorf("empty releases page: %d", w.Code)
	}
}
