package ingest

import (
	"cmp"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tinysink/tinysink/internal/xsort"
)

// Defaults of a Refusals' tunables.
const (
	DefaultSustainedAfter = 30 * time.Second
	DefaultRefusalGap     = 10 * time.Second
	// refusalLogEvery is the least time between two log lines about the
	// refusals of one reason for one project.
	refusalLogEvery = time.Minute
)

// Refusals counts ingest's admission refusals by reason (memory,
// project_quota, org_quota, disk_full) and tells when they are sustained:
// SDKs drop what they are refused, so refusals that go on are silent loss
// and must be visible.
//
// A run of refusals is one reason for one project. It starts at a
// refusal, goes on while the next refusal comes within Gap, and ends at
// once when an event of that project is accepted. A run is sustained once
// it has lasted SustainedAfter (30 s) and its last refusal is at most Gap
// (10 s) old. So the readiness check fails after 30 s of refusals with no
// event of the project getting through, and recovers by itself within 10 s
// of the refusals stopping, or at the first accepted event. Refusals under
// pressure, when some events still get through, are not sustained.
//
// While a run is sustained, its refusals are logged at Warn, at most one
// line per reason and project per minute.
//
// Wire Refused to ingest.Config.OnRefuse and Accepted to OnAccept.
type Refusals struct {
	// SustainedAfter is how long a run must last to be sustained.
	SustainedAfter time.Duration
	// Gap is the longest pause between two refusals of one run.
	Gap time.Duration
	// Now returns the current time; tests replace it.
	Now func() time.Time

	log    *slog.Logger
	active atomic.Int32 // len(runs), read without mu by Accepted

	mu     sync.Mutex // guards the fields below
	n      map[string]int64
	runs   map[runKey]*refusalRun
	logged map[runKey]time.Time // when the last line about a key was logged
}

type runKey struct {
	reason  string
	project int
}

// refusalRun is a run of refusals.
type refusalRun struct {
	start, last time.Time
	refused     int64 // refusals in the run
	unlogged    int64 // refusals since the last log line
}

// Sustained describes a sustained run of refusals.
type Sustained struct {
	Reason  string
	Project int
	// Since is when the run began; Refused counts its refusals.
	Since   time.Time
	Refused int64
}

// NewRefusals returns a Refusals that logs to log (nil: nowhere).
func NewRefusals(log *slog.Logger) *Refusals {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Refusals{
		SustainedAfter: DefaultSustainedAfter, Gap: DefaultRefusalGap, Now: time.Now, log: log,
		n: map[string]int64{}, runs: map[runKey]*refusalRun{}, logged: map[runKey]time.Time{},
	}
}

// Refused records that a request of project was refused for reason.
func (r *Refusals) Refused(project int, reason string) {
	now := r.Now()
	k := runKey{reason, project}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n[reason]++
	ru := r.runs[k]
	if ru == nil || now.Sub(ru.last) > r.Gap {
		ru = &refusalRun{start: now}
		r.runs[k] = ru
		r.active.Store(int32(len(r.runs)))
	}
	ru.last = now
	ru.refused++
	ru.unlogged++
	if now.Sub(ru.start) >= r.SustainedAfter && now.Sub(r.logged[k]) >= refusalLogEvery {
		r.logged[k] = now
		r.log.Warn("ingest refusing events", "reason", reason, "project_id", project,
			"for", now.Sub(ru.start).Round(time.Second), "refused", ru.unlogged)
		ru.unlogged = 0
	}
}

// Accepted records that an event of project was accepted: it ends the
// project's runs of refusals.
func (r *Refusals) Accepted(project int) {
	if r.active.Load() == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.runs {
		if k.project == project {
			delete(r.runs, k)
		}
	}
	r.active.Store(int32(len(r.runs)))
}

// Sustained returns the sustained runs now, by reason and project. It
// forgets runs that ended.
func (r *Refusals) Sustained() []Sustained {
	now := r.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Sustained
	for k, ru := range r.runs {
		if now.Sub(ru.last) > r.Gap {
			delete(r.runs, k)
			continue
		}
		if now.Sub(ru.start) >= r.SustainedAfter {
			out = append(out, Sustained{Reason: k.reason, Project: k.project, Since: ru.start, Refused: ru.refused})
		}
	}
	r.active.Store(int32(len(r.runs)))
	xsort.SortFunc(out, func(a, b Sustained) int {
		return cmp.Or(strings.Compare(a.Reason, b.Reason), cmp.Compare(a.Project, b.Project))
	})
	return out
}

// Counts returns the refusals so far by reason.
func (r *Refusals) Counts() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int64, len(r.n))
	for k, v := range r.n {
		out[k] = v
	}
	return out
}
