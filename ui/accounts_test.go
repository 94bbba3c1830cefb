package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tinysink/tinysink/store"
)

// get renders a page for cookie and checks it rendered cleanly.
func (s *testServer) page(t *testing.T, target string, cookie *http.Cookie) string {
	t.Helper()
	rec := s.do("GET", target, nil, cookie)
	checkPage(t, target, rec.Code, rec.Body.String())
	return rec.Body.String()
}

func TestUsersPageManagesAccounts(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	admin := s.login(t, "admin")
	user := s.login(t, "user")
	post := func(target string, form url.Values, c *http.Cookie) int {
		t.Helper()
		return s.do("POST", target, form, c).Code
	}
	page := s.page(t, "/users/", admin)
	for _, want := range []string{`value="promote"`, `value="password"`, `href="/users/user/delete/"`, `id="make-invite"`, `href="/tokens/"`} {
		if !strings.Contains(page, want) {
			t.Errorf("users page lacks %s", want)
		}
	}
	if code := post("/users/user/", url.Values{"op": {"promote"}}, user); code != http.StatusForbidden {
		t.Errorf("a plain user promoted someone: %d", code)
	}
	if code := post("/users/user/", url.Values{"op": {"promote"}}, admin); code != http.StatusSeeOther {
		t.Fatalf("promote: %d", code)
	}
	if u, _ := s.db.User("user"); !u.Admin {
		t.Error("promote did not make an admin")
	}
	if code := post("/users/user/", url.Values{"op": {"demote"}}, admin); code != http.StatusSeeOther {
		t.Fatalf("demote: %d", code)
	}
	if code := post("/users/admin/", url.Values{"op": {"demote"}}, admin); code != http.StatusBadRequest {
		t.Errorf("demoting oneself: %d", code)
	}
	// Reset another user's password: the user's sessions end.
	if code := post("/users/user/", url.Values{"op": {"password"}, "password": {"short"}}, admin); code != http.StatusBadRequest {
		t.Errorf("short password: %d", code)
	}
	if code := post("/users/user/", url.Values{"op": {"password"}, "password": {"brand-new-pass"}}, admin); code != http.StatusSeeOther {
		t.Fatalf("set password: %d", code)
	}
	if _, err := s.db.CheckPassword("user", "brand-new-pass"); err != nil {
		t.Error("the new password does not work")
	}
	if rec := s.do("GET", "/projects/", nil, user); rec.Code != http.StatusSeeOther {
		t.Errorf("the user's session survived a password reset: %d", rec.Code)
	}
	// Delete: a confirmation first; never oneself.
	checkPage(t, "/users/user/delete/", s.do("GET", "/users/user/delete/", nil, admin).Code, "")
	if code := post("/users/user/delete/", url.Values{}, admin); code != http.StatusBadRequest {
		t.Errorf("delete without confirm: %d", code)
	}
	if code := post("/users/admin/delete/", url.Values{"confirm": {"yes"}}, admin); code != http.StatusBadRequest {
		t.Errorf("deleting oneself: %d", code)
	}
	if code := post("/users/user/delete/", url.Values{"confirm": {"yes"}}, admin); code != http.StatusSeeOther {
		t.Fatalf("delete: %d", code)
	}
	if _, err := s.db.User("user"); err == nil {
		t.Error("the user was not deleted")
	}
}

func TestProjectDelete(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.ingest(t, s.project.ID, []byte(`{"message":"hello"}`))
	admin := s.login(t, "admin")
	target := fmt.Sprintf("/projects/%d/delete/", s.project.ID)
	if page := s.page(t, target, admin); !strings.Contains(page, "1 stored event") {
		t.Error("the confirmation does not say what goes")
	}
	if rec := s.do("POST", target, url.Values{}, admin); rec.Code != http.StatusBadRequest {
		t.Errorf("delete without confirm: %d", rec.Code)
	}
	if rec := s.do("POST", target, url.Values{"confirm": {"yes"}}, admin); rec.Code != http.StatusSeeOther {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body.String())
	}
	if _, err := s.db.Project(s.project.ID); err == nil {
		t.Error("the project is still there")
	}
}

