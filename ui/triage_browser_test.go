package ui

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/tinysink/tinysink/store"
)

// The triage tests drive the issue list's bulk actions, assignment, the
// list across projects and comment edits in Chromium, with and without
// scripts, and check colour contrast in both themes.

// submit clicks sel and waits for the page it leads to: a marker set on
// the old page's body is gone from the new one.
func submit[S chromedp.Selectable](sel S) chromedp.Action[chromedp.Void] {
	mark := func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[bool](`document.body.dataset.stale = "1", true`)(ctx, tg)
		return chromedp.Void{}, err
	}
	return chromedp.Steps(
		mark,
		chromedp.Click(sel),
		chromedp.WaitReady(chromedp.CSS("body:not([data-stale]) main")),
	)
}

// noScripts switches scripts off in the tab.
func noScripts(t *testing.T, ctx context.Context) {
	t.Helper()
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatalf("disable scripts: %v", err)
	}
}

// threeIssues gives project pid an error, a warning and an info message,
// and resolves the info one.
func threeIssues(t *testing.T, s *testServer, pid int, prefix string) []store.Issue {
	t.Helper()
	s.ingest(t, pid,
		[]byte(`{"exception":{"values":[{"type":"`+prefix+`Error","value":"boom"}]},"environment":"production","release":"shop@1.2.3"}`),
		[]byte(`{"message":"`+prefix+` disk almost full","level":"warning","environment":"staging"}`),
		[]byte(`{"message":"`+prefix+` user signed up","level":"info"}`))
	iss := s.issues(t, pid)
	for _, i := range iss {
		if i.Level == "info" {
			if _, err := s.db.ApplyAction(i.ID, store.ActionResolve, "admin", ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	return s.issues(t, pid)
}

func countState(s *testServer, t *testing.T, pid int) (resolved, muted int) {
	for _, iss := range s.issues(t, pid) {
		if iss.IsResolved {
			resolved++
		}
		if iss.IsMuted {
			muted++
		}
	}
	return
}

func TestBrowserBulkSelectAll(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	threeIssues(t, s, s.project.ID, "")
	srv := httptest.NewServer(s.mux)
	defer srv.Close()
	ctx := newBrowser(t)
	browserLogin(t, ctx, srv.URL, "admin", testPassword)
	do(t, ctx, "open the list", chromedp.Navigate(fmt.Sprintf("%s/projects/%d/?tab=all", srv.URL, s.project.ID)),
		chromedp.WaitVisible(chromedp.CSS("ul.issues")))

	// Rows carry the level, environment and release.
	rows := get(t, ctx, chromedp.Text(chromedp.CSS("ul.issues")))
	for _, want := range []string{"error", "production", "shop@1.2.3", "warning", "staging", "info"} {
		if !strings.Contains(rows, want) {
			t.Errorf("the rows lack %q: %q", want, rows)
		}
	}
	if n := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("ul.issues .lv-info").length`)); n != 1 {
		t.Errorf("%d calm info badges, want 1", n)
	}
	enabled := `[...document.querySelectorAll("#bulk button[data-bulk]")].filter(b => !b.disabled).length`
	if n := get(t, ctx, chromedp.Evaluate[int](enabled)); n != 0 {
		t.Errorf("%d action buttons enabled with nothing selected", n)
	}
	do(t, ctx, "select all", chromedp.Click(chromedp.ID("select-all")))
	if n := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("input[name=issue]:checked").length`)); n != 3 {
		t.Errorf("select all ticked %d issues, want 3", n)
	}
	if n := get(t, ctx, chromedp.Evaluate[int](enabled)); n == 0 {
		t.Error("no action button enabled after select all")
	}
	if got := get(t, ctx, chromedp.Text(chromedp.ID("picked"))); got != "3 selected" {
		t.Errorf("selection count %q", got)
	}
	// Unticking one leaves the select-all box half set.
	do(t, ctx, "untick one", chromedp.Click(chromedp.CSS("ul.issues input[name=issue]")))
	if !get(t, ctx, chromedp.Evaluate[bool](`document.getElementById("select-all").indeterminate`)) {
		t.Error("select-all is not indeterminate with 2 of 3 ticked")
	}
	do(t, ctx, "select all again, mute",
		chromedp.Click(chromedp.ID("select-all")),
		submit(`//div[@class="bulk"]/button[.="Mute"]`))
	if got := get(t, ctx, chromedp.Text(chromedp.ID("done"))); !strings.Contains(got, "Mute: applied to 2 issues, 1 skipped") {
		t.Errorf("after mute: %q", got)
	}
	if r, m := countState(s, t, s.project.ID); r != 1 || m != 2 {
		t.Errorf("%d resolved, %d muted; want 1 and 2", r, m)
	}
	// The muted marker is text, not an emoji.
	if got := get(t, ctx, chromedp.Text(chromedp.CSS("ul.issues li.muted .mark"))); got != "muted" {
		t.Errorf("muted marker %q", got)
	}

	// The More menu stays inside the page, on the list and on an issue.
	inside := `(() => { const d = document.querySelector("details.more"); d.open = true;
		const r = d.querySelector("div").getBoundingClientRect();
		return r.left >= 0 && r.right <= document.documentElement.clientWidth; })()`
	if !get(t, ctx, chromedp.Evaluate[bool](inside)) {
		t.Error("the list's More menu overflows the page")
	}
	iss := s.issues(t, s.project.ID)
	for _, w := range []int64{1200, 800, 390} {
		do(t, ctx, "issue page", chromedp.EmulateViewport(w, 900), chromedp.Navigate(fmt.Sprintf("%s/issues/%d/", srv.URL, iss[0].ID)),
			chromedp.WaitVisible(chromedp.CSS("details.more")))
		if !get(t, ctx, chromedp.Evaluate[bool](inside)) {
			t.Errorf("at %d px the issue's More menu overflows the page", w)
		}
	}
	// Phones: checkboxes with a 44 px target.
	do(t, ctx, "phone list", chromedp.EmulateViewport(390, 800), chromedp.Navigate(fmt.Sprintf("%s/projects/%d/?tab=all", srv.URL, s.project.ID)),
		chromedp.WaitVisible(chromedp.CSS("ul.issues")))
	size := get(t, ctx, chromedp.Evaluate[[]float64](`(() => { const l = document.querySelector("ul.issues .pick").getBoundingClientRect();
		const c = document.querySelector("ul.issues .pick input").getBoundingClientRect(); return [l.width, l.height, c.width, c.height]; })()`))
	if size[0] < 44 || size[1] < 44 || size[2] < 24 || size[3] < 24 {
		t.Errorf("phone checkbox target %v x %v, box %v x %v; want ≥ 44 and ≥ 24", size[0], size[1], size[2], size[3])
	}
}

func TestBrowserBulkWithoutJavaScript(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	threeIssues(t, s, s.project.ID, "")
	srv := httptest.NewServer(s.mux)
	defer srv.Close()
	ctx := newBrowser(t)
	noScripts(t, ctx)
	browserLogin(t, ctx, srv.URL, "admin", testPassword)
	list := fmt.Sprintf("%s/projects/%d/?tab=all", srv.URL, s.project.ID)
	do(t, ctx, "resolve with nothing selected", chromedp.Navigate(list),
		submit(`//div[@class="bulk"]/button[.="Resolve"]`))
	if r, _ := countState(s, t, s.project.ID); r != 1 {
		t.Errorf("%d resolved after an empty bulk action, want 1", r)
	}
	do(t, ctx, "select all, resolve",
		chromedp.Click(chromedp.ID("select-all")),
		submit(`//div[@class="bulk"]/button[.="Resolve"]`))
	if got := get(t, ctx, chromedp.Text(chromedp.ID("done"))); !strings.Contains(got, "Resolve: applied to 2 issues, 1 skipped") {
		t.Errorf("after resolve: %q", got)
	}
	if r, _ := countState(s, t, s.project.ID); r != 3 {
		t.Errorf("%d resolved, want 3", r)
	}
	// One ticked box works too.
	do(t, ctx, "reopen one",
		chromedp.Click(chromedp.CSS("ul.issues input[name=issue]")),
		submit(`//div[@class="bulk"]/button[.="Reopen"]`))
	if got := get(t, ctx, chromedp.Text(chromedp.ID("done"))); !strings.Contains(got, "Reopen: applied to 1 issue.") {
		t.Errorf("after reopen: %q", got)
	}
}

func TestBrowserAssignAndMine(t *testing.T) {
	t.Parallel()
	for _, js := range []bool{true, false} {
		t.Run(fmt.Sprintf("scripts=%v", js), func(t *testing.T) {
			s := newTestServer(t)
			iss := threeIssues(t, s, s.project.ID, "")
			if err := s.db.SetUserProjects("user", []int{s.project.ID}); err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(s.mux)
			defer srv.Close()
			ctx := newBrowser(t)
			if !js {
				noScripts(t, ctx)
			}
			browserLogin(t, ctx, srv.URL, "admin", testPassword)
			target := iss[0]
			do(t, ctx, "assign to user", chromedp.Navigate(fmt.Sprintf("%s/issues/%d/", srv.URL, target.ID)),
				chromedp.SetValue(chromedp.ID("assignee"), "user"),
				submit(chromedp.ID("assign")))
			if got := get(t, ctx, chromedp.Value(chromedp.ID("assignee"))); got != "user" {
				t.Errorf("the header shows the assignee %q", got)
			}
			if got, _ := s.db.Issue(target.ID); got.AssignedTo != "user" {
				t.Fatalf("stored assignee %q", got.AssignedTo)
			}
			do(t, ctx, "history", chromedp.Navigate(fmt.Sprintf("%s/issues/%d/history/", srv.URL, target.ID)),
				chromedp.WaitVisible(chromedp.CSS("li.h-assigned")))
			if got := get(t, ctx, chromedp.Text(chromedp.CSS("li.h-assigned"))); !strings.Contains(got, "Assigned to user") || !strings.Contains(got, "admin") {
				t.Errorf("history entry %q", got)
			}
			// "Assigned to me" for the admin: nothing; for the user: the one.
			do(t, ctx, "admin's", chromedp.Navigate(fmt.Sprintf("%s/projects/%d/?tab=all", srv.URL, s.project.ID)),
				submit(chromedp.ID("mine")))
			if n := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("ul.issues li").length`)); n != 0 {
				t.Errorf("the admin has %d issues assigned", n)
			}
			do(t, ctx, "log out", chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("login")))
			browserLogin(t, ctx, srv.URL, "user", testPassword)
			do(t, ctx, "user's", chromedp.Navigate(fmt.Sprintf("%s/projects/%d/?tab=all", srv.URL, s.project.ID)),
				submit(chromedp.ID("mine")))
			if got := get(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("ul.issues input[name=issue]")].map(c => c.value)`)); len(got) != 1 || got[0] != fmt.Sprint(target.ID) {
				t.Errorf("the user's assigned issues: %v, want [%d]", got, target.ID)
			}
			if !strings.Contains(get(t, ctx, chromedp.Text(chromedp.CSS("ul.issues"))), "assigned to user") {
				t.Error("the row does not say who it is assigned to")
			}
			// Unassign.
			do(t, ctx, "unassign", chromedp.Navigate(fmt.Sprintf("%s/issues/%d/", srv.URL, target.ID)),
				chromedp.SetValue(chromedp.ID("assignee"), ""),
				submit(chromedp.ID("assign")))
			if got, _ := s.db.Issue(target.ID); got.AssignedTo != "" {
				t.Errorf("still assigned to %q", got.AssignedTo)
			}
		})
	}
}

