package ui

import (
	"bytes"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tinysink/tinysink/digest/event"
	"github.com/tinysink/tinysink/digest/rawevent"
	"github.com/tinysink/tinysink/digest/release"
	"github.com/tinysink/tinysink/store"
	"github.com/tinysink/tinysink/store/attach"
	"github.com/tinysink/tinysink/store/search"
)

// The issue page (reference §9.3–9.5): a header with the title, request
// line, crash location and actions; a side box with the key facts and tag
// distributions; and tabs. The event tabs (Stacktrace, Event details,
// Breadcrumbs) show one event, chosen by {ev} in the path: "last", "first",
// the event's number within the issue, or its 32-hex id.

// frameBodies is how many frames of a page carry their code and variables;
// the others link to ?frame=N. It keeps a deep trace's page small.
const frameBodies = 30

// tagDist is the distribution of one tag key's values.
type tagDist struct {
	Key    string
	Total  int64
	Values []tagShare
}

type tagShare struct {
	Value string
	Count int64
	Other bool
	// URL lists the project's issues with this value (tagSearchURL).
	URL string
}

// eventNav links to the first, previous (older), next (newer) and last
// events; "" where there is none.
type eventNav struct {
	First, Prev, Next, Last string
}

// sideFeedback is how much user feedback the issue's side box shows.
const sideFeedback = 5

type issuePage struct {
	layout
	Project    store.Project
	Issue      store.Issue
	IssueTitle string
	FriendlyID string
	Crash      string
	State      string
	// Level, LevelClass, Environment and Release describe the latest
	// event, for the header's badges.
	Level       string
	LevelClass  string
	Environment string
	Release     string
	// Assignee is who the issue is assigned to; Assignees are the users
	// it can be assigned to: the active ones who can see the project.
	Assignee  string
	Assignees []string
	Actions   []actionButton
	More      []actionButton
	Releases  []issueRelease // with their crash-free sessions (health.go)
	MoreRel   int
	TagBox    []tagDist
	Feedback  []store.Feedback // the newest few, for the side box
	Tabs      []tabLink
	Now       time.Time

	// Event tabs.
	Event     *eventView
	EventRef  *store.Event
	EventBase string // /issues/{id}/event/{n}/
	Nav       eventNav
	InAppOnly bool
	AllURL    string
	AppURL    string
	Histogram template.HTML
	// Attachments of the shown event, and what its minidump lacked.
	Attachments []attach.Item
	Native      *nativeNote

	// Other tabs.
	Events     []store.Event
	NextEvents string
	// EventQuery searches the issue's events; Searched says how many
	// were read for this page, SearchError why the query was refused.
	EventQuery  string
	Matched     int64
	Searched    int
	SearchError string
	AllTags     []tagDist
	Groupings   []store.Grouping
	Why         *groupingWhy
	History     []store.HistoryEntry
}

// groupingWhy explains the title and grouping key of an issue's latest
// event (the Grouping tab).
type groupingWhy struct {
	Title, TitleWhy, Key, Mechanism, KeyWhy string
}

// RequestLine is "METHOD URL" of the shown event's request.
func (p *issuePage) RequestLine() string {
	if p.Event == nil {
		return ""
	}
	return p.Event.RequestLine()
}

// issue loads the issue named by {id} when the user may see its project.
func (u *UI) issue(r *http.Request) (*store.Project, *store.Issue, error) {
	iss, err := u.db.IssueByRef(r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, errNotFound
	} else if err != nil {
		return nil, nil, err
	}
	if usr := currentUser(r); usr == nil || !usr.CanSee(iss.ProjectID) {
		return nil, nil, errNotFound
	}
	p, err := u.db.Project(iss.ProjectID)
	if err != nil {
		return nil, nil, err
	}
	return p, iss, nil
}