func TestTokensPage(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	admin := s.login(t, "admin")
	if rec := s.do("GET", "/tokens/", nil, s.login(t, "user")); rec.Code != http.StatusForbidden {
		t.Errorf("a plain user sees the tokens page: %d", rec.Code)
	}
	rec := s.do("POST", "/tokens/", url.Values{"name": {"<script>window.__xss=1</script>"}, "scope": {"write"}, "project": {fmt.Sprint(s.project.ID)}}, admin)
	checkPage(t, "POST /tokens/", rec.Code, rec.Body.String())
	m := regexp.MustCompile(`<code id="token-secret">([0-9a-f]{40})</code>`).FindStringSubmatch(rec.Body.String())
	if m == nil {
		t.Fatalf("the new token's secret is not shown:\n%s", rec.Body.String())
	}
	if rawMarkup.MatchString(rec.Body.String()) {
		t.Error("the token's name is not escaped")
	}
	tok, ok := s.db.LookupToken(m[1])
	if !ok || !tok.Has(store.ScopeWrite) || tok.Has(store.ScopeAdmin) || tok.Project != int64(s.project.ID) {
		t.Fatalf("token = %+v, %v", tok, ok)
	}
	page := s.page(t, "/tokens/", admin)
	if strings.Contains(page, m[1]) {
		t.Error("the list shows the secret again")
	}
	for _, want := range []string{tok.ID, "Shop", "write", time.Now().UTC().Format("2006-01-02")} {
		if !strings.Contains(page, want) {
			t.Errorf("the list lacks %q (last use)", want)
		}
	}
	for _, bad := range []url.Values{{"scope": {"root"}}, {"scope": {"read"}, "project": {"999"}}, {"scope": {"read"}, "project": {"x"}}} {
		if rec := s.do("POST", "/tokens/", bad, admin); rec.Code != http.StatusBadRequest {
			t.Errorf("token %v: %d", bad, rec.Code)
		}
	}
	if rec := s.do("POST", "/tokens/"+tok.ID+"/revoke/", url.Values{}, admin); rec.Code != http.StatusSeeOther {
		t.Fatalf("revoke: %d", rec.Code)
	}
	if _, ok := s.db.LookupToken(m[1]); ok {
		t.Error("a revoked token still works")
	}
}

func TestTeams(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	other, _ := s.db.CreateProject("Other")
	s.db.CreateUser("lead", testPassword, false)
	admin, user := s.login(t, "admin"), s.login(t, "user")
	if rec := s.do("GET", "/teams/", nil, user); rec.Code != http.StatusForbidden {
		t.Errorf("a plain user sees the teams page: %d", rec.Code)
	}
	// A hostile team name is refused or escaped everywhere.
	rec := s.do("POST", "/teams/", url.Values{"name": {"<script>window.__xss=1</script>"}}, admin)
	if rec.Code != http.StatusBadRequest || rawMarkup.MatchString(rec.Body.String()) {
		t.Errorf("hostile team name: %d", rec.Code)
	}
	if rec := s.do("POST", "/teams/", url.Values{"name": {`Web "<b>key"`}}, admin); rec.Code != http.StatusSeeOther {
		t.Fatalf("create team: %d %s", rec.Code, rec.Body.String())
	}
	team := "/teams/" + url.PathEscape(`Web "<b>key"`) + "/"
	for _, f := range []url.Values{
		{"op": {"projects"}, "project": {fmt.Sprint(s.project.ID)}},
		{"op": {"member"}, "user": {"lead"}, "role": {"admin"}},
		{"op": {"member"}, "user": {"user"}, "role": {"member"}},
	} {
		if rec := s.do("POST", team, f, admin); rec.Code != http.StatusSeeOther {
			t.Fatalf("team %v: %d %s", f, rec.Code, rec.Body.String())
		}
	}
	if page := s.page(t, team, admin); rawMarkup.MatchString(page) || !strings.Contains(page, `id="member-lead"`) {
		t.Error("the team page escapes badly or lacks a member")
	}
	// The member sees the team's project, not the other; cannot manage it.
	if rec := s.do("GET", fmt.Sprintf("/projects/%d/", s.project.ID), nil, user); rec.Code != http.StatusOK {
		t.Errorf("member on the team's project: %d", rec.Code)
	}
	if rec := s.do("GET", fmt.Sprintf("/projects/%d/", other.ID), nil, user); rec.Code != http.StatusNotFound {
		t.Errorf("member on another project: %d", rec.Code)
	}
	settings := url.Values{"name": {"Shop 2"}, "retention": {"100"}}
	if rec := s.do("POST", fmt.Sprintf("/projects/%d/settings/", s.project.ID), settings, user); rec.Code != http.StatusForbidden {
		t.Errorf("member changed settings: %d", rec.Code)
	}
	// The team admin manages the team's project and members, nothing else.
	lead := s.login(t, "lead")
	if rec := s.do("POST", fmt.Sprintf("/projects/%d/settings/", s.project.ID), settings, lead); rec.Code != http.StatusSeeOther {
		t.Errorf("team admin on project settings: %d %s", rec.Code, rec.Body.String())
	}
	if p, _ := s.db.Project(s.project.ID); p.Name != "Shop 2" {
		t.Errorf("name = %q", p.Name)
	}
	if rec := s.do("POST", fmt.Sprintf("/projects/%d/settings/", other.ID), settings, lead); rec.Code != http.StatusForbidden {
		t.Errorf("team admin on another project: %d", rec.Code)
	}
	if rec := s.do("POST", fmt.Sprintf("/projects/%d/quota/", s.project.ID), url.Values{"per_hour": {"1"}}, lead); rec.Code != http.StatusForbidden {
		t.Errorf("team admin on the quota: %d", rec.Code)
	}
	if page := s.page(t, fmt.Sprintf("/projects/%d/settings/", s.project.ID), lead); strings.Contains(page, `id="quota"`) || !strings.Contains(page, `action="/projects/1/settings/"`) {
		t.Error("the team admin's settings page shows the wrong forms")
	}
	if rec := s.do("POST", team, url.Values{"op": {"member"}, "user": {"user"}, "role": {""}}, lead); rec.Code != http.StatusSeeOther {
		t.Errorf("team admin removes a member: %d", rec.Code)
	}
	if rec := s.do("POST", team, url.Values{"op": {"projects"}, "project": {fmt.Sprint(other.ID)}}, lead); rec.Code != http.StatusForbidden {
		t.Errorf("team admin adds a project: %d", rec.Code)
	}
	if rec := s.do("GET", fmt.Sprintf("/projects/%d/", s.project.ID), nil, user); rec.Code != http.StatusNotFound {
		t.Errorf("removed member still sees the project: %d", rec.Code)
	}
	if rec := s.do("POST", team, url.Values{"op": {"delete"}, "confirm": {"yes"}}, admin); rec.Code != http.StatusSeeOther {
		t.Errorf("delete team: %d", rec.Code)
	}
}

