package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tinysink/tinysink/store"
)

// The triage forms over plain HTTP: what each accepts and refuses.

func TestBulkForm(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	iss := threeIssues(t, s, s.project.ID, "")
	other, _ := s.db.CreateProject("Other")
	theirs := threeIssues(t, s, other.ID, "Other")[0]
	if err := s.db.SetUserProjects("user", []int{s.project.ID}); err != nil {
		t.Fatal(err)
	}
	user := s.login(t, "user")
	list := fmt.Sprintf("/projects/%d/", s.project.ID)
	var shown []string
	for _, i := range iss {
		shown = append(shown, fmt.Sprint(i.ID))
	}
	shown = append(shown, fmt.Sprint(theirs.ID), "junk", "")
	post := func(target string, form url.Values) string {
		t.Helper()
		rec := s.do("POST", target, form, user)
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("POST %s %v: %d %s", target, form, rec.Code, rec.Body)
		}
		return rec.Header().Get("Location")
	}
	// Nothing selected: nothing changes, and the list says so.
	loc := post(list+"issues/", url.Values{"action": {"mute"}, "return": {list + "?tab=all"}})
	if !strings.Contains(loc, "none=1") || !strings.Contains(loc, "tab=all") {
		t.Errorf("empty bulk action went to %q", loc)
	}
	if body := s.do("GET", loc, nil, user).Body.String(); !strings.Contains(body, `id="none"`) {
		t.Error("the list does not say that nothing was selected")
	}
	// Select all without a script: the page's ids, never another project's.
	loc = post(list+"issues/", url.Values{"action": {"mute"}, "all": {"1"}, "shown": {strings.Join(shown, ",")}, "return": {loc}})
	if !strings.Contains(loc, "applied=2") || !strings.Contains(loc, "skipped=1") || !strings.Contains(loc, "done=mute") || strings.Contains(loc, "none=") {
		t.Errorf("select-all mute went to %q", loc)
	}
	if got, _ := s.db.Issue(theirs.ID); got.IsMuted {
		t.Error("select all reached another project's issue")
	}
	// The same on the list across projects, which checks each issue's project.
	loc = post("/issues/", url.Values{"action": {"resolve"}, "all": {"1"}, "shown": {strings.Join(shown, ",")}})
	if !strings.HasPrefix(loc, "/issues/?") || !strings.Contains(loc, "applied=2") {
		t.Errorf("cross-project resolve went to %q", loc)
	}
	if got, _ := s.db.Issue(theirs.ID); got.IsResolved {
		t.Error("the list across projects reached a project the user cannot see")
	}
	// Refused: unknown actions, releases the list across projects does not offer, too many issues.
	for _, f := range []url.Values{
		{"action": {"delete"}, "issue": {shown[0]}},
		{"action": {string(store.ResolveInRelease("1.0"))}, "issue": {shown[0]}},
		{"action": {"mute"}, "shown": {strings.Repeat("1,", 2001)}, "all": {"1"}},
	} {
		if rec := s.do("POST", "/issues/", f, user); rec.Code != http.StatusBadRequest {
			t.Errorf("POST /issues/ %v: %d, want 400", f, rec.Code)
		}
	}
	// The redirect stays on the site.
	if loc := post(list+"issues/", url.Values{"action": {"reopen"}, "issue": {shown[0]}, "return": {"//evil.example/"}}); !strings.HasPrefix(loc, list) {
		t.Errorf("return=//evil.example/ went to %q", loc)
	}
}