// base fills what every tab of the issue page shows.
func (u *UI) issueBase(r *http.Request, p *store.Project, iss *store.Issue, tab string) (*issuePage, error) {
	page := &issuePage{
		layout: u.layout(r, clean(iss.Title(), 100, false)), Project: *p, Issue: *iss,
		IssueTitle: clean(iss.Title(), maxLong, true), FriendlyID: store.FriendlyID(p, iss),
		State: issueState(iss), Now: u.now(),
		Level: clean(iss.Level, 16, false), LevelClass: levelClass(iss.Level),
		Environment: clean(iss.Environment, 64, false), Release: clean(iss.Release, 200, false),
		Assignee: clean(iss.AssignedTo, maxKey, false),
	}
	users, err := u.db.Users()
	if err != nil {
		return nil, err
	}
	for _, usr := range users {
		if usr.Active && usr.CanSee(p.ID) {
			page.Assignees = append(page.Assignees, usr.Name)
		}
	}
	latest, err := u.latestRelease(p.ID)
	if err != nil {
		return nil, err
	}
	page.Actions, page.More = issueActions(iss, latest)
	page.Crash = crashLine(iss)
	rel, err := u.inReleaseOrder(p.ID, iss.EventsAt)
	if err != nil {
		return nil, err
	}
	if len(rel) > 12 {
		page.MoreRel = len(rel) - 10
		rel = append(append([]string{}, rel[:5]...), rel[len(rel)-5:]...)
	}
	page.Releases = u.issueReleases(p.ID, rel)
	tags, err := u.db.IssueTags(iss.ID)
	if err != nil {
		return nil, err
	}
	if page.Feedback, err = u.db.Feedback(iss.ID); err != nil {
		return nil, err
	}
	page.Feedback = page.Feedback[:min(len(page.Feedback), sideFeedback)]
	for i := range page.Feedback {
		f := &page.Feedback[i]
		f.Name, f.Email, f.Message = clean(f.Name, 100, false), clean(f.Email, 100, false), clean(f.Message, maxLong, true)
	}
	// The side box leaves out keys whose values are unique per event
	// (reference §9.6); the Tags tab shows them all.
	box := tags[:0:0]
	for _, tc := range tags {
		if event.CountedTag(tc.Key) {
			box = append(box, tc)
		}
	}
	page.TagBox = distributions(iss.ProjectID, box, 4)
	prefix := "/issues/" + strconv.FormatUint(uint64(iss.ID), 10) + "/"
	ev := r.PathValue("ev")
	if ev == "" {
		ev = "last"
	}
	for _, t := range []struct{ name, label, url string }{
		{"stacktrace", "Stacktrace", prefix + "event/" + ev + "/"},
		{"details", "Event details", prefix + "event/" + ev + "/details/"},
		{"breadcrumbs", "Breadcrumbs", prefix + "event/" + ev + "/breadcrumbs/"},
		{"events", "Events", prefix + "events/"},
		{"tags", "Tags", prefix + "tags/"},
		{"grouping", "Grouping", prefix + "grouping/"},
		{"history", "History", prefix + "history/"},
	} {
		page.Tabs = append(page.Tabs, tabLink{Label: t.label, URL: t.url, Active: t.name == tab})
	}
	return page, nil
}

// crashLine says where the issue's crash frame is: "module in function"
// (the filename when there is no module, a native frame's binary when
// there is neither), or "module.function" for Java, or "" when unknown.
func crashLine(iss *store.Issue) string {
	mod, fn := clean(iss.LastFrameModule, maxText, false), clean(iss.LastFrameFunction, maxText, false)
	if iss.Platform == "java" && mod != "" && fn != "" {
		return mod + "." + fn
	}
	loc := mod
	for _, alt := range []string{iss.LastFrameFilename, iss.LastFramePackage} {
		if loc == "" {
			loc = clean(alt, maxText, false)
		}
	}
	switch {
	case loc == "" && fn == "":
		return ""
	case fn == "":
		return loc
	case loc == "":
		return "? in " + fn
	}
	return loc + " in " + fn
}

// inReleaseOrder returns versions, releases of project pid, oldest first
// in the project's release order (digest/release: semver precedence, so
// 1.10.0 after 1.9.0), not in the order the issue first met them.
func (u *UI) inReleaseOrder(pid int, versions []string) ([]string, error) {
	if len(versions) < 2 {
		return versions, nil
	}
	rs, err := u.db.Releases(pid)
	if err != nil {
		return nil, err
	}
	known := make(map[string]release.Release, len(rs))
	for _, r := range rs {
		known[r.Version] = release.Release{Version: r.Version, DateReleased: r.DateReleased, SortEpoch: r.SortEpoch}
	}
	rr := make([]release.Release, len(versions))
	for i, v := range versions {
		r, ok := known[v]
		if !ok {
			r = release.Release{Version: v}
		}
		rr[i] = r
	}
	release.Sort(rr)
	out := make([]string, len(rr))
	for i, r := range rr {
		out[i] = r.Version
	}
	return out, nil
}