func TestInviteFlow(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.db.CreateTeam("web")
	admin := s.login(t, "admin")
	rec := s.do("POST", "/users/invites/", url.Values{"project": {fmt.Sprint(s.project.ID)}, "team": {"web"}}, admin)
	checkPage(t, "POST /users/invites/", rec.Code, rec.Body.String())
	m := regexp.MustCompile(`<code id="invite-link">http://127\.0\.0\.1:8000(/accounts/invite/[0-9a-f]{64}/)</code>`).FindStringSubmatch(rec.Body.String())
	if m == nil {
		t.Fatalf("no invite link on the page")
	}
	link := m[1]
	if page := s.page(t, link, nil); !strings.Contains(page, "admin invited you") {
		t.Error("the invite page does not say who invited")
	}
	for _, bad := range []url.Values{
		{"name": {"<script>window.__xss=1</script>"}, "password": {"long-enough"}, "password2": {"long-enough"}},
		{"name": {"new"}, "password": {"long-enough"}, "password2": {"different1"}},
		{"name": {"user"}, "password": {"long-enough"}, "password2": {"long-enough"}},
	} {
		rec := s.do("POST", link, bad, nil)
		if rec.Code != http.StatusBadRequest || rawMarkup.MatchString(rec.Body.String()) {
			t.Errorf("invite with %v: %d", bad, rec.Code)
		}
	}
	rec = s.do("POST", link, url.Values{"name": {"newbie"}, "password": {"long-enough"}, "password2": {"long-enough"}}, nil)
	if rec.Code != http.StatusSeeOther || len(rec.Result().Cookies()) == 0 {
		t.Fatalf("accept: %d", rec.Code)
	}
	u, err := s.db.User("newbie")
	if err != nil || u.Admin || !u.CanSee(s.project.ID) {
		t.Errorf("invited user = %+v, %v", u, err)
	}
	if tm, _ := s.db.Team("web"); tm.Role("newbie") != store.RoleMember {
		t.Error("the invitee did not join the team")
	}
	if rec := s.do("POST", link, url.Values{"name": {"again"}, "password": {"long-enough"}, "password2": {"long-enough"}}, nil); rec.Code != http.StatusNotFound {
		t.Errorf("second use: %d", rec.Code)
	}
	if rec := s.do("GET", "/accounts/invite/"+strings.Repeat("0", 64)+"/", nil, nil); rec.Code != http.StatusNotFound {
		t.Errorf("unknown invite: %d", rec.Code)
	}
}

