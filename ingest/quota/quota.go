// Package quota counts accepted events per project and for the whole
// installation over 5 minutes, an hour and a month, and refuses events
// once a limit is reached (reference §7.3). Unlike Bugsink, it counts at
// ingest: a burst over quota gets 429 at once instead of being dropped
// after a 200.
package quota

import (
	"errors"
	"sync"
	"time"

	"github.com/tinysink/tinysink/budget"
)

// Limits are event counts per window; 0 means no limit.
type Limits struct {
	FiveMin int64 `json:"per_5_minutes"`
	Hour    int64 `json:"per_hour"`
	Month   int64 `json:"per_month"`
}

// Config configures a Quota.
type Config struct {
	Project Limits // default limits of every project
	Install Limits // limits of the installation as a whole
	// Override, when set, returns a project's own limits (ok=false: use
	// Project).
	Override func(project int) (Limits, bool)
	// Seed, when set, is asked once per subject for what was counted before
	// this process started: the events of the current clock hour so far,
	// and per day (oldest first, ending today) for the last 32 days. A
	// subject is "all" or a project id.
	Seed func(project int, install bool, now time.Time) (hour int64, days []int64)
	Now  func() time.Time
	// Items are the limits of each project's items by data category
	// (CatTransaction, CatSession, CatMonitor), counted apart from events
	// and from each other; a category not in it has no limit.
	Items map[string]Limits
}

// The item categories counted apart from events, named as Sentry's data
// categories (X-Sentry-Rate-Limits).
const (
	CatTransaction = "transaction"
	CatSession     = "session"
	CatMonitor     = "monitor" // cron check-ins
)

// Quota is the counter and the admission check. Safe for concurrent use.
type Quota struct {
	cfg Config

	mu      sync.Mutex // guards the fields below
	install *window
	project map[int]*window
	// pending counts admitted events neither counted nor released yet, per
	// project and in all: they count against the limits, so concurrent
	// requests cannot all pass a limit between Admit and Count.
	pending        map[int]int64
	installPending int64
	items          map[itemKey]*window
}

type itemKey struct {
	project int
	cat     string
}

// New returns a Quota.
func New(cfg Config) *Quota {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Quota{cfg: cfg, project: map[int]*window{}, pending: map[int]int64{}, items: map[itemKey]*window{}}
}

// window counts events per minute for the last hour and per day for the
// last 32 days.
type window struct {
	minute     [60]int64
	minuteAt   [60]int64 // unix minute of each slot
	seedHour   int64     // events counted before start in the clock hour seedHourAt
	seedHourAt int64     // unix hour
	day        [32]int64
	dayAt      [32]int64 // unix day of each slot
}

func (q *Quota) windowFor(project int, install bool, now time.Time) *window {
	var w *window
	if install {
		w = q.install
	} else {
		w = q.project[project]
	}
	if w != nil {
		return w
	}
	w = &window{}
	if q.cfg.Seed != nil {
		hour, days := q.cfg.Seed(project, install, now)
		w.seedHour, w.seedHourAt = hour, now.Unix()/3600
		today := now.Unix() / 86400
		for i, n := range days {
			d := today - int64(len(days)-1-i)
			w.day[d%32], w.dayAt[d%32] = n, d
		}
	}
	if install {
		q.install = w
	} else {
		q.project[project] = w
	}
	return w
}

func (w *window) add(now time.Time) {
	m := now.Unix() / 60
	if w.minuteAt[m%60] != m {
		w.minute[m%60], w.minuteAt[m%60] = 0, m
	}
	w.minute[m%60]++
	d := now.Unix() / 86400
	if w.dayAt[d%32] != d {
		w.day[d%32], w.dayAt[d%32] = 0, d
	}
	w.day[d%32]++
}

