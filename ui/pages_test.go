package ui

import (
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"
	"text/template/parse"

	"github.com/tinysink/tinysink/budget"
	"github.com/tinysink/tinysink/budget/testflag"
	"github.com/tinysink/tinysink/store"
)

func TestMain(m *testing.M) {
	// Each test has a store of its own and waits mostly for its fsyncs.
	testflag.ParallelForFsync(8)
	// Passwords are hashed at bcrypt's lowest cost here: the lockout tests
	// make thousands of guesses, and the cost is not what they test.
	store.SetPasswordCostForTests(4)
	code := m.Run()
	stopBrowser()
	if code == 0 && !testing.Short() && flagAllTestsRan() {
		if missing := unexecutedTemplates(); len(missing) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: page templates never rendered by a test: %s\n", strings.Join(missing, ", "))
			code = 1
		}
	}
	os.Exit(code)
}

// flagAllTestsRan reports whether the whole package ran (no -run filter),
// which is when every page must have been rendered.
func flagAllTestsRan() bool {
	for _, a := range os.Args[1:] {
		if strings.HasPrefix(a, "-test.run") || strings.HasPrefix(a, "-test.bench") {
			return false
		}
	}
	return true
}

// unexecutedTemplates lists the page templates no test rendered, and the
// shared templates that no rendered page uses.
func unexecutedTemplates() []string {
	var missing []string
	used := map[string]bool{}
	t := pages()
	for _, name := range pageNames() {
		if _, ok := executed.Load(name); !ok {
			missing = append(missing, name)
			continue
		}
		markUsed(t, name, used)
	}
	shared, _ := fs.Glob(templateFS, "templates/partials/*.html")
	shared = append(shared, "templates/layout.html")
	for _, f := range shared {
		b, _ := templateFS.ReadFile(f)
		for _, def := range strings.Split(string(b), `{{define "`)[1:] {
			name, _, _ := strings.Cut(def, `"`)
			if !used[name] {
				missing = append(missing, f+": "+name)
			}
		}
	}
	sort.Strings(missing)
	return missing
}

// markUsed marks name and every template it calls, transitively.
func markUsed(t *template.Template, name string, used map[string]bool) {
	if used[name] {
		return
	}
	used[name] = true
	tt := t.Lookup(name)
	if tt == nil || tt.Tree == nil {
		return
	}
	refs := map[string]bool{}
	collectRefs(tt.Tree.Root, refs)
	for r := range refs {
		markUsed(t, r, used)
	}
}

func collectRefs(n parse.Node, used map[string]bool) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			collectRefs(c, used)
		}
	case *parse.TemplateNode:
		used[n.Name] = true
	case *parse.IfNode:
		collectRefs(n.List, used)
		collectRefs(n.ElseList, used)
	case *parse.RangeNode:
		collectRefs(n.List, used)
		collectRefs(n.ElseList, used)
	case *parse.WithNode:
		collectRefs(n.List, used)
		collectRefs(n.ElseList, used)
	}
}

func TestTemplatesParse(t *testing.T) {
	t.Parallel()
	m, err := parseTemplates()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"login", "projects", "issues", "issue_stacktrace", "error", "header", "footer", "stack"} {
		if m.Lookup(want) == nil {
			t.Errorf("no template %q", want)
		}
	}
}

// checkPage fails unless the response is a 200 HTML page without signs of
// a template problem.
func checkPage(t *testing.T, target string, code int, body string) {
	t.Helper()
	if code != http.StatusOK {
		t.Errorf("GET %s: status %d\n%.500s", target, code, body)
		return
	}
	for _, bad := range []string{"ZgotmplZ", "<no value>", "%!", "Internal error"} {
		if strings.Contains(body, bad) {
			t.Errorf("GET %s: page contains %q", target, bad)
		}
	}
}

