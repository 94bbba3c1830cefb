package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestAccountAlertSettings(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	other, err := s.db.CreateProject("Other")
	if err != nil {
		t.Fatal(err)
	}
	hidden, err := s.db.CreateProject("Hidden")
	if err != nil {
		t.Fatal(err)
	}
	s.db.SetUserProjects("user", []int{s.project.ID, other.ID})
	user := s.login(t, "user")

	rec := s.do("GET", "/accounts/", nil, user)
	page := rec.Body.String()
	checkPage(t, "/accounts/", rec.Code, page)
	for _, want := range []string{"Shop", "Other", "no alert emails are sent to you", `href="/accounts/password/"`} {
		if !strings.Contains(page, want) {
			t.Errorf("account page lacks %q", want)
		}
	}
	if strings.Contains(page, "Hidden") {
		t.Error("the account page lists a project the user cannot see")
	}

	// An address, and alerts for Shop only.
	rec = s.do("POST", "/accounts/alerts/", url.Values{"address": {" ops@example.org "}, "project": {fmt.Sprint(s.project.ID), fmt.Sprint(hidden.ID)}}, user)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("save: %d %s", rec.Code, rec.Body.String())
	}
	if a, _ := s.db.AlertAddress("user"); a != "ops@example.org" {
		t.Errorf("alert address = %q", a)
	}
	for pid, want := range map[int]bool{s.project.ID: true, other.ID: false, hidden.ID: true} {
		if on, _ := s.db.EmailAlerts("user", pid); on != want {
			t.Errorf("email alerts for project %d = %v, want %v", pid, on, want)
		}
	}
	if rs, _ := s.db.AlertRecipients(other.ID); len(rs) != 0 {
		t.Errorf("recipients of the opted-out project: %+v", rs)
	}
	page = s.do("GET", "/accounts/?saved", nil, user).Body.String()
	if !strings.Contains(page, `value="ops@example.org"`) || !strings.Contains(page, fmt.Sprintf(`value="%d" checked> Shop`, s.project.ID)) || strings.Contains(page, fmt.Sprintf(`value="%d" checked`, other.ID)) {
		t.Error("the account page does not show what was saved")
	}
	settings := s.do("GET", fmt.Sprintf("/projects/%d/settings/", other.ID), nil, user).Body.String()
	if !strings.Contains(settings, "Your email alerts for this project are <b>off</b>") {
		t.Error("the project settings page does not show the user's opt-out")
	}

	// A bad address is refused and changes nothing.
	for _, bad := range []string{"not an address", "Ops <ops@example.org>", "a@b\r\nBcc: x@y"} {
		rec := s.do("POST", "/accounts/alerts/", url.Values{"address": {bad}}, user)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "not an email address") {
			t.Errorf("address %q: %d", bad, rec.Code)
		}
	}
	if on, _ := s.db.EmailAlerts("user", s.project.ID); !on {
		t.Error("a refused form changed the opt-outs")
	}
	// Empty goes back to the user name (not an address here).
	s.do("POST", "/accounts/alerts/", url.Values{"address": {""}, "project": {fmt.Sprint(s.project.ID)}}, user)
	if a, _ := s.db.AlertAddress("user"); a != "" {
		t.Errorf("alert address after clearing = %q", a)
	}
	// Each user changes only their own settings.
	if a, _ := s.db.AlertAddress("admin"); a != "" {
		t.Errorf("admin's address = %q", a)
	}
	if on, _ := s.db.EmailAlerts("admin", other.ID); !on {
		t.Error("the user's opt-out reached the admin")
	}
}