// distributions groups tag counts by key and keeps the top n values of
// each, summing the rest as "Other".
func distributions(pid int, tags []store.TagCount, n int) []tagDist {
	var out []tagDist
	for i := 0; i < len(tags); {
		j := i
		d := tagDist{Key: clean(tags[i].Key, maxKey, false)}
		var other int64
		for ; j < len(tags) && tags[j].Key == tags[i].Key; j++ {
			d.Total += tags[j].Count
			if tags[j].Value == store.OtherTagValue || len(d.Values) >= n {
				other += tags[j].Count
				continue
			}
			d.Values = append(d.Values, tagShare{Value: clean(tags[j].Value, maxKey, false), Count: tags[j].Count,
				URL: tagSearchURL(pid, tags[j].Key, tags[j].Value)})
		}
		if other > 0 {
			d.Values = append(d.Values, tagShare{Value: "Other", Count: other, Other: true})
		}
		out = append(out, d)
		i = j
	}
	return out
}

// handleIssueShow serves GET /issues/{id}/: the Stacktrace tab of the
// latest event.
func (u *UI) handleIssueShow(w http.ResponseWriter, r *http.Request) error {
	_, iss, err := u.issue(r)
	if err != nil {
		return err
	}
	return redirect(w, r, "/issues/"+strconv.FormatUint(uint64(iss.ID), 10)+"/event/last/")
}

// locate finds the event named ref in the issue's chain and its newer and
// older neighbours. Walking the chain reads one small record per event
// between the newest and the target.
func (u *UI) locate(iss *store.Issue, ref string) (newer, cur, older *store.Event, err error) {
	var match func(*store.Event) bool
	switch {
	case ref == "last":
		match = func(*store.Event) bool { return true }
	case ref == "first":
		pg, err := u.db.Events(iss, true, 0, 2)
		if err != nil {
			return nil, nil, nil, err
		}
		if len(pg.Events) == 0 {
			return nil, nil, nil, nil
		}
		if len(pg.Events) > 1 {
			newer = &pg.Events[1]
		}
		return newer, &pg.Events[0], nil, nil
	default:
		if n, err := strconv.Atoi(ref); err == nil {
			// The event with this number, or the nearest older one when it
			// was evicted.
			match = func(e *store.Event) bool { return e.DigestOrder <= n }
		} else if hex := rawevent.NormalizeID(ref); hex != "" {
			match = func(e *store.Event) bool { return e.ID == hex }
		} else {
			return nil, nil, nil, errNotFound
		}
	}
	// The newest event and its older neighbour are the first two: the
	// issue's main page (ref "last") reads two records, not a page of 250.
	size := 250
	if ref == "last" {
		size = 2
	}
	var cursor uint32
	var prev *store.Event
	for {
		pg, err := u.db.Events(iss, false, cursor, size)
		if err != nil {
			return nil, nil, nil, err
		}
		for i := range pg.Events {
			e := &pg.Events[i]
			if cur != nil {
				return newer, cur, e, nil
			}
			if match(e) {
				cur, newer = e, prev
				continue
			}
			prev = e
		}
		if pg.Next == 0 {
			return newer, cur, nil, nil
		}
		cursor = pg.Next
	}
}

// eventTab fills the page for one of the event tabs.
func (u *UI) eventTab(r *http.Request, tab string, opt frameOptions) (*issuePage, error) {
	p, iss, err := u.issue(r)
	if err != nil {
		return nil, err
	}
	page, err := u.issueBase(r, p, iss, tab)
	if err != nil {
		return nil, err
	}
	newer, cur, older, err := u.locate(iss, r.PathValue("ev"))
	if err != nil {
		return nil, err
	}
	if cur == nil {
		// An issue whose events were all evicted still shows its header.
		page.Event = &eventView{}
		return page, nil
	}
	body, err := u.db.EventBody(cur)
	if err != nil {
		return nil, err
	}
	body = u.maps.Apply(cur.ProjectID, body)
	page.Event = parseEvent(body, opt)
	page.EventRef = cur
	if u.attach != nil {
		page.Attachments, _ = u.attach.List(cur.ProjectID, cur.ID)
		page.Native = nativeNoteOf(body, u.base, cur, u.symbols)
	}
	prefix := "/issues/" + strconv.FormatUint(uint64(iss.ID), 10) + "/event/"
	suffix := ""
	if tab != "stacktrace" {
		suffix = tab + "/"
	}
	page.EventBase = prefix + strconv.Itoa(cur.DigestOrder) + "/"
	if older != nil {
		page.Nav.First = prefix + "first/" + suffix
		page.Nav.Prev = prefix + strconv.Itoa(older.DigestOrder) + "/" + suffix
	}
	if newer != nil {
		page.Nav.Next = prefix + strconv.Itoa(newer.DigestOrder) + "/" + suffix
		page.Nav.Last = prefix + "last/" + suffix
	}
	// Tabs follow the shown event.
	for i := range page.Tabs {
		if i < 3 {
			page.Tabs[i].URL = strings.Replace(page.Tabs[i].URL, "/event/"+r.PathValue("ev")+"/", "/event/"+strconv.Itoa(cur.DigestOrder)+"/", 1)
		}
	}
	return page, nil
}