func TestBrowserAllProjects(t *testing.T) {
	t.Parallel()
	for _, js := range []bool{true, false} {
		t.Run(fmt.Sprintf("scripts=%v", js), func(t *testing.T) {
			s := newTestServer(t)
			other, err := s.db.CreateProject("Blog")
			if err != nil {
				t.Fatal(err)
			}
			hidden, err := s.db.CreateProject("Hidden")
			if err != nil {
				t.Fatal(err)
			}
			threeIssues(t, s, s.project.ID, "Shop")
			threeIssues(t, s, other.ID, "Blog")
			threeIssues(t, s, hidden.ID, "Secret")
			if err := s.db.SetUserProjects("user", []int{s.project.ID, other.ID}); err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(s.mux)
			defer srv.Close()
			ctx := newBrowser(t)
			if !js {
				noScripts(t, ctx)
			}
			browserLogin(t, ctx, srv.URL, "user", testPassword)
			do(t, ctx, "all issues", submit(`//header//a[.="All issues"]`))
			text := get(t, ctx, chromedp.Text(chromedp.CSS("ul.issues")))
			for _, want := range []string{"ShopError", "BlogError", "SHOP-", "BLOG-"} {
				if !strings.Contains(text, want) {
					t.Errorf("the list across projects lacks %q", want)
				}
			}
			if strings.Contains(text, "Secret") {
				t.Error("the list across projects shows a project the user cannot see")
			}
			if n := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("ul.issues li").length`)); n != 4 {
				t.Errorf("%d open issues listed, want 4", n)
			}
			do(t, ctx, "select all, resolve",
				chromedp.Click(chromedp.ID("select-all")),
				chromedp.Click(`//div[@class="bulk"]/button[.="Resolve"]`),
				chromedp.WaitVisible(chromedp.ID("done")))
			if got := get(t, ctx, chromedp.Text(chromedp.ID("done"))); !strings.Contains(got, "Resolve: applied to 4 issues") {
				t.Errorf("after resolve: %q", got)
			}
			for _, p := range []int{s.project.ID, other.ID} {
				if r, _ := countState(s, t, p); r != 3 {
					t.Errorf("project %d: %d resolved, want 3", p, r)
				}
			}
			if r, _ := countState(s, t, hidden.ID); r != 1 {
				t.Errorf("the hidden project has %d resolved, want 1 (untouched)", r)
			}
		})
	}
}