func TestAssignForm(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	iss := threeIssues(t, s, s.project.ID, "")[0]
	admin := s.login(t, "admin")
	target := fmt.Sprintf("/issues/%d/assign/", iss.ID)
	// "user" cannot see the project yet; "ghost" does not exist.
	for _, name := range []string{"user", "ghost", "<script>"} {
		if rec := s.do("POST", target, url.Values{"user": {name}}, admin); rec.Code != http.StatusBadRequest {
			t.Errorf("assign to %q: %d, want 400", name, rec.Code)
		}
	}
	s.db.SetUserProjects("user", []int{s.project.ID})
	page := s.do("GET", fmt.Sprintf("/issues/%d/event/last/", iss.ID), nil, admin).Body.String()
	if !strings.Contains(page, "<option>user</option>") || !strings.Contains(page, "<option>admin</option>") {
		t.Error("the assignee list lacks a user who can see the project")
	}
	if rec := s.do("POST", target, url.Values{"user": {"user"}}, admin); rec.Code != http.StatusSeeOther {
		t.Fatalf("assign: %d", rec.Code)
	}
	if got, _ := s.db.Issue(iss.ID); got.AssignedTo != "user" {
		t.Errorf("assigned to %q", got.AssignedTo)
	}
	page = s.do("GET", fmt.Sprintf("/issues/%d/event/last/", iss.ID), nil, admin).Body.String()
	if !strings.Contains(page, "<option selected>user</option>") {
		t.Error("the header does not show the assignee")
	}
	// Deactivated users are not offered and cannot be assigned.
	if err := s.db.SetUserActive("user", false); err != nil {
		t.Fatal(err)
	}
	if rec := s.do("POST", target, url.Values{"user": {"user"}}, admin); rec.Code != http.StatusBadRequest {
		t.Errorf("assign to a deactivated user: %d, want 400", rec.Code)
	}
}

func TestCommentEditForm(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	iss := threeIssues(t, s, s.project.ID, "")[0]
	s.db.SetUserProjects("user", []int{s.project.ID})
	s.db.AddComment(iss.ID, "admin", "the admin's")
	h, _ := s.db.History(iss.ID)
	var ref int64
	for _, e := range h {
		if e.Kind == store.HistoryComment {
			ref = e.Ref()
		}
	}
	user, admin := s.login(t, "user"), s.login(t, "admin")
	base := fmt.Sprintf("/issues/%d/comment/%d/", iss.ID, ref)
	if rec := s.do("POST", base+"edit/", url.Values{"comment": {"hijacked"}}, user); rec.Code != http.StatusForbidden {
		t.Errorf("another user's edit: %d, want 403", rec.Code)
	}
	if rec := s.do("POST", base+"delete/", nil, user); rec.Code != http.StatusForbidden {
		t.Errorf("another user's delete: %d, want 403", rec.Code)
	}
	if rec := s.do("POST", base+"edit/", url.Values{"comment": {"  "}}, admin); rec.Code != http.StatusBadRequest {
		t.Errorf("edit to blank: %d, want 400", rec.Code)
	}
	for _, bad := range []string{"x", "99", "-1"} {
		if rec := s.do("POST", fmt.Sprintf("/issues/%d/comment/%s/delete/", iss.ID, bad), nil, admin); rec.Code != http.StatusNotFound {
			t.Errorf("delete comment %s: %d, want 404", bad, rec.Code)
		}
	}
	if rec := s.do("POST", base+"edit/", url.Values{"comment": {"<script>window.__xss=1</script>"}}, admin); rec.Code != http.StatusSeeOther {
		t.Fatalf("admin edit: %d", rec.Code)
	}
	body := s.do("GET", fmt.Sprintf("/issues/%d/history/", iss.ID), nil, admin).Body.String()
	if strings.Contains(body, "<script>window") || !strings.Contains(body, "&lt;script&gt;window.__xss=1&lt;/script&gt;") {
		t.Error("the edited comment is not escaped, in its text or its edit box")
	}
	if rec := s.do("POST", base+"delete/", nil, admin); rec.Code != http.StatusSeeOther {
		t.Fatalf("admin delete: %d", rec.Code)
	}
	h, _ = s.db.History(iss.ID)
	for _, e := range h {
		if e.Kind == store.HistoryComment {
			t.Errorf("a comment is left after the delete: %+v", e)
		}
	}
}