// TestEveryPageForEverySample ingests the whole sample corpus and renders
// every page and tab of every issue.
func TestEveryPageForEverySample(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	events := corpus(t)
	names := make([]string, 0, len(events))
	for n := range events {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s.ingest(t, s.project.ID, events[n])
	}
	// Two more events of one issue, so that event navigation has neighbours.
	s.ingest(t, s.project.ID, []byte(`{"message":"repeat","level":"info","tags":{"env":"prod"}}`))
	s.ingest(t, s.project.ID, []byte(`{"message":"repeat","level":"info","tags":{"env":"dev"}}`))
	s.ingest(t, s.project.ID, []byte(`{"message":"repeat","level":"info","tags":{"env":"dev"}}`))

	admin := s.login(t, "admin")
	get := func(target string) string {
		t.Helper()
		rec := s.do("GET", target, nil, admin)
		checkPage(t, target, rec.Code, rec.Body.String())
		return rec.Body.String()
	}
	pid := fmt.Sprint(s.project.ID)
	get("/projects/")
	for _, q := range []string{"", "?tab=unresolved", "?tab=muted", "?tab=resolved", "?tab=all", "?sort=events",
		"?q=error", "?q=env:prod", "?q=env:%22prod%22+repeat", "?q=nosuch:tag", "?page=2"} {
		get("/projects/" + pid + "/" + q)
	}
	for _, sdk := range []string{"", "?sdk=javascript", "?sdk=go", "?sdk=php"} {
		get("/projects/" + pid + "/settings/" + sdk)
	}
	get("/projects/" + pid + "/members/")
	for _, bk := range store.AlertBackendKinds() {
		get("/projects/" + pid + "/alerts/new/?kind=" + bk.Kind)
	}
	get("/users/")
	get("/accounts/")
	get("/accounts/password/")
	get("/debug/budget/")
	get("/quarantine/")
	quarantineOne(t, s.db, s.project.ID, `{"exception":"x"}`)
	get("/quarantine/")

	issues := s.issues(t, s.project.ID)
	if len(issues) < 50 {
		t.Fatalf("%d issues from %d samples", len(issues), len(events))
	}
	for _, iss := range issues {
		base := fmt.Sprintf("/issues/%d/", iss.ID)
		if rec := s.do("GET", base, nil, admin); rec.Code != http.StatusSeeOther {
			t.Errorf("GET %s: %d, want a redirect", base, rec.Code)
		}
		for _, tab := range []string{"event/last/", "event/first/", "event/1/", "event/last/?frames=app", "event/last/?frame=40",
			"event/last/details/", "event/last/breadcrumbs/", "events/", "tags/", "grouping/", "history/", "delete/"} {
			get(base + tab)
		}
		for _, dl := range []string{"json/", "download/", "md/"} {
			target := base + "event/last/" + dl
			rec := s.do("GET", target, nil, admin)
			if rec.Code != http.StatusOK || rec.Body.Len() == 0 {
				t.Errorf("GET %s: status %d, %d bytes", target, rec.Code, rec.Body.Len())
			}
		}
	}
	// Event navigation and the event id form of {ev}.
	repeat := issues[0]
	for _, iss := range issues {
		if iss.DigestedEventCount == 3 {
			repeat = iss
		}
	}
	if repeat.DigestedEventCount != 3 {
		t.Fatal("no issue with three events")
	}
	base := fmt.Sprintf("/issues/%d/event/", repeat.ID)
	body := get(base + "2/")
	for _, want := range []string{base + "first/", base + "1/", base + "3/", base + "last/"} {
		if !strings.Contains(body, `href="`+want+`"`) {
			t.Errorf("event 2 page lacks a link to %s", want)
		}
	}
	pg, _ := s.db.Events(&repeat, false, 0, 10)
	get(base + pg.Events[1].ID + "/")
	if rec := s.do("GET", base+"nonsense/", nil, admin); rec.Code != http.StatusNotFound {
		t.Errorf("unknown event ref: %d, want 404", rec.Code)
	}
	if rec := s.do("GET", "/issues/99999/event/last/", nil, admin); rec.Code != http.StatusNotFound {
		t.Errorf("unknown issue: %d, want 404", rec.Code)
	}
}

// TestTemplatesLoadLazily checks that registering the UI parses nothing,
// and reports what the first render cost (go test -v -run Lazily, in a
// process of its own for clean numbers).
func TestTemplatesLoadLazily(t *testing.T) {
	t.Parallel()
	part := func() budget.Part {
		for _, p := range budget.Parts() {
			if p.Name == "ui-templates" {
				return p
			}
		}
		t.Fatal("ui-templates is not a budget part")
		return budget.Part{}
	}
	if !part().Loaded {
		s := newTestServer(t)
		if part().Loaded {
			t.Fatal("New and Register parsed the templates")
		}
		s.do("GET", "/accounts/login/", nil, nil)
	}
	p := part()
	if !p.Loaded {
		t.Fatal("rendering a page did not load the templates")
	}
	t.Logf("ui-templates: build %v, heap %+d B, RSS %+d B", p.BuildTime, p.HeapDelta, p.RSSDelta)
}
