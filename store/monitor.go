package store

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/buntdb"
)

// Cron monitors, in the tree (see keys.go):
//
//	monitor:<pid 6>:<slug>                       Monitor JSON
//	mcheck:<pid 6>:<slug>\x00<nanos 20>          CheckIn JSON, the last MaxCheckIns kept
//	mdue:<nanos 20>:<pid 6>:<slug>               the monitor's next deadline (Monitor.Due)
//
// The digest creates and updates monitors from check-ins; the scheduler
// (digest/monitor.go) reads mdue in time order to find the monitors whose
// check-in is overdue or whose run has timed out.

// MaxCheckIns is how many check-ins a monitor keeps.
const MaxCheckIns = 50

// MaxMonitors bounds the monitors of a project; check-ins for new slugs
// past it are dropped.
const MaxMonitors = 200

// MonitorsFull reports whether project pid has MaxMonitors monitors.
func (t *Tx) MonitorsFull(pid int) bool {
	n := 0
	t.kv.ascend(monitorPrefix(pid), func(_, _ string) bool {
		n++
		return n < MaxMonitors
	})
	return n >= MaxMonitors
}

// Monitor statuses.
const (
	MonitorOK      = "ok"
	MonitorError   = "error"
	MonitorMissed  = "missed"
	MonitorTimeout = "timeout"
	MonitorWaiting = "waiting" // no check-in yet
)

func monitorKey(pid int, slug string) string { return fmt.Sprintf("monitor:%06d:", pid) + slug }
func monitorPrefix(pid int) string           { return fmt.Sprintf("monitor:%06d:", pid) }
func checkInKey(pid int, slug string, at time.Time) string {
	return checkInPrefix(pid, slug) + fmt.Sprintf("%020d", at.UnixNano())
}
func checkInPrefix(pid int, slug string) string {
	return fmt.Sprintf("mcheck:%06d:", pid) + slug + "\x00"
}
func monitorDueKey(at time.Time, pid int, slug string) string {
	return fmt.Sprintf("mdue:%020d:%06d:", at.UnixNano(), pid) + slug
}

// Monitor is a cron monitor of a project.
type Monitor struct {
	Project int    `json:"project"`
	Slug    string `json:"slug"`
	// Schedule: "crontab" with Crontab, or "interval" with IntervalN and
	// IntervalUnit (minute, hour, day, week, month, year).
	ScheduleType  string `json:"schedule_type"`
	Crontab       string `json:"crontab,omitempty"`
	IntervalN     int    `json:"interval_n,omitempty"`
	IntervalUnit  string `json:"interval_unit,omitempty"`
	Timezone      string `json:"timezone,omitempty"`
	MarginMin     int    `json:"checkin_margin"` // minutes a check-in may be late
	MaxRuntimeMin int    `json:"max_runtime"`    // minutes a run may take

	Status       string    `json:"status"` // ok, error, missed, timeout, waiting
	LastCheckIn  time.Time `json:"last_check_in,omitzero"`
	NextExpected time.Time `json:"next_expected,omitzero"`
	// InProgress is the run that checked in in_progress and has not
	// finished.
	InProgress *CheckIn  `json:"in_progress,omitempty"`
	Due        time.Time `json:"due,omitzero"` // indexed under mdue
	Created    time.Time `json:"created"`
}

// CheckIn is one check-in of a monitor (or a missed one the scheduler
// recorded).
type CheckIn struct {
	ID         string    `json:"id,omitempty"`
	Status     string    `json:"status"` // in_progress, ok, error, missed, timeout
	At         time.Time `json:"at"`
	DurationMS *float64  `json:"duration_ms,omitempty"`
}

// Monitor returns project pid's monitor slug, or ErrNotFound.
func (t *Tx) Monitor(pid int, slug string) (*Monitor, error) {
	var m Monitor
	if err := getJSON(t.kv, monitorKey(pid, slug), &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// PutMonitor stores m and indexes its deadline m.Due.
func (t *Tx) PutMonitor(m *Monitor) error {
	var old Monitor
	switch err := getJSON(t.kv, monitorKey(m.Project, m.Slug), &old); {
	case err == nil:
		if !old.Due.IsZero() {
			if _, err := t.kv.Delete(monitorDueKey(old.Due, m.Project, m.Slug)); err != nil && !errors.Is(err, buntdb.ErrNotFound) {
				return err
			}
		}
	case !errors.Is(err, ErrNotFound):
		return err
	}
	if !m.Due.IsZero() {
		if _, _, err := t.kv.Set(monitorDueKey(m.Due, m.Project, m.Slug), "", nil); err != nil {
			return err
		}
	}
	return setJSON(t.kv, monitorKey(m.Project, m.Slug), m)
}

// PutCheckIn stores c (replacing the check-in at the same time), keeping
// the monitor's last MaxCheckIns.
func (t *Tx) PutCheckIn(pid int, slug string, c *CheckIn) error {
	if err := setJSON(t.kv, checkInKey(pid, slug, c.At), c); err != nil {
		return err
	}
	var keys []string
	t.kv.ascend(checkInPrefix(pid, slug), func(k, _ string) bool {
		keys = append(keys, k)
		return len(keys) <= MaxCheckIns+10
	})
	for _, k := range keys[:max(len(keys)-MaxCheckIns, 0)] {
		if _, err := t.kv.Delete(k); err != nil {
			return err
		}
	}
	return t.kv.t.Err()
}

// DueMonitors returns up to limit monitors whose deadline is at or before
// now, earliest first.
func (t *Tx) DueMonitors(now time.Time, limit int) ([]*Monitor, error) {
	type ref struct {
		pid  int
		slug string
	}
	var refs []ref
	until := fmt.Sprintf("mdue:%020d:", now.UnixNano()+1)
	t.kv.ascend("mdue:", func(k, _ string) bool {
		if k >= until {
			return false
		}
		rest := k[len("mdue:")+21:]
		pidStr, slug, _ := strings.Cut(rest, ":")
		pid, _ := strconv.Atoi(pidStr)
		refs = append(refs, ref{pid, slug})
		return len(refs) < limit
	})
	if err := t.kv.t.Err(); err != nil {
		return nil, err
	}
	var out []*Monitor
	for _, r := range refs {
		m, err := t.Monitor(r.pid, r.slug)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// Monitors returns project pid's monitors by slug.
func (db *DB) Monitors(pid int) ([]Monitor, error) {
	var out []Monitor
	var bad error
	err := db.view(func(tx *kvTx) error {
		tx.ascend(monitorPrefix(pid), func(k, v string) bool {
			var m Monitor
			if err := jsonUnmarshal(v, &m); err != nil {
				bad = fmt.Errorf("store: %q: %w", k, err)
				return false
			}
			out = append(out, m)
			return true
		})
		return tx.t.Err()
	})
	if err == nil {
		err = bad
	}
	return out, err
}

// CheckIns returns up to limit of the last check-ins of project pid's
// monitor slug, newest first.
func (db *DB) CheckIns(pid int, slug string, limit int) ([]CheckIn, error) {
	var out []CheckIn
	var bad error
	err := db.view(func(tx *kvTx) error {
		tx.descend(checkInPrefix(pid, slug), func(k, v string) bool {
			var c CheckIn
			if err := jsonUnmarshal(v, &c); err != nil {
				bad = fmt.Errorf("store: %q: %w", k, err)
				return false
			}
			out = append(out, c)
			return len(out) < limit
		})
		return tx.t.Err()
	})
	if err == nil {
		err = bad
	}
	return out, err
}
