package ui

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"sort"
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
	ID    uint32
	Class string // "resolved", "muted" or ""
	// Mark is the state marker before the title: "✓" (resolved) or
	// "muted", as text so that it needs no emoji font; "" when open.
	Mark        string
	Title       string
	Level       string // the latest event's level, always shown as a badge
	LevelClass  string // lv-error, lv-warning, lv-info or lv-other
	Environment string
	Release     string
	FriendlyID  string
	Meta        string
	Spark       template.HTML
}

// levelClass returns the badge class of a level: errors and fatals stand
// out, warnings less, and info and debug look calm.
func levelClass(level string) string {
	switch level {
	case "fatal", "error":
		return "lv-error"
	case "warning":
		return "lv-warning"
	case "info", "debug":
		return "lv-info"
	}
	return "lv-other"
}

// newIssueRow formats iss for the list; counts are its last 24 hours.
func newIssueRow(p *store.Project, iss *store.Issue, counts []int64, now time.Time) issueRow {
	r := issueRow{ID: iss.ID, Title: clean(iss.Title(), 100, false), FriendlyID: store.FriendlyID(p, iss),
		Spark: sparkline(counts, 72, 18, "events in the last 24 hours"),
		Level: clean(iss.Level, 16, false), LevelClass: levelClass(iss.Level),
		Environment: truncate(40, clean(iss.Environment, 64, false)), Release: truncate(40, clean(iss.Release, 200, false))}
	switch {
	case iss.IsResolved:
		r.Class, r.Mark = "resolved", "✓"
	case iss.IsMuted:
		r.Class, r.Mark = "muted", "muted"
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
	if iss.AssignedTo != "" {
		b.WriteString(" · assigned to ")
		b.WriteString(clean(iss.AssignedTo, 64, false))
	}
	r.Meta = b.String()
	return r
}

type issueListPage struct {
	layout
	// Project is nil on the list across projects.
	Project *store.Project
	Base    string // the list's path
	BulkURL string // where the bulk form posts
	Tab     string
	Tabs    []tabLink
	Sort    string
	SortURL map[string]string
	Q       string
	// SearchError says why the query was refused ("" when it was not).
	SearchError string
	// Mine says the list shows only the issues assigned to the user;
	// MineURL toggles that.
	Mine    bool
	MineURL string
	Rows    []issueRow
	// Shown lists the page's issue ids, comma-separated: what "Select
	// all" applies to when no script ticks the boxes.
	Shown   string
	Buttons []actionButton
	More    []actionButton
	Prev    string
	Next    string
	// PrevFirst says Prev is the first page (a list paged by cursor).
	PrevFirst bool
	// The outcome of the bulk action just done: its label, how many issues
	// it applied to and how many it skipped; NoneSelected when none was.
	Done         string
	Applied      int64
	Skipped      int64
	NoneSelected bool
	// Deleted says an issue was just deleted.
	Deleted bool
	Return  string
	Now     time.Time
	// Dropped is what the SDKs and ingest dropped this week (health.go);
	// nil when nothing.
	Dropped *droppedSummary
}

// listParams are the issue list's query parameters.
type listParams struct {
	tab    issueTab
	sort   string // "last_seen" or "events"
	q      string
	mine   bool
	pageNo int
	// cursor is where a searched list's page starts (store.Search's
	// Next), "" for the first page; the page number is then only shown.
	cursor string
}

func parseListParams(qs url.Values) listParams {
	lp := listParams{tab: tabNamed(qs.Get("tab")), sort: qs.Get("sort"), q: qs.Get("q"), mine: qs.Get("mine") == "1"}
	if lp.sort != "events" {
		lp.sort = "last_seen"
	}
	if len(lp.q) > 500 {
		lp.q = lp.q[:500]
	}
	lp.pageNo, _ = strconv.Atoi(qs.Get("page"))
	lp.pageNo = max(lp.pageNo, 1)
	if c := qs.Get("cursor"); len(c) <= 64 {
		lp.cursor = c
	}
	return lp
}

// nextLink returns the page of the list at base after cursor.
func (lp listParams) nextLink(base, cursor string) string {
	l := lp.link(base, lp.tab.Name, lp.sort, lp.mine, lp.pageNo+1)
	sep := "?"
	if strings.Contains(l, "?") {
		sep = "&"
	}
	return l + sep + "cursor=" + url.QueryEscape(cursor)
}

// link returns the list at base with lp's parameters changed to these.
func (lp listParams) link(base, tab, sort string, mine bool, page int) string {
	v := url.Values{}
	if tab != "open" {
		v.Set("tab", tab)
	}
	if sort != "last_seen" {
		v.Set("sort", sort)
	}
	if lp.q != "" {
		v.Set("q", lp.q)
	}
	if mine {
		v.Set("mine", "1")
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) > 0 {
		return base + "?" + v.Encode()
	}
	return base
}

// filter returns the store filter for lp, for user name, without project.
func (lp listParams) filter(user string) store.IssueFilter {
	f := store.IssueFilter{Sort: store.SortLastSeen, Desc: true, State: lp.tab.state}
	if lp.sort == "events" {
		f.Sort = store.SortEventCount
	}
	if lp.mine {
		f.AssignedTo = user
	}
	return f
}

// listIssues reads one project's issues for a list: limit of them from
// offset on, in lp's order. A search query goes to the search evaluator
// (store.DB.Search), from lp.cursor when set (else from offset); next is
// its cursor for the page after ("" on the last), and a page of a search
// may be short (the search bounds its work) with a next. searchErr says
// why a query was refused. With "assigned to me" and a query, the page
// keeps the matches assigned to user.
func (u *UI) listIssues(pid int, lp listParams, user string, offset, limit int) (issues []store.Issue, more bool, next, searchErr string, err error) {
	if strings.TrimSpace(lp.q) == "" && lp.cursor == "" {
		f := lp.filter(user)
		f.Project, f.Offset, f.Limit = pid, offset, limit
		issues, more, err = u.db.Issues(f)
		return issues, more, "", "", err
	}
	sr := store.SearchRequest{Project: pid, Query: lp.q, Sort: store.SortLastSeen, Desc: true, State: lp.tab.state, Limit: limit, Cursor: lp.cursor}
	if lp.sort == "events" {
		sr.Sort = store.SortEventCount
	}
	if offset > 0 && sr.Cursor == "" {
		sr.Cursor = strconv.Itoa(offset)
	}
	res, err := u.db.Search(sr)
	switch {
	case errors.Is(err, search.ErrBadQuery):
		return nil, false, "", strings.TrimPrefix(err.Error(), search.ErrBadQuery.Error()+": "), nil
	case err != nil:
		return nil, false, "", "", err
	}
	issues = res.Issues
	if lp.mine {
		kept := issues[:0]
		for _, iss := range issues {
			if iss.AssignedTo == user {
				kept = append(kept, iss)
			}
		}
		issues = kept
	}
	return issues, res.Next != "", res.Next, "", nil
}

// newListPage fills what both lists show; the caller adds the rows.
func (u *UI) newListPage(r *http.Request, title string, p *store.Project, base, bulk string, lp listParams, latest string) *issueListPage {
	page := &issueListPage{
		layout: u.layout(r, title), Project: p, Base: base, BulkURL: bulk,
		Tab: lp.tab.Name, Sort: lp.sort, Q: lp.q, Mine: lp.mine, Now: u.now(),
		SortURL: map[string]string{"last_seen": lp.link(base, lp.tab.Name, "last_seen", lp.mine, 1), "events": lp.link(base, lp.tab.Name, "events", lp.mine, 1)},
		MineURL: lp.link(base, lp.tab.Name, lp.sort, !lp.mine, 1),
	}
	page.ListScript = true
	qs := r.URL.Query()
	page.Skipped, _ = strconv.ParseInt(qs.Get("skipped"), 10, 64)
	page.Applied, _ = strconv.ParseInt(qs.Get("applied"), 10, 64)
	if a := store.Action(qs.Get("done")); a != "" {
		page.Done = actionLabel(a, latest)
	}
	page.NoneSelected = qs.Has("none")
	page.Deleted = qs.Has("deleted")
	page.Return = lp.link(base, lp.tab.Name, lp.sort, lp.mine, lp.pageNo)
	for _, t := range issueTabs {
		page.Tabs = append(page.Tabs, tabLink{Label: t.Label, URL: lp.link(base, t.Name, lp.sort, lp.mine, 1), Active: t.Name == lp.tab.Name})
	}
	page.Buttons, page.More = bulkActions(lp.tab, latest)
	if lp.pageNo > 1 {
		page.Prev = lp.link(base, lp.tab.Name, lp.sort, lp.mine, lp.pageNo-1)
	}
	return page
}

// addRows formats the issues of a page; project returns an issue's project.
func (u *UI) addRows(page *issueListPage, issues []store.Issue, project func(*store.Issue) *store.Project) error {
	from, to := last24Hours(page.Now)
	hours, err := u.db.IssuesHourly(issues, from, to)
	if err != nil {
		return err
	}
	ids := make([]string, len(issues))
	for i := range issues {
		page.Rows = append(page.Rows, newIssueRow(project(&issues[i]), &issues[i], hours[i], page.Now))
		ids[i] = strconv.FormatUint(uint64(issues[i].ID), 10)
	}
	page.Shown = strings.Join(ids, ",")
	return nil
}

// handleIssueList serves GET /projects/{pid}/?tab=&sort=&q=&mine=&page=.
func (u *UI) handleIssueList(w http.ResponseWriter, r *http.Request) error {
	p, err := u.project(r)
	if err != nil {
		return err
	}
	lp := parseListParams(r.URL.Query())
	matched, more, next, searchErr, err := u.listIssues(p.ID, lp, currentUser(r).Name, (lp.pageNo-1)*issuesPerPage, issuesPerPage)
	if err != nil {
		return err
	}
	latest, err := u.latestRelease(p.ID)
	if err != nil {
		return err
	}
	base := "/projects/" + strconv.Itoa(p.ID) + "/"
	page := u.newListPage(r, p.Name, p, base, base+"issues/", lp, latest)
	page.SearchError = searchErr
	if page.Dropped, err = u.droppedSummary(p.ID); err != nil {
		return err
	}
	switch {
	case next != "":
		page.Next = lp.nextLink(base, next)
	case more:
		page.Next = lp.link(base, lp.tab.Name, lp.sort, lp.mine, lp.pageNo+1)
	}
	if lp.cursor != "" {
		page.Prev, page.PrevFirst = lp.link(base, lp.tab.Name, lp.sort, lp.mine, 1), true
	}
	if err := u.addRows(page, matched, func(*store.Issue) *store.Project { return p }); err != nil {
		return err
	}
	return u.render(w, "issues", page)
}

// handleAllIssues serves GET /issues/?tab=&sort=&q=&mine=&cursor=: the
// issues of every project the user can see, in one list. Each project is
// searched (store.DB.Search) from the page's cursor, a position in the
// list's order that means the same in every project; the pages are merged
// and cut where the first project stopped early (its Next), so no issue of
// it is left out before the next page's cursor.
func (u *UI) handleAllIssues(w http.ResponseWriter, r *http.Request) error {
	usr := currentUser(r)
	lp := parseListParams(r.URL.Query())
	if !strings.HasPrefix(lp.cursor, "p") {
		lp.cursor, lp.pageNo = "", 1
	}
	projects, err := u.db.Projects()
	if err != nil {
		return err
	}
	sortBy := store.SortLastSeen
	if lp.sort == "events" {
		sortBy = store.SortEventCount
	}
	byID := map[int]*store.Project{}
	var all []store.Issue
	searchErr, frontier := "", ""
	for i := range projects {
		p := &projects[i]
		if !usr.CanSee(p.ID) {
			continue
		}
		byID[p.ID] = p
		q := lp
		if q.cursor == "" {
			q.cursor = "p9223372036854775807.4294967295" // before every issue
		}
		got, _, next, bad, err := u.listIssues(p.ID, q, usr.Name, 0, issuesPerPage)
		if err != nil {
			return err
		}
		if bad != "" {
			searchErr = bad
			break
		}
		all = append(all, got...)
		if next != "" && (frontier == "" || store.CursorBefore(next, frontier, true)) {
			frontier = next
		}
	}
	key := func(iss *store.Issue) int64 {
		if sortBy == store.SortEventCount {
			return iss.DigestedEventCount
		}
		return iss.LastSeen.UnixMilli()
	}
	sort.Slice(all, func(i, j int) bool { // the store's order: key, then id, descending
		a, b := &all[i], &all[j]
		if ka, kb := key(a), key(b); ka != kb {
			return ka > kb
		}
		return a.ID > b.ID
	})
	if frontier != "" {
		kept := all[:0]
		for _, iss := range all {
			if !store.CursorAfter(&iss, sortBy, true, frontier) {
				kept = append(kept, iss)
			}
		}
		all = kept
	}
	next := frontier
	if len(all) > issuesPerPage {
		all = all[:issuesPerPage]
		next = store.PositionCursor(&all[len(all)-1], sortBy)
	}
	page := u.newListPage(r, "All issues", nil, "/issues/", "/issues/", lp, "")
	page.TopNav = "issues"
	page.SearchError = searchErr
	if next != "" {
		page.Next = lp.nextLink("/issues/", next)
	}
	if lp.cursor != "" {
		page.Prev, page.PrevFirst = lp.link("/issues/", lp.tab.Name, lp.sort, lp.mine, 1), true
	}
	if err := u.addRows(page, all, func(iss *store.Issue) *store.Project { return byID[iss.ProjectID] }); err != nil {
		return err
	}
	return u.render(w, "issues", page)
}

// maxBulk caps the issues of one bulk action.
const maxBulk = 1000

// handleIssueBulk serves POST /projects/{pid}/issues/: one action on the
// checked issues, or with all=1 on every issue the page showed (the
// select-all box, which works without a script). Issues for which the
// action is not valid are skipped; the list it returns to counts both.
func (u *UI) handleIssueBulk(w http.ResponseWriter, r *http.Request) error {
	p, err := u.project(r)
	if err != nil {
		return err
	}
	return u.bulk(w, r, p)
}

// handleAllIssuesBulk serves POST /issues/, the bulk form of the list
// across projects: any issue of a project the user can see.
func (u *UI) handleAllIssuesBulk(w http.ResponseWriter, r *http.Request) error {
	return u.bulk(w, r, nil)
}

func (u *UI) bulk(w http.ResponseWriter, r *http.Request, p *store.Project) error {
	if err := r.ParseForm(); err != nil {
		return errBadInput("Bad form.")
	}
	usr := currentUser(r)
	latest, back := "", "/issues/"
	if p != nil {
		var err error
		if latest, err = u.latestRelease(p.ID); err != nil {
			return err
		}
		back = "/projects/" + strconv.Itoa(p.ID) + "/"
	}
	a := store.Action(r.PostForm.Get("action"))
	if !offered(a, latest) {
		return errBadInput("Unknown action.")
	}
	picked := r.PostForm["issue"]
	if r.PostForm.Get("all") == "1" {
		picked = append(picked, strings.Split(r.PostForm.Get("shown"), ",")...)
	}
	if len(picked) > 2*maxBulk {
		return errBadInput("Too many issues at once.")
	}
	var ids []uint32
	seen := map[uint32]bool{}
	for _, s := range picked {
		n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
		if err != nil || seen[uint32(n)] {
			continue
		}
		seen[uint32(n)] = true
		iss, err := u.db.Issue(uint32(n))
		if errors.Is(err, store.ErrNotFound) {
			continue
		} else if err != nil {
			return err
		}
		if p != nil && iss.ProjectID != p.ID || p == nil && !usr.CanSee(iss.ProjectID) {
			continue
		}
		ids = append(ids, iss.ID)
		if len(ids) > maxBulk {
			return errBadInput("Too many issues at once.")
		}
	}
	if ret := localPath(r.PostForm.Get("return")); ret != "/projects/" {
		back = ret
	}
	bu, _ := url.Parse(back)
	v := bu.Query()
	for _, k := range []string{"done", "applied", "skipped", "none", "deleted"} {
		v.Del(k)
	}
	if len(ids) == 0 {
		v.Set("none", "1")
	} else {
		unapplied, err := u.db.ApplyActions(ids, a, usr.Name)
		if err != nil {
			return err
		}
		v.Set("done", string(a))
		v.Set("applied", strconv.Itoa(len(ids)-len(unapplied)))
		if len(unapplied) > 0 {
			v.Set("skipped", strconv.Itoa(len(unapplied)))
		}
	}
	bu.RawQuery = v.Encode()
	return redirect(w, r, bu.String())
}
