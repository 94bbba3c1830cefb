package ui

import (
	"cmp"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tinysink/tinysink/internal/xsort"
	"github.com/tinysink/tinysink/store"
)

// Release health, client reports and dropped items in the API and the UI
// (store/health.go keeps them).

const (
	// healthDays is the window of the release health shown: the last two
	// weeks, today included (Sentry's default too).
	healthDays = 14
	// reportDays is the window of client reports and dropped items shown.
	reportDays = 7
)

// releaseHealth is one release's health over healthDays, as the API and
// the pages show it. Percentages are nil without sessions (or users).
type releaseHealth struct {
	Sessions          int64    `json:"sessions"`
	Crashed           int64    `json:"sessions_crashed"`
	Errored           int64    `json:"sessions_errored"`
	Abnormal          int64    `json:"sessions_abnormal"`
	Users             int64    `json:"users"`
	CrashFreeSessions *float64 `json:"crash_free_sessions"`
	CrashFreeUsers    *float64 `json:"crash_free_users"`
	Adoption          *float64 `json:"adoption"` // share of the project's sessions
}

func healthOf(h *store.ReleaseHealth, total int64) releaseHealth {
	out := releaseHealth{Sessions: h.Sessions, Crashed: h.Crashed, Errored: h.Errored, Abnormal: h.Abnormal, Users: h.Users}
	if p, ok := h.CrashFreeSessions(); ok {
		out.CrashFreeSessions = pct(p)
	}
	if p, ok := h.CrashFreeUsers(); ok {
		out.CrashFreeUsers = pct(p)
	}
	if total > 0 && h.Sessions > 0 {
		out.Adoption = pct(100 * float64(h.Sessions) / float64(total))
	}
	return out
}

// pct rounds p to three decimals.
func pct(p float64) *float64 {
	r := math.Round(p*1000) / 1000
	return &r
}

// releaseHealths returns the health of the project's releases by version,
// summed over environments.
func releaseHealths(db *store.DB, project int) (map[string]releaseHealth, error) {
	hs, err := db.ReleaseHealths(project, healthDays, false)
	if err != nil {
		return nil, err
	}
	var total int64
	for i := range hs {
		total += hs[i].Sessions
	}
	out := make(map[string]releaseHealth, len(hs))
	for i := range hs {
		out[hs[i].Release] = healthOf(&hs[i], total)
	}
	return out, nil
}

// releasesPage is the project's releases with their health.
type releasesPage struct {
	layout
	Project store.Project
	Days    int
	Rows    []releaseRow
}

type releaseRow struct {
	Release, Environment string
	Date                 time.Time // when the release was first seen; zero if unknown
	releaseHealth
}

// handleReleases serves GET /projects/{pid}/releases/: every release, with
// its health per environment over the last healthDays days.
func (u *UI) handleReleases(w http.ResponseWriter, r *http.Request) error {
	p, err := u.project(r)
	if err != nil {
		return err
	}
	rs, err := u.db.Releases(p.ID)
	if err != nil {
		return err
	}
	hs, err := u.db.ReleaseHealths(p.ID, healthDays, true)
	if err != nil {
		return err
	}
	var total int64
	for i := range hs {
		total += hs[i].Sessions
	}
	page := &releasesPage{layout: u.layout(r, p.Name+" · releases"), Project: *p, Days: healthDays}
	seen := map[string]bool{}
	dates := map[string]time.Time{}
	for _, rel := range rs {
		dates[rel.Version] = rel.DateReleased
	}
	for i := range hs {
		h := &hs[i]
		seen[h.Release] = true
		page.Rows = append(page.Rows, releaseRow{Release: clean(h.Release, 100, false), Environment: clean(h.Environment, 64, false),
			Date: dates[h.Release], releaseHealth: healthOf(h, total)})
	}
	for _, rel := range rs {
		if !seen[rel.Version] {
			page.Rows = append(page.Rows, releaseRow{Release: clean(rel.Version, 100, false), Date: rel.DateReleased})
		}
	}
	// Newest first; a release's environments together.
	xsort.SortStableFunc(page.Rows, func(a, b releaseRow) int {
		if c := b.Date.Compare(a.Date); c != 0 {
			return c
		}
		return strings.Compare(a.Release, b.Release)
	})
	return u.render(w, "releases", page)
}

// issueRelease is a release an issue's events were seen in, with that
// release's crash-free sessions ("" without sessions).
type issueRelease struct {
	Version   string
	CrashFree string
}

// issueReleases pairs versions with their release health.
func (u *UI) issueReleases(project int, versions []string) []issueRelease {
	hs, err := releaseHealths(u.db, project)
	if err != nil {
		hs = nil // the releases are still worth showing
	}
	out := make([]issueRelease, 0, len(versions))
	for _, v := range versions {
		ir := issueRelease{Version: clean(v, 100, false)}
		if h, ok := hs[v]; ok && h.CrashFreeSessions != nil {
			ir.CrashFree = strconv.FormatFloat(*h.CrashFreeSessions, 'f', -1, 64) + "%"
		}
		out = append(out, ir)
	}
	return out
}

// droppedSummary says what a project's SDKs dropped (client reports) and
// what ingest dropped over the last reportDays days, for its page.
type droppedSummary struct {
	SDKTotal   int64
	SDKReasons []reasonCount
	Items      []reasonCount // envelope items tinysink does not keep, by type
}

type reasonCount struct {
	Label string
	N     int64
}

// reasonLabels says in words why an SDK dropped events (the client report
// reasons of the SDK protocol).
var reasonLabels = map[string]string{
	"ratelimit_backoff":  "to rate limits",
	"queue_overflow":     "to a full queue",
	"cache_overflow":     "to a full cache",
	"network_error":      "to network errors",
	"send_error":         "to send errors",
	"sample_rate":        "to sampling",
	"before_send":        "in before_send",
	"event_processor":    "in event processors",
	"internal_sdk_error": "to SDK errors",
	"buffer_overflow":    "to a full buffer",
}

func (u *UI) droppedSummary(project int) (*droppedSummary, error) {
	reports, err := u.db.ClientReports(project, reportDays)
	if err != nil {
		return nil, err
	}
	items, err := u.db.DroppedItems(project, reportDays)
	if err != nil {
		return nil, err
	}
	s := &droppedSummary{}
	byReason := map[string]int64{}
	for k, n := range reports {
		reason, _, _ := strings.Cut(k, ":")
		byReason[reason] += n
		s.SDKTotal += n
	}
	for reason, n := range byReason {
		label := reasonLabels[reason]
		if label == "" {
			label = "(" + reason + ")"
		}
		s.SDKReasons = append(s.SDKReasons, reasonCount{label, n})
	}
	for typ, n := range items {
		s.Items = append(s.Items, reasonCount{typ, n})
	}
	byCount := func(a, b reasonCount) int {
		if a.N != b.N {
			return cmp.Compare(b.N, a.N)
		}
		return strings.Compare(a.Label, b.Label)
	}
	xsort.SortFunc(s.SDKReasons, byCount)
	xsort.SortFunc(s.Items, byCount)
	if s.SDKTotal == 0 && len(s.Items) == 0 {
		return nil, nil
	}
	return s, nil
}