// handleIssueStacktrace serves GET /issues/{id}/event/{ev}/ with
// ?frames=app for in-app frames only and ?frame=N to load frame N's code.
func (u *UI) handleIssueStacktrace(w http.ResponseWriter, r *http.Request) error {
	qs := r.URL.Query()
	opt := frameOptions{bodies: frameBodies, frame: -1, inAppOnly: qs.Get("frames") == "app"}
	if n, err := strconv.Atoi(qs.Get("frame")); err == nil && n >= 0 {
		opt.frame = n
	}
	page, err := u.eventTab(r, "stacktrace", opt)
	if err != nil {
		return err
	}
	page.InAppOnly = opt.inAppOnly
	page.AllURL = "?frames=all"
	page.AppURL = "?frames=app"
	return u.render(w, "issue_stacktrace", page)
}

// handleIssueDetails serves GET /issues/{id}/event/{ev}/details/.
func (u *UI) handleIssueDetails(w http.ResponseWriter, r *http.Request) error {
	page, err := u.eventTab(r, "details", frameOptions{frame: -1})
	if err != nil {
		return err
	}
	page.Histogram = sparkline(u.histogram90(store.IssueSubject(page.Issue.ID)), 560, 60, "events in the last 90 days, per day")
	addUAContexts(page.Event)
	return u.render(w, "issue_details", page)
}

// handleIssueBreadcrumbs serves GET /issues/{id}/event/{ev}/breadcrumbs/.
func (u *UI) handleIssueBreadcrumbs(w http.ResponseWriter, r *http.Request) error {
	page, err := u.eventTab(r, "breadcrumbs", frameOptions{frame: -1})
	if err != nil {
		return err
	}
	return u.render(w, "issue_breadcrumbs", page)
}

// handleIssueEvents serves GET /issues/{id}/events/?q=&cursor=: the
// issue's events, newest first, those matching q when set (search.go).
func (u *UI) handleIssueEvents(w http.ResponseWriter, r *http.Request) error {
	p, iss, err := u.issue(r)
	if err != nil {
		return err
	}
	page, err := u.issueBase(r, p, iss, "events")
	if err != nil {
		return err
	}
	qs := r.URL.Query()
	cursor, _ := strconv.ParseUint(qs.Get("cursor"), 10, 32)
	q := qs.Get("q")
	if len(q) > 500 {
		q = q[:500]
	}
	page.EventQuery = q
	next := func(c uint32) string {
		v := url.Values{}
		if q != "" {
			v.Set("q", q)
		}
		v.Set("cursor", strconv.FormatUint(uint64(c), 10))
		return "?" + v.Encode()
	}
	if q == "" {
		pg, err := u.db.Events(iss, false, uint32(cursor), 250)
		if err != nil {
			return err
		}
		page.Events = pg.Events
		if pg.Next != 0 {
			page.NextEvents = next(pg.Next)
		}
		return u.render(w, "issue_events", page)
	}
	query, err := search.Parse(q, u.now())
	if err != nil {
		page.SearchError = strings.TrimPrefix(err.Error(), search.ErrBadQuery.Error()+": ")
		return u.render(w, "issue_events", page)
	}
	norm := event.NewNormalizer()
	page.Events = []store.Event{}
	c := uint32(cursor)
	for scanned := 0; scanned < eventSearchScan && len(page.Events) < 250; {
		pg, err := u.db.Events(iss, false, c, min(50, eventSearchScan-scanned))
		if err != nil {
			return err
		}
		for _, e := range pg.Events {
			scanned++
			body, err := u.db.EventBody(&e)
			if err != nil {
				continue
			}
			ev, err := norm.Reindex(body, event.Meta{EventID: e.ID, IngestedAt: e.IngestedAt})
			if err == nil && matchEvent(query, &e, ev) {
				page.Events = append(page.Events, e)
			}
		}
		page.Searched += len(pg.Events)
		if c = pg.Next; c == 0 {
			break
		}
	}
	page.Matched = int64(len(page.Events))
	if c != 0 {
		page.NextEvents = next(c)
	}
	return u.render(w, "issue_events", page)
}