func TestPasswordResetByEmail(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.db.SetAlertAddress("user", "user@example.org")
	if rec := s.do("POST", "/accounts/reset/", url.Values{"name": {"nobody"}}, nil); rec.Code != http.StatusSeeOther {
		t.Fatalf("reset for nobody: %d", rec.Code)
	}
	if rec := s.do("POST", "/accounts/reset/", url.Values{"name": {"USER@example.org"}}, nil); rec.Code != http.StatusSeeOther {
		t.Fatalf("reset: %d", rec.Code)
	}
	var mails []sentMail
	for range 200 {
		if mails = s.sent(); len(mails) > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(mails) != 1 || mails[0].to != "user@example.org" {
		t.Fatalf("mails = %+v", mails)
	}
	m := regexp.MustCompile(`http://127\.0\.0\.1:8000(/accounts/reset/[0-9a-f]{64}/)`).FindStringSubmatch(mails[0].body)
	if m == nil {
		t.Fatalf("no link in %q", mails[0].body)
	}
	s.page(t, m[1], nil)
	if rec := s.do("POST", m[1], url.Values{"password": {"fresh-password"}, "password2": {"other-password"}}, nil); rec.Code != http.StatusBadRequest {
		t.Errorf("differing passwords: %d", rec.Code)
	}
	if rec := s.do("POST", m[1], url.Values{"password": {"fresh-password"}, "password2": {"fresh-password"}}, nil); rec.Code != http.StatusSeeOther {
		t.Fatalf("set: %d", rec.Code)
	}
	if _, err := s.db.CheckPassword("user", "fresh-password"); err != nil {
		t.Error("the new password does not work")
	}
	if rec := s.do("POST", m[1], url.Values{"password": {"fresh-password"}, "password2": {"fresh-password"}}, nil); rec.Code != http.StatusNotFound {
		t.Errorf("second use: %d", rec.Code)
	}
}

// Without a mail server no page says that alert emails go out, and the
// reset page says to ask an admin.
func TestNoMailServer(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.ui.sendMail = nil
	user := s.login(t, "user")
	s.db.SetUserProjects("user", []int{s.project.ID})
	if page := s.page(t, "/accounts/", user); !strings.Contains(page, "No mail server is configured") {
		t.Error("the account page does not say that no email is sent")
	}
	page := s.page(t, fmt.Sprintf("/projects/%d/settings/", s.project.ID), user)
	if !strings.Contains(page, "no alert emails are sent") || strings.Contains(page, "alerts for this project are <b>on") {
		t.Error("the settings page says email alerts are on without a mail server")
	}
	if page := s.page(t, "/accounts/reset/", nil); !strings.Contains(page, "tinysink user password NAME") || strings.Contains(page, `id="send-reset"`) {
		t.Error("the reset page offers email without a mail server")
	}
	if rec := s.do("POST", "/accounts/reset/", url.Values{"name": {"user"}}, nil); rec.Code != http.StatusConflict {
		t.Errorf("reset without mail: %d", rec.Code)
	}
}

// TestUserDeleteUnassigns: deleting a user through the users page
// unassigns the user's issues, says so in their history, and a new user
// of the same name has nothing under "assigned to me".
func TestUserDeleteUnassigns(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	iss := threeIssues(t, s, s.project.ID, "")
	s.db.SetUserProjects("user", []int{s.project.ID})
	if _, err := s.db.Assign(iss[0].ID, "user", "admin"); err != nil {
		t.Fatal(err)
	}
	mine := func(who string) string {
		return s.do("GET", fmt.Sprintf("/projects/%d/?tab=all&mine=1", s.project.ID), nil, s.login(t, who)).Body.String()
	}
	row := fmt.Sprintf(`name="issue" value="%d"`, iss[0].ID)
	if !strings.Contains(mine("user"), row) {
		t.Fatal("the issue is not under the user's \"assigned to me\"")
	}
	admin := s.login(t, "admin")
	if rec := s.do("POST", "/users/user/delete/", url.Values{"confirm": {"yes"}}, admin); rec.Code != http.StatusSeeOther {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	if got, _ := s.db.Issue(iss[0].ID); got.AssignedTo != "" {
		t.Errorf("the deleted user's issue is assigned to %q", got.AssignedTo)
	}
	rec := s.do("GET", fmt.Sprintf("/issues/%d/history/", iss[0].ID), nil, admin)
	if body := rec.Body.String(); !strings.Contains(body, "to nobody") || !strings.Contains(body, "The user user was deleted.") {
		t.Errorf("history does not record the unassignment:\n%s", body)
	}
	if _, err := s.db.CreateUser("user", testPassword, false); err != nil {
		t.Fatal(err)
	}
	s.db.SetUserProjects("user", []int{s.project.ID})
	if strings.Contains(mine("user"), row) {
		t.Error("the new user of the same name inherited the assignment")
	}
}
