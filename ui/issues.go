package ui

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tinysink/tinysink/store"
	"github.com/tinysink/tinysink/store/search"
)

// Issue list (reference §9.2): tabs by state, two sorts, search, bulk
// actions and pages of issuesPerPage.

const (
	issuesPerPage = 100
)

// issueTab is one state tab of the issue list.
type issueTab struct {
	Name  string
	Label string
	state store.IssueState
	// actions are the bulk actions that can apply to some issue shown.
	actions []store.Action
}

var issueTabs = []issueTab{
	{"open", "Open", store.StateOpen,
		[]store.Action{store.ActionResolve, store.ActionMute}},
	{"unresolved", "Unresolved", store.StateUnresolved,
		[]store.Action{store.ActionResolve, store.ActionMute, store.ActionUnmute}},
	{"muted", "Muted", store.StateMuted,
		[]store.Action{store.ActionResolve, store.ActionUnmute}},
	{"resolved", "Resolved", store.StateResolved,
		[]store.Action{store.ActionReopen}},
	{"all", "All", store.StateAll,
		[]store.Action{store.ActionResolve, store.ActionReopen, store.ActionMute, store.ActionUnmute}},
}

func tabNamed(name string) issueTab {
	for _, t := range issueTabs {
		if t.Name == name {
			return t
		}
	}
	return issueTabs[0]
}

type tabLink struct {
	Label  string
	URL    string
	Active bool
}

// issueRow is one line of the issue list, formatted here rather than in
// the template: a page has up to 100 of them, and each template action
// costs reflection and an escaper call.
type issueRow struct {
	ID         uint32
	Class      string // "resolved", "muted" or ""
	Mark       string // "✓ ", "🔇 " or ""
	Title      string
	Level      string // shown beside a log message's title, else ""
	FriendlyID string
	Meta       string
	Spark      template.HTML
}

// newIssueRow formats iss for the list; counts are its last 24 hours.
func newIssueRow(p *store.Project, iss *store.Issue, counts []int64, now time.Time) issueRow {
	r := issueRow{ID: iss.ID, Title: clean(iss.Title(), 100, false), FriendlyID: store.FriendlyID(p, iss),
		Spark: sparkline(counts, 72, 18, "events in the last 24 hours")}
	if iss.CalculatedType == "Log Message" {
		r.Level = clean(iss.Level, 64, false)
	}
	switch {
	case iss.IsResolved:
		r.Class, r.Mark = "resolved", "✓ "
	case iss.IsMuted:
		r.Class, r.Mark = "muted", "🔇 "
	}
	var b strings.Builder
	b.WriteString(r.FriendlyID)
	b.WriteString(" · from ")
	b.WriteString(ago(iss.FirstSeen, now))
	b.WriteString(" · last ")
	b.WriteString(ago(iss.LastSeen, now))
	b.WriteString(" · ")
	b.WriteString(plural(iss.DigestedEventCount, "event"))
	if iss.StoredEventCount != iss.DigestedEventCount {
		b.WriteString(" (")
		b.WriteString(strconv.FormatInt(iss.StoredEventCount, 10))
		b.WriteString(" kept)")
	}
	if iss.Transaction != "" {
		b.WriteString(" · ")
		b.WriteString(truncate(80, iss.Transaction))
	}
	r.Meta = b.String()
	return r
}

type issueListPage struct {
	layout
	Project store.Project
	Tab     string
	Tabs    []tabLink
	Sort    string
	SortURL map[string]string
	Q       string
	// SearchError says why the query was refused ("" when it was not).
	SearchError string
	Rows        []issueRow
	Buttons     []actionButton
	More        []actionButton
	Prev        string
	Next        string
	Skipped     int64
	// Deleted says an issue was just deleted.
	Deleted bool
	Return  string
	Now     time.Time
	// Dropped is what the SDKs and ingest dropped this week (health.go);
	// nil when nothing.
	Dropped *droppedSummary
}

