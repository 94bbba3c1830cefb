package ui

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/tinysink/tinysink/store"
)

// The performance and cron monitor pages of a project.

// performancePage is /projects/{pid}/performance/.
type performancePage struct {
	layout
	Project store.Project
	Days    int
	Rows    []txRow
	// Name, when set, is the transaction whose examples are shown.
	Name     string
	Examples []store.TxExample
}

// handleProjectPerformance serves GET /projects/{pid}/performance/
// [?days=N][&name=NAME]: the project's transactions over the last N days,
// and the recent examples of one of them with their span trees.
func (u *UI) handleProjectPerformance(w http.ResponseWriter, r *http.Request) error {
	p, err := u.project(r)
	if err != nil {
		return err
	}
	from, to, days, err := perfWindow(r, u.now())
	if err != nil {
		return errNotFound
	}
	ts, err := u.db.Transactions(p.ID, from, to)
	if err != nil {
		return err
	}
	page := &performancePage{layout: u.layout(r, p.Name+" performance"), Project: *p, Days: days}
	for _, t := range ts {
		name := clean(t.Name, 200, false)
		// The link is built here rather than in the template: a literal
		// "&" in an attribute makes html/template load the whole HTML
		// entity table (~110 KB of heap, kept for the process's life).
		link := "?" + url.Values{"days": {strconv.Itoa(days)}, "name": {name}}.Encode()
		page.Rows = append(page.Rows, txRow{Name: name, Link: link, Count: count(int64(t.Count)),
			FailureRate: percent(int64(t.Failures), int64(t.Count)), P50: ms(t.P50), P95: ms(t.P95), P99: ms(t.P99)})
	}
	if name := r.URL.Query().Get("name"); name != "" {
		page.Name = clean(name, 200, false)
		if page.Examples, err = u.db.TxExamples(p.ID, name); err != nil {
			return err
		}
	}
	return u.render(w, "performance", page)
}

// txRow is one transaction name of the performance page, formatted.
type txRow struct {
	Name, Link, Count, FailureRate, P50, P95, P99 string
}

// monitorsPage is /projects/{pid}/monitors/.
type monitorsPage struct {
	layout
	Project  store.Project
	Monitors []apiMonitor
}

// handleProjectMonitors serves GET /projects/{pid}/monitors/: the
// project's cron monitors, their status, last check-ins and the next
// expected one.
func (u *UI) handleProjectMonitors(w http.ResponseWriter, r *http.Request) error {
	p, err := u.project(r)
	if err != nil {
		return err
	}
	ms, err := u.db.Monitors(p.ID)
	if err != nil {
		return err
	}
	page := &monitorsPage{layout: u.layout(r, p.Name+" monitors"), Project: *p}
	for i := range ms {
		cs, err := u.db.CheckIns(p.ID, ms[i].Slug, monitorCheckIns)
		if err != nil {
			return err
		}
		page.Monitors = append(page.Monitors, apiMonitorOf(&ms[i], cs))
	}
	return u.render(w, "monitors", page)
}