// handleIssueTags serves GET /issues/{id}/tags/.
func (u *UI) handleIssueTags(w http.ResponseWriter, r *http.Request) error {
	p, iss, err := u.issue(r)
	if err != nil {
		return err
	}
	page, err := u.issueBase(r, p, iss, "tags")
	if err != nil {
		return err
	}
	tags, err := u.db.IssueTags(iss.ID)
	if err != nil {
		return err
	}
	page.AllTags = distributions(iss.ProjectID, tags, 25)
	return u.render(w, "issue_tags", page)
}

// handleIssueGrouping serves GET /issues/{id}/grouping/.
func (u *UI) handleIssueGrouping(w http.ResponseWriter, r *http.Request) error {
	p, iss, err := u.issue(r)
	if err != nil {
		return err
	}
	page, err := u.issueBase(r, p, iss, "grouping")
	if err != nil {
		return err
	}
	gs, err := u.db.Groupings(iss)
	if err != nil {
		return err
	}
	for i := range gs {
		gs[i].Key = clean(gs[i].Key, maxLong, true)
		gs[i].Mechanism = clean(gs[i].Mechanism, maxText, false)
		gs[i].SucceededBy = clean(gs[i].SucceededBy, maxLong, true)
	}
	page.Groupings = gs
	if page.Why, err = u.groupingWhy(iss); err != nil {
		return err
	}
	return u.render(w, "issue_grouping", page)
}

// groupingWhy normalises the issue's latest stored event again and says why
// it has its title and key; nil when no event is stored.
func (u *UI) groupingWhy(iss *store.Issue) (*groupingWhy, error) {
	pg, err := u.db.Events(iss, false, 0, 1)
	if err != nil || len(pg.Events) == 0 {
		return nil, err
	}
	body, err := u.db.EventBody(&pg.Events[0])
	if err != nil {
		return nil, err
	}
	ev, _, err := event.NewNormalizer().Normalize(body, event.Meta{EventID: pg.Events[0].ID})
	if err != nil {
		return nil, nil // stored events normalise; should one not, say nothing
	}
	titleWhy, keyWhy := event.Explain(ev)
	return &groupingWhy{
		Title: clean(ev.Title, maxLong, true), TitleWhy: titleWhy,
		Key: clean(ev.GroupingKey, maxLong, true), Mechanism: clean(ev.GroupingMechanism, maxText, false), KeyWhy: clean(keyWhy, maxLong, true),
	}, nil
}

// handleIssueHistory serves GET /issues/{id}/history/: state changes and
// comments, newest first, after the synthetic "first seen" entry.
func (u *UI) handleIssueHistory(w http.ResponseWriter, r *http.Request) error {
	p, iss, err := u.issue(r)
	if err != nil {
		return err
	}
	page, err := u.issueBase(r, p, iss, "history")
	if err != nil {
		return err
	}
	h, err := u.db.History(iss.ID)
	if err != nil {
		return err
	}
	seen := false
	for i := range h {
		h[i].Comment = clean(h[i].Comment, store.MaxCommentLen, true)
		h[i].User = clean(h[i].User, maxKey, false)
		seen = seen || h[i].Kind == store.HistoryFirstSeen
	}
	if !seen {
		// Issues from before digest wrote history.
		h = append([]store.HistoryEntry{{Kind: store.HistoryFirstSeen, At: iss.FirstSeen}}, h...)
	}
	sort.SliceStable(h, func(i, j int) bool { return h[i].At.After(h[j].At) })
	page.History = h
	return u.render(w, "issue_history", page)
}