// handleIssueList serves GET /projects/{pid}/?tab=&sort=&q=&page=.
func (u *UI) handleIssueList(w http.ResponseWriter, r *http.Request) error {
	p, err := u.project(r)
	if err != nil {
		return err
	}
	qs := r.URL.Query()
	tab := tabNamed(qs.Get("tab"))
	sortBy := qs.Get("sort")
	sr := store.SearchRequest{Project: p.ID, Sort: store.SortLastSeen, Desc: true, State: tab.state}
	if sortBy == "events" {
		sr.Sort = store.SortEventCount
	} else {
		sortBy = "last_seen"
	}
	pageNo, _ := strconv.Atoi(qs.Get("page"))
	pageNo = max(pageNo, 1)
	q := qs.Get("q")
	if len(q) > 500 {
		q = q[:500]
	}
	sr.Query, sr.Limit = q, issuesPerPage
	if pageNo > 1 {
		sr.Cursor = strconv.Itoa((pageNo - 1) * issuesPerPage)
	}
	var matched []store.Issue
	more, searchErr := false, ""
	res, err := u.db.Search(sr)
	switch {
	case errors.Is(err, search.ErrBadQuery):
		searchErr = strings.TrimPrefix(err.Error(), search.ErrBadQuery.Error()+": ")
	case err != nil:
		return err
	default:
		matched, more = res.Issues, res.Next != ""
	}

	link := func(tab, sort string, page int) string {
		v := url.Values{}
		if tab != "open" {
			v.Set("tab", tab)
		}
		if sort != "last_seen" {
			v.Set("sort", sort)
		}
		if q != "" {
			v.Set("q", q)
		}
		if page > 1 {
			v.Set("page", strconv.Itoa(page))
		}
		s := "/projects/" + strconv.Itoa(p.ID) + "/"
		if len(v) > 0 {
			s += "?" + v.Encode()
		}
		return s
	}
	page := &issueListPage{
		layout: u.layout(r, p.Name), Project: *p, Tab: tab.Name, Sort: sortBy, Q: q, Now: u.now(),
		SortURL:     map[string]string{"last_seen": link(tab.Name, "last_seen", 1), "events": link(tab.Name, "events", 1)},
		SearchError: searchErr,
	}
	page.Skipped, _ = strconv.ParseInt(qs.Get("skipped"), 10, 64)
	page.Deleted = qs.Has("deleted")
	page.Return = link(tab.Name, sortBy, pageNo)
	for _, t := range issueTabs {
		page.Tabs = append(page.Tabs, tabLink{Label: t.Label, URL: link(t.Name, sortBy, 1), Active: t.Name == tab.Name})
	}
	latest, err := u.latestRelease(p.ID)
	if err != nil {
		return err
	}
	page.Buttons, page.More = bulkActions(tab, latest)
	if page.Dropped, err = u.droppedSummary(p.ID); err != nil {
		return err
	}
	if pageNo > 1 {
		page.Prev = link(tab.Name, sortBy, pageNo-1)
	}
	if more {
		page.Next = link(tab.Name, sortBy, pageNo+1)
	}
	from, to := last24Hours(page.Now)
	hours, err := u.db.IssuesHourly(matched, from, to)
	if err != nil {
		return err
	}
	for i := range matched {
		page.Rows = append(page.Rows, newIssueRow(p, &matched[i], hours[i], page.Now))
	}
	return u.render(w, "issues", page)
}

// handleIssueBulk serves POST /projects/{pid}/issues/: one action on the
// checked issues. Issues for which the action is not valid are skipped and
// counted on the list it returns to.
func (u *UI) handleIssueBulk(w http.ResponseWriter, r *http.Request) error {
	p, err := u.project(r)
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return errBadInput("Bad form.")
	}
	latest, err := u.latestRelease(p.ID)
	if err != nil {
		return err
	}
	a := store.Action(r.PostForm.Get("action"))
	if !offered(a, latest) {
		return errBadInput("Unknown action.")
	}
	var ids []uint32
	for _, s := range r.PostForm["issue"] {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			continue
		}
		iss, err := u.db.Issue(uint32(n))
		if errors.Is(err, store.ErrNotFound) || err == nil && iss.ProjectID != p.ID {
			continue
		} else if err != nil {
			return err
		}
		ids = append(ids, iss.ID)
		if len(ids) > 1000 {
			return errBadInput("Too many issues at once.")
		}
	}
	unapplied, err := u.db.ApplyActions(ids, a, currentUser(r).Name)
	if err != nil {
		return err
	}
	back := localPath(r.PostForm.Get("return"))
	if back == "/projects/" {
		back = "/projects/" + strconv.Itoa(p.ID) + "/"
	}
	if len(unapplied) > 0 {
		bu, _ := url.Parse(back)
		v := bu.Query()
		v.Set("skipped", strconv.Itoa(len(unapplied)))
		bu.RawQuery = v.Encode()
		back = bu.String()
	}
	return redirect(w, r, back)
}