func TestBrowserCommentEditDelete(t *testing.T) {
	t.Parallel()
	for _, js := range []bool{true, false} {
		t.Run(fmt.Sprintf("scripts=%v", js), func(t *testing.T) {
			s := newTestServer(t)
			iss := threeIssues(t, s, s.project.ID, "")[0]
			if err := s.db.SetUserProjects("user", []int{s.project.ID}); err != nil {
				t.Fatal(err)
			}
			if err := s.db.AddComment(iss.ID, "admin", "the admin's note"); err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(s.mux)
			defer srv.Close()
			ctx := newBrowser(t)
			if !js {
				noScripts(t, ctx)
			}
			browserLogin(t, ctx, srv.URL, "user", testPassword)
			history := fmt.Sprintf("%s/issues/%d/history/", srv.URL, iss.ID)
			do(t, ctx, "comment", chromedp.Navigate(history),
				chromedp.SendKeys(chromedp.CSS("form.box textarea"), "first take"),
				submit(chromedp.CSS("form.box button")))
			// The user may change only their own comment.
			if n := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("details.cedit").length`)); n != 1 {
				t.Errorf("the user sees %d edit controls, want 1 (their own comment)", n)
			}
			do(t, ctx, "edit",
				chromedp.Click(chromedp.CSS("details.cedit summary")),
				chromedp.SetValue(chromedp.CSS("details.cedit textarea"), "second take"),
				submit(`//details[@class="cedit"]//button[.="Save"]`))
			text := get(t, ctx, chromedp.Text(chromedp.CSS("ol.history")))
			if !strings.Contains(text, "second take") || strings.Contains(text, "first take") || !strings.Contains(text, "(edited") {
				t.Errorf("after the edit: %q", text)
			}
			do(t, ctx, "delete",
				chromedp.Click(chromedp.CSS("details.cedit summary")),
				submit(`//details[@class="cedit"]//button[.="Delete comment"]`))
			text = get(t, ctx, chromedp.Text(chromedp.CSS("ol.history")))
			if strings.Contains(text, "second take") || !strings.Contains(text, "the admin's note") {
				t.Errorf("after the delete: %q", text)
			}
			// An admin may change anyone's.
			do(t, ctx, "log out", chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("login")))
			s.db.AddComment(iss.ID, "user", "the user's note")
			browserLogin(t, ctx, srv.URL, "admin", testPassword)
			do(t, ctx, "admin's view", chromedp.Navigate(history), chromedp.WaitVisible(chromedp.CSS("ol.history")))
			if n := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("details.cedit").length`)); n != 2 {
				t.Errorf("the admin sees %d edit controls, want 2", n)
			}
		})
	}
}