// over reports whether w, with pending events admitted but not yet counted,
// has reached one of the limits, and when it will have dropped below it
// again.
func (w *window) over(l Limits, pending int64, now time.Time) (bool, time.Time, string) {
	m := now.Unix() / 60
	// minutes sums the last span minutes and the pending events.
	minutes := func(span int64) int64 {
		sum := pending
		for i := int64(0); i < span; i++ {
			if mm := m - i; w.minuteAt[mm%60] == mm {
				sum += w.minute[mm%60]
			}
		}
		return sum
	}
	// until returns when enough of the oldest minutes have left the span
	// for sum to drop below limit.
	until := func(span, limit, sum int64) time.Time {
		for i := span - 1; i >= 0; i-- {
			mm := m - i
			if w.minuteAt[mm%60] == mm {
				sum -= w.minute[mm%60]
			}
			if sum < limit {
				return time.Unix((mm+span)*60, 0)
			}
		}
		return time.Unix((m+1)*60, 0)
	}
	if l.FiveMin > 0 {
		if n := minutes(5); n >= l.FiveMin {
			return true, until(5, l.FiveMin, n), "5 minutes"
		}
	}
	if l.Hour > 0 {
		n := minutes(60)
		if w.seedHourAt == now.Unix()/3600 {
			n += w.seedHour
		}
		if n >= l.Hour {
			at := until(60, l.Hour, n)
			if w.seedHourAt == now.Unix()/3600 {
				at = time.Unix((w.seedHourAt+1)*3600, 0)
			}
			return true, at, "hour"
		}
	}
	if l.Month > 0 {
		// A rolling calendar month, counted in whole days.
		start := now.AddDate(0, -1, 0).Unix() / 86400
		today := now.Unix() / 86400
		sum := pending
		for d := start + 1; d <= today; d++ {
			if w.dayAt[d%32] == d {
				sum += w.day[d%32]
			}
		}
		if sum >= l.Month {
			// Drops below once the oldest days leave the window.
			for d := start + 1; d <= today; d++ {
				if w.dayAt[d%32] == d {
					sum -= w.day[d%32]
				}
				if sum < l.Month {
					return true, time.Unix(d*86400, 0).AddDate(0, 1, 0).Add(24 * time.Hour), "month"
				}
			}
			return true, time.Unix((today+1)*86400, 0).AddDate(0, 1, 0), "month"
		}
	}
	return false, time.Time{}, ""
}

// The reasons of Admit's refusals: their texts name the scope, as
// Sentry's rate-limit reason codes do.
var (
	ErrProjectQuota = errors.New("project_quota")
	ErrOrgQuota     = errors.New("org_quota")
)

// Admit implements ingest.Admitter: it refuses, with a *budget.AdmitError
// whose Reason is ErrOrgQuota or ErrProjectQuota, when the installation or
// the project has reached a limit.
//
// Checking and taking a place are one step: an admitted event holds its
// place until Count (it was accepted) or Release (it was not) is called
// for it, so that concurrent senders cannot pass a limit together.
func (q *Quota) Admit(project int) error {
	now := q.cfg.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	if over, until, _ := q.windowFor(0, true, now).over(q.cfg.Install, q.installPending, now); over {
		return &budget.AdmitError{Reason: ErrOrgQuota, RetryAfter: max(time.Second, until.Sub(now))}
	}
	limits := q.cfg.Project
	if q.cfg.Override != nil {
		if l, ok := q.cfg.Override(project); ok {
			limits = l
		}
	}
	if over, until, _ := q.windowFor(project, false, now).over(limits, q.pending[project], now); over {
		return &budget.AdmitError{Reason: ErrProjectQuota, RetryAfter: max(time.Second, until.Sub(now))}
	}
	q.pending[project]++
	q.installPending++
	return nil
}

// TakeItem counts one item of category cat for project, or refuses it
// with a *budget.AdmitError (Reason ErrProjectQuota) when the project has
// reached the category's limit. Items are counted from this process's
// start (events are seeded from the store's counters).
func (q *Quota) TakeItem(project int, cat string) error {
	l, ok := q.cfg.Items[cat]
	if !ok || l == (Limits{}) {
		return nil
	}
	now := q.cfg.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	k := itemKey{project, cat}
	w := q.items[k]
	if w == nil {
		w = &window{}
		q.items[k] = w
	}
	if over, until, _ := w.over(l, 0, now); over {
		return &budget.AdmitError{Reason: ErrProjectQuota, RetryAfter: max(time.Second, until.Sub(now))}
	}
	w.add(now)
	return nil
}

// Count records one accepted event of project, in the place Admit held
// for it (if any).
func (q *Quota) Count(project int) {
	now := q.cfg.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	q.settle(project)
	q.windowFor(0, true, now).add(now)
	q.windowFor(project, false, now).add(now)
}

// Release gives back the place Admit held for an event of project that
// was not accepted after all (refused later, or a request without an
// event).
func (q *Quota) Release(project int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.settle(project)
}

// settle ends one pending admission of project, if it has one.
func (q *Quota) settle(project int) {
	n := q.pending[project]
	if n == 0 {
		return
	}
	if n > 1 {
		q.pending[project] = n - 1
	} else {
		delete(q.pending, project)
	}
	q.installPending--
}

// Admitters combines admission checks: the first refusal wins. A Quota
// takes a place when it admits, so it goes last: a check after it that
// refused would leave that place held.
type Admitters []interface {
	Admit(project int) error
}

// Admit asks each in turn.
func (as Admitters) Admit(project int) error {
	for _, a := range as {
		if err := a.Admit(project); err != nil {
			return err
		}
	}
	return nil
}