func TestFramesAndHeaderNameTheirCode(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.ingest(t, s.project.ID,
		[]byte(`{"platform":"native","exception":{"values":[{"type":"SIGSEGV","value":"crash","stacktrace":{"frames":[
			{"function":"main","package":"/usr/bin/app","instruction_addr":"0x1000"},
			{"function":"memcpy","package":"/usr/lib/libc.so.6","instruction_addr":"0x7fff0001"}]}}]}}`),
		[]byte(`{"platform":"java","exception":{"values":[{"type":"java.lang.IllegalStateException","value":"bad","stacktrace":{"frames":[
			{"function":"bind","module":"sun.nio.ch.Net","filename":"Net.java","lineno":433,"in_app":true}]}}]}}`))
	admin := s.login(t, "admin")
	for _, iss := range s.issues(t, s.project.ID) {
		body := s.do("GET", fmt.Sprintf("/issues/%d/event/last/", iss.ID), nil, admin).Body.String()
		var want []string
		switch iss.Platform {
		case "native":
			want = []string{`<p class="crash">libc.so.6 in memcpy</p>`, `<b>libc.so.6</b> in <code>memcpy</code> <code>0x7fff0001</code>`, `<b>app</b> in <code>main</code>`}
		case "java":
			want = []string{`<p class="crash">sun.nio.ch.Net.bind</p>`, `<b>sun.nio.ch.Net.bind</b> (Net.java:433)`}
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("%s issue page lacks %q", iss.Platform, w)
			}
		}
		if strings.Contains(body, "? in") {
			t.Errorf("%s issue page still says '? in'", iss.Platform)
		}
	}
}

func TestReleasesInVersionOrder(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	for _, v := range []string{"1.10.0", "1.2.0", "1.9.0", "2.0.0-rc.1"} {
		s.ingest(t, s.project.ID, []byte(`{"message":"same","release":"`+v+`"}`))
	}
	iss := s.issues(t, s.project.ID)
	if len(iss) != 1 {
		t.Fatalf("%d issues, want 1", len(iss))
	}
	admin := s.login(t, "admin")
	body := s.do("GET", fmt.Sprintf("/issues/%d/event/last/", iss[0].ID), nil, admin).Body.String()
	if !strings.Contains(body, "1.2.0, 1.9.0, 1.10.0, 2.0.0-rc.1") {
		i := strings.Index(body, "<dt>Releases</dt>")
		t.Errorf("releases not in version order: %.200s", body[max(i, 0):])
	}
	// The header shows the latest event's release.
	if !strings.Contains(body, "release: 2.0.0-rc.1") {
		t.Error("the header lacks the latest release")
	}
}

func TestJSONViewIsIndented(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.ingest(t, s.project.ID, []byte(`{"message":"hello","tags":{"a":"b"}}`))
	iss := s.issues(t, s.project.ID)[0]
	admin := s.login(t, "admin")
	body := s.do("GET", fmt.Sprintf("/issues/%d/event/last/json/", iss.ID), nil, admin).Body.String()
	if !strings.Contains(body, "\n  \"") || strings.Count(body, "\n") < 5 {
		t.Errorf("JSON view not indented: %.200s", body)
	}
	big := []byte(`{"x":"` + strings.Repeat("y", maxPrettyJSON) + `"}`)
	if got := prettyJSON(big); &got[0] != &big[0] {
		t.Error("a body over the bound was indented")
	}
	if got := string(prettyJSON([]byte("not json"))); got != "not json" {
		t.Errorf("not JSON: %q", got)
	}
}

// TestListPageWeight holds a full page of 100 rows, each with a level,
// an environment, a release and an assignee, to the page-weight bar.
func TestListPageWeight(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	fillIssues(t, s.db, s.project.ID, 150)
	for _, iss := range s.issues(t, s.project.ID) {
		s.db.Assign(iss.ID, "admin", "admin")
	}
	admin := s.login(t, "admin")
	css, _ := staticFS.ReadFile("static/style.css")
	js, _ := staticFS.ReadFile("static/list.js")
	for _, target := range []string{fmt.Sprintf("/projects/%d/?tab=all", s.project.ID), "/issues/?tab=all&mine=1"} {
		rec := s.do("GET", target, nil, admin)
		checkPage(t, target, rec.Code, rec.Body.String())
		if n := strings.Count(rec.Body.String(), `name="issue"`); n != issuesPerPage {
			t.Errorf("%s: %d rows, want %d", target, n, issuesPerPage)
		}
		if size := rec.Body.Len() + len(css) + len(js); size > 150<<10 {
			t.Errorf("%s: %d bytes of HTML, CSS and script, over 150 KB", target, size)
		}
	}
}
