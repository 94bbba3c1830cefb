package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/tinysink/tinysink/store"
)

func TestProjectQuotaOverride(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	admin := s.login(t, "admin")
	pid := s.project.ID
	settings := fmt.Sprintf("/projects/%d/settings/", pid)
	target := fmt.Sprintf("/projects/%d/quota/", pid)

	page := s.do("GET", settings, nil, admin).Body.String()
	for _, want := range []string{`name="per_5_minutes"`, "installation default: 1\u202f000", "installation default: 1\u202f000\u202f000"} {
		if !strings.Contains(page, want) {
			t.Errorf("settings page lacks %q", want)
		}
	}
	quota := func() *store.QuotaLimits {
		p, err := s.db.Project(pid)
		if err != nil {
			t.Fatal(err)
		}
		return p.Quota
	}
	for _, tt := range []struct {
		name string
		form url.Values
		want *store.QuotaLimits
	}{
		{"all three", url.Values{"per_5_minutes": {"10"}, "per_hour": {"100"}, "per_month": {"0"}}, &store.QuotaLimits{FiveMin: 10, Hour: 100, Month: 0}},
		{"one, the others default", url.Values{"per_hour": {"7"}}, &store.QuotaLimits{FiveMin: 1000, Hour: 7, Month: 1000000}},
		{"none: installation defaults", url.Values{"per_5_minutes": {" "}, "per_hour": {""}}, nil},
	} {
		rec := s.do("POST", target, tt.form, admin)
		if rec.Code != http.StatusSeeOther {
			t.Errorf("%s: %d %s", tt.name, rec.Code, rec.Body.String())
			continue
		}
		got := quota()
		if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
			t.Errorf("%s: quota = %+v, want %+v", tt.name, got, tt.want)
		}
		if q, ok := s.db.ProjectQuota(pid); ok != (tt.want != nil) || ok && q != *tt.want {
			t.Errorf("%s: ingest's copy = %+v, %v", tt.name, q, ok)
		}
	}
	s.do("POST", target, url.Values{"per_5_minutes": {"10"}, "per_hour": {"100"}, "per_month": {"0"}}, admin)
	page = s.do("GET", settings, nil, admin).Body.String()
	if !strings.Contains(page, `name="per_hour" type="number" min="0" value="100"`) {
		t.Error("the form does not show the override")
	}
	for _, bad := range []string{"-1", "ten", "1.5", "99999999999999999999"} {
		if rec := s.do("POST", target, url.Values{"per_hour": {bad}}, admin); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "Not saved") {
			t.Errorf("quota %q: %d, want 400 with a message", bad, rec.Code)
		}
	}
	if q := quota(); q == nil || q.Hour != 100 {
		t.Errorf("a refused form changed the quota: %+v", q)
	}

	// Without known defaults, a partial override is refused.
	s.ui.quotaDef = nil
	if rec := s.do("POST", target, url.Values{"per_hour": {"5"}}, admin); rec.Code != http.StatusBadRequest {
		t.Errorf("partial override without defaults: %d, want 400", rec.Code)
	}
	if page := s.do("GET", settings, nil, admin).Body.String(); strings.Contains(page, "installation default:") {
		t.Error("the page shows defaults it does not know")
	}

	// Members see the quota, and cannot change it.
	s.db.SetUserProjects("user", []int{pid})
	user := s.login(t, "user")
	page = s.do("GET", settings, nil, user).Body.String()
	if !strings.Contains(page, "Quota: 10 per 5 minutes, 100 per hour, 0 per month") || strings.Contains(page, `name="per_hour"`) {
		t.Error("a member's settings page does not show the quota read-only")
	}
	if rec := s.do("POST", target, url.Values{"per_hour": {"1"}}, user); rec.Code != http.StatusForbidden {
		t.Errorf("a member changed the quota: %d", rec.Code)
	}
}

func TestProjectScrubbingSettings(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	admin := s.login(t, "admin")
	pid := s.project.ID
	target := fmt.Sprintf("/projects/%d/scrubbing/", pid)
	scrub := func() store.ScrubSettings {
		p, err := s.db.Project(pid)
		if err != nil {
			t.Fatal(err)
		}
		return p.Scrub
	}
	page := s.do("GET", fmt.Sprintf("/projects/%d/settings/", pid), nil, admin).Body.String()
	if !strings.Contains(page, `name="scrub" value="1" checked`) || strings.Contains(page, `name="ip" value="1" checked`) {
		t.Error("a new project's scrubbing form is not on, without IP removal")
	}
	rec := s.do("POST", target, url.Values{"scrub": {"1"}, "ip": {"1"}, "extra_keys": {"iban\r\n  member_no , IBAN\n\n"}}, admin)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("save scrubbing: %d %s", rec.Code, rec.Body.String())
	}
	if got := scrub(); got.Off || !got.IP || !slices.Equal(got.ExtraKeys, []string{"iban", "member_no"}) {
		t.Errorf("scrubbing = %+v", got)
	}
	page = s.do("GET", fmt.Sprintf("/projects/%d/settings/", pid), nil, admin).Body.String()
	if !strings.Contains(page, ">iban\nmember_no</textarea>") {
		t.Error("the form does not show the extra keys one per line")
	}
	// Unchecking scrub turns it off; the form is the only way to send that.
	s.do("POST", target, url.Values{"extra_keys": {""}}, admin)
	if got := scrub(); !got.Off || got.IP || len(got.ExtraKeys) != 0 {
		t.Errorf("scrubbing after unchecking = %+v", got)
	}
	var many []string
	for i := range maxScrubKeys + 1 {
		many = append(many, fmt.Sprint("key", i))
	}
	for _, bad := range []string{strings.Repeat("k", maxScrubKeyLen+1), "a\x00b", strings.Join(many, ",")} {
		if rec := s.do("POST", target, url.Values{"scrub": {"1"}, "extra_keys": {bad}}, admin); rec.Code != http.StatusBadRequest {
			t.Errorf("extra keys %.20q: %d, want 400", bad, rec.Code)
		}
	}
	if got := scrub(); !got.Off {
		t.Error("a refused form changed the scrubbing")
	}
	// The settings form of name and retention leaves scrubbing alone.
	s.do("POST", target, url.Values{"scrub": {"1"}}, admin)
	s.do("POST", fmt.Sprintf("/projects/%d/settings/", pid), url.Values{"name": {"Shop"}, "retention": {"100"}}, admin)
	if got := scrub(); got.Off {
		t.Error("saving the other settings turned scrubbing off")
	}
	s.db.SetUserProjects("user", []int{pid})
	user := s.login(t, "user")
	if rec := s.do("POST", target, url.Values{}, user); rec.Code != http.StatusForbidden {
		t.Errorf("a member changed scrubbing: %d", rec.Code)
	}
	if got := scrub(); got.Off {
		t.Error("a member's post turned scrubbing off")
	}
}