// handleIssueAction serves POST /issues/{id}/action/ with action= and an
// optional comment=.
func (u *UI) handleIssueAction(w http.ResponseWriter, r *http.Request) error {
	_, iss, err := u.issue(r)
	if err != nil {
		return err
	}
	latest, err := u.latestRelease(iss.ProjectID)
	if err != nil {
		return err
	}
	a := store.Action(r.PostFormValue("action"))
	if !offered(a, latest) {
		return errBadInput("Unknown action.")
	}
	if _, err := u.db.ApplyAction(iss.ID, a, currentUser(r).Name, r.PostFormValue("comment")); err != nil {
		return err
	}
	back := localPath(r.PostFormValue("return"))
	if back == "/projects/" {
		back = "/issues/" + strconv.FormatUint(uint64(iss.ID), 10) + "/"
	}
	return redirect(w, r, back)
}

// handleIssueComment serves POST /issues/{id}/comment/.
func (u *UI) handleIssueComment(w http.ResponseWriter, r *http.Request) error {
	_, iss, err := u.issue(r)
	if err != nil {
		return err
	}
	c := strings.TrimSpace(r.PostFormValue("comment"))
	if c == "" {
		return errBadInput("The comment is empty.")
	}
	if err := u.db.AddComment(iss.ID, currentUser(r).Name, c); err != nil {
		return err
	}
	return redirect(w, r, "/issues/"+strconv.FormatUint(uint64(iss.ID), 10)+"/history/")
}

// handleIssueAssign serves POST /issues/{id}/assign/ with user=NAME, or
// user= to unassign: anyone who can see the issue may assign it to an
// active user who can see it too.
func (u *UI) handleIssueAssign(w http.ResponseWriter, r *http.Request) error {
	_, iss, err := u.issue(r)
	if err != nil {
		return err
	}
	name := r.PostFormValue("user")
	if name != "" {
		usr, err := u.db.User(name)
		if errors.Is(err, store.ErrNotFound) || err == nil && (!usr.Active || !usr.CanSee(iss.ProjectID)) {
			return errBadInput("No such user can see this issue.")
		} else if err != nil {
			return err
		}
	}
	if _, err := u.db.Assign(iss.ID, name, currentUser(r).Name); err != nil {
		return err
	}
	return redirect(w, r, "/issues/"+strconv.FormatUint(uint64(iss.ID), 10)+"/")
}

// commentRef loads the issue named by {id} and the comment {ref} of its
// history, for editing or deleting: the author or an admin may.
func (u *UI) commentRef(r *http.Request) (*store.Issue, int64, func(*store.HistoryEntry) error, error) {
	_, iss, err := u.issue(r)
	if err != nil {
		return nil, 0, nil, err
	}
	ref, err := strconv.ParseInt(r.PathValue("ref"), 10, 64)
	if err != nil {
		return nil, 0, nil, errNotFound
	}
	usr := currentUser(r)
	may := func(e *store.HistoryEntry) error {
		if usr.Admin || e.User != "" && e.User == usr.Name {
			return nil
		}
		return errForbidden("Only the comment's author or an admin may change it.")
	}
	return iss, ref, may, nil
}

// commentDone maps the store's answers for a comment change.
func commentDone(w http.ResponseWriter, r *http.Request, iss *store.Issue, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound
	} else if errors.Is(err, store.ErrInvalid) {
		return errBadInput("The comment is empty.")
	} else if err != nil {
		return err
	}
	return redirect(w, r, "/issues/"+strconv.FormatUint(uint64(iss.ID), 10)+"/history/")
}

// handleCommentEdit serves POST /issues/{id}/comment/{ref}/edit/ with
// comment=.
func (u *UI) handleCommentEdit(w http.ResponseWriter, r *http.Request) error {
	iss, ref, may, err := u.commentRef(r)
	if err != nil {
		return err
	}
	return commentDone(w, r, iss, u.db.EditComment(iss.ID, ref, may, r.PostFormValue("comment")))
}

// handleCommentDelete serves POST /issues/{id}/comment/{ref}/delete/.
func (u *UI) handleCommentDelete(w http.ResponseWriter, r *http.Request) error {
	iss, ref, may, err := u.commentRef(r)
	if err != nil {
		return err
	}
	return commentDone(w, r, iss, u.db.DeleteComment(iss.ID, ref, may))
}

type issueDeletePage struct {
	layout
	Project    store.Project
	Issue      store.Issue
	IssueTitle string
	FriendlyID string
	Error      string
}

