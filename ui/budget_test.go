package ui

import (
	"net/http"
	"strings"
	"testing"
)

func TestBudgetPage(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	admin := s.login(t, "admin")
	rec := s.do("GET", "/debug/budget/", nil, admin)
	body := rec.Body.String()
	checkPage(t, "/debug/budget/", rec.Code, body)
	for _, want := range []string{"Resident (VmRSS)", "Memory limit", "<td>ui-templates</td>", `&#34;spool_backlog&#34;: 7`, `href="/debug/budget/" aria-current="page"`} {
		if !strings.Contains(body, want) {
			t.Errorf("budget page lacks %q", want)
		}
	}
	if page := s.do("GET", "/projects/", nil, admin).Body.String(); !strings.Contains(page, `href="/debug/budget/"`) {
		t.Error("admins have no link to the budget page")
	}
	user := s.login(t, "user")
	if rec := s.do("GET", "/debug/budget/", nil, user); rec.Code != http.StatusForbidden {
		t.Errorf("a plain user opened the budget page: %d", rec.Code)
	}
	if page := s.do("GET", "/projects/", nil, user).Body.String(); strings.Contains(page, "/debug/budget/") {
		t.Error("a plain user sees the link to the budget page")
	}
	// Without Config.Status there is no status section.
	s.ui.status = nil
	if body := s.do("GET", "/debug/budget/", nil, admin).Body.String(); strings.Contains(body, "<h2>Status</h2>") {
		t.Error("a status section without Config.Status")
	}
}
