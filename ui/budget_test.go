package ui

import (
	"encoding/json"
	"net/http"
	"slices"
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
	for _, want := range []string{"Resident (VmRSS)", "Memory limit", "<td>ui-templates</td>", `<tr><th>spool_backlog</th><td>7</td></tr>`, `href="/debug/budget/" aria-current="page"`} {
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

func TestStatusRows(t *testing.T) {
	t.Parallel()
	var v any
	json.Unmarshal([]byte(`{"Spool":{"files":3,"bytes":1048576,"dirs":["a","b"]},"Digest":{"last":null,"ok":true,"note":"<b>x</b>","empty":{}}}`), &v)
	got := statusRows("", v, nil)
	want := []kv{{"Digest.empty", "none"}, {"Digest.last", "–"}, {"Digest.note", "<b>x</b>"}, {"Digest.ok", "true"},
		{"Spool.bytes", "1048576"}, {"Spool.dirs.0", "a"}, {"Spool.dirs.1", "b"}, {"Spool.files", "3"}}
	if !slices.Equal(got, want) {
		t.Errorf("statusRows = %v\nwant %v", got, want)
	}
	var big []any
	for i := range 1000 {
		big = append(big, i)
	}
	if n := len(statusRows("", big, nil)); n != maxStatusRows {
		t.Errorf("%d rows from 1000 values, want the cap %d", n, maxStatusRows)
	}
}