func (u *UI) issueDeletePage(r *http.Request, p *store.Project, iss *store.Issue) *issueDeletePage {
	return &issueDeletePage{
		layout: u.layout(r, "Delete "+store.FriendlyID(p, iss)), Project: *p, Issue: *iss,
		IssueTitle: clean(iss.Title(), maxText, false), FriendlyID: store.FriendlyID(p, iss),
	}
}

// handleIssueDeleteForm serves GET /issues/{id}/delete/: the confirmation
// step, a plain form, so that it works without JavaScript.
func (u *UI) handleIssueDeleteForm(w http.ResponseWriter, r *http.Request) error {
	p, iss, err := u.issue(r)
	if err != nil {
		return err
	}
	return u.render(w, "issue_delete", u.issueDeletePage(r, p, iss))
}

// handleIssueDelete serves POST /issues/{id}/delete/ with confirm=yes: the
// issue goes with its events, tags, groupings and history, and the browser
// returns to the project's issue list.
func (u *UI) handleIssueDelete(w http.ResponseWriter, r *http.Request) error {
	p, iss, err := u.issue(r)
	if err != nil {
		return err
	}
	if r.PostFormValue("confirm") != "yes" {
		page := u.issueDeletePage(r, p, iss)
		page.Error = "Tick the box to confirm the deletion."
		return u.renderStatus(w, http.StatusBadRequest, "issue_delete", page)
	}
	if err := u.db.DeleteIssue(iss.ID); err != nil {
		return err
	}
	return redirect(w, r, "/projects/"+strconv.Itoa(p.ID)+"/?deleted")
}

// The event downloads. Event JSON is served as data, never as a page:
// nosniff and a sandboxing policy keep a browser from running it.

func (u *UI) eventBody(r *http.Request) (*store.Issue, *store.Event, []byte, error) {
	_, iss, err := u.issue(r)
	if err != nil {
		return nil, nil, nil, err
	}
	_, cur, _, err := u.locate(iss, r.PathValue("ev"))
	if err != nil {
		return nil, nil, nil, err
	}
	if cur == nil {
		return nil, nil, nil, errNotFound
	}
	body, err := u.db.EventBody(cur)
	if err != nil {
		return nil, nil, nil, err
	}
	return iss, cur, u.maps.Apply(cur.ProjectID, body), nil
}

func dataHeaders(w http.ResponseWriter, ctype, disposition string) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", disposition)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "no-store")
}

// handleEventJSON serves GET /issues/{id}/event/{ev}/json/: the stored
// JSON, shown in the browser.
func (u *UI) handleEventJSON(w http.ResponseWriter, r *http.Request) error {
	_, _, body, err := u.eventBody(r)
	if err != nil {
		return err
	}
	dataHeaders(w, "application/json", "inline")
	w.Write(prettyJSON(body))
	return nil
}

// maxPrettyJSON is the largest body the JSON view indents; a larger one is
// shown as stored, so that one view never costs more than a few times this.
const maxPrettyJSON = 1 << 20

// prettyJSON returns body indented by two spaces, or body itself when it
// is larger than maxPrettyJSON or not JSON.
func prettyJSON(body []byte) []byte {
	if len(body) > maxPrettyJSON {
		return body
	}
	var b bytes.Buffer
	b.Grow(len(body) + len(body)/2)
	if err := json.Indent(&b, body, "", "  "); err != nil {
		return body
	}
	b.WriteByte('\n')
	return b.Bytes()
}

// handleEventDownload serves GET /issues/{id}/event/{ev}/download/.
func (u *UI) handleEventDownload(w http.ResponseWriter, r *http.Request) error {
	_, ev, body, err := u.eventBody(r)
	if err != nil {
		return err
	}
	dataHeaders(w, "application/json", `attachment; filename="event-`+ev.ID+`.json"`)
	w.Write(body)
	return nil
}

// handleEventMarkdown serves GET /issues/{id}/event/{ev}/md/: the title
// and stack traces as Markdown, for pasting into a chat or an LLM.
func (u *UI) handleEventMarkdown(w http.ResponseWriter, r *http.Request) error {
	iss, ev, body, err := u.eventBody(r)
	if err != nil {
		return err
	}
	dataHeaders(w, "text/markdown; charset=utf-8", `attachment; filename="event-`+ev.ID+`.md"`)
	w.Write([]byte("# " + iss.Title() + "\n\nEvent " + ev.ID + " at " + when(ev.Timestamp) + "\n\n"))
	w.Write([]byte(StacktraceMarkdown(body)))
	return nil
}
