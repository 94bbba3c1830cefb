package ui

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/tinysink/tinysink/store"
)

// The performance, cron monitor and feedback parts of the API (routes in
// Register).

// perfDays is the default window of GET transactions/, in days.
const perfDays = 7

// apiTransaction is one transaction name's figures; durations in ms.
type apiTransaction struct {
	Name        string  `json:"name"`
	Count       uint64  `json:"count"`
	FailureRate float64 `json:"failure_rate"`
	P50         float64 `json:"p50"`
	P95         float64 `json:"p95"`
	P99         float64 `json:"p99"`
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// projectParam reads the required ?project= of a list and checks that the
// project exists.
func (a *API) projectParam(r *http.Request) (int, error) {
	pid, err := strconv.Atoi(r.URL.Query().Get("project"))
	if err != nil {
		return 0, errBadInput("the project parameter is required")
	}
	if err := allowProject(r, pid); err != nil {
		return 0, err
	}
	if _, err := a.db.Project(pid); err != nil {
		return 0, err
	}
	return pid, nil
}

// perfWindow reads ?days= (1 to store.PerfKeepDays, default perfDays) and
// returns the first and last day of the window.
func perfWindow(r *http.Request, now time.Time) (from, to time.Time, days int, err error) {
	days = perfDays
	if s := r.URL.Query().Get("days"); s != "" {
		if days, err = strconv.Atoi(s); err != nil || days < 1 || days > store.PerfKeepDays {
			return from, to, 0, errBadInput("days must be a number from 1 to %d", store.PerfKeepDays)
		}
	}
	to = now.UTC()
	return to.AddDate(0, 0, -(days - 1)), to, days, nil
}

// handleTransactionList serves GET transactions/?project=ID[&days=N]: the
// project's transaction names over the last N days (default 7), busiest
// first.
func (a *API) handleTransactionList(w http.ResponseWriter, r *http.Request) error {
	pid, err := a.projectParam(r)
	if err != nil {
		return err
	}
	from, to, _, err := perfWindow(r, a.db.Now())
	if err != nil {
		return err
	}
	ts, err := a.db.Transactions(pid, from, to)
	if err != nil {
		return err
	}
	out := make([]apiTransaction, 0, len(ts))
	for _, t := range ts {
		out = append(out, apiTransaction{Name: t.Name, Count: t.Count, FailureRate: round3(t.FailureRate),
			P50: round3(t.P50), P95: round3(t.P95), P99: round3(t.P99)})
	}
	writeJSON(w, http.StatusOK, page{Results: out})
	return nil
}

// apiMonitor is one cron monitor.
type apiMonitor struct {
	Slug         string          `json:"slug"`
	Status       string          `json:"status"` // ok, error, missed, timeout (waiting before the first check-in)
	LastCheckIn  *time.Time      `json:"last_check_in"`
	NextExpected *time.Time      `json:"next_expected"`
	InProgress   bool            `json:"in_progress"`
	Schedule     apiSchedule     `json:"schedule"`
	Margin       int             `json:"checkin_margin"`
	MaxRuntime   int             `json:"max_runtime"`
	Timezone     string          `json:"timezone,omitempty"`
	CheckIns     []store.CheckIn `json:"check_ins"`
}

type apiSchedule struct {
	Type  string `json:"type"`
	Value any    `json:"value"`
	Unit  string `json:"unit,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// monitorCheckIns is how many recent check-ins a monitor shows.
const monitorCheckIns = 10

func apiMonitorOf(m *store.Monitor, cs []store.CheckIn) apiMonitor {
	out := apiMonitor{Slug: m.Slug, Status: m.Status, LastCheckIn: timePtr(m.LastCheckIn), NextExpected: timePtr(m.NextExpected),
		InProgress: m.InProgress != nil, Margin: m.MarginMin, MaxRuntime: m.MaxRuntimeMin, Timezone: m.Timezone, CheckIns: cs}
	if out.CheckIns == nil {
		out.CheckIns = []store.CheckIn{}
	}
	if m.ScheduleType == "interval" {
		out.Schedule = apiSchedule{Type: "interval", Value: m.IntervalN, Unit: m.IntervalUnit}
	} else {
		out.Schedule = apiSchedule{Type: "crontab", Value: m.Crontab}
	}
	return out
}

// handleMonitorList serves GET monitors/?project=ID: the project's cron
// monitors with their last check-ins.
func (a *API) handleMonitorList(w http.ResponseWriter, r *http.Request) error {
	pid, err := a.projectParam(r)
	if err != nil {
		return err
	}
	ms, err := a.db.Monitors(pid)
	if err != nil {
		return err
	}
	out := make([]apiMonitor, 0, len(ms))
	for i := range ms {
		cs, err := a.db.CheckIns(pid, ms[i].Slug, monitorCheckIns)
		if err != nil {
			return err
		}
		out = append(out, apiMonitorOf(&ms[i], cs))
	}
	writeJSON(w, http.StatusOK, page{Results: out})
	return nil
}

// handleIssueFeedback serves GET issues/{id}/feedback/: the user feedback
// on the issue, newest first.
func (a *API) handleIssueFeedback(w http.ResponseWriter, r *http.Request) error {
	_, iss, err := a.issue(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	fb, err := a.db.Feedback(iss.ID)
	if err != nil {
		return err
	}
	if fb == nil {
		fb = []store.Feedback{}
	}
	writeJSON(w, http.StatusOK, page{Results: fb})
	return nil
}
