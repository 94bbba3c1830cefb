package digest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/valyala/fastjson"

	"github.com/tinysink/tinysink/budget"
	"github.com/tinysink/tinysink/digest/cron"
	"github.com/tinysink/tinysink/digest/event"
	"github.com/tinysink/tinysink/store"
)

// Cron monitors. A check-in creates or updates its monitor (from the
// monitor_config the SDK sends with it) and records the run. Every
// monitor has a deadline: the next expected check-in plus the margin, or
// the start of a run in progress plus its maximum runtime, whichever is
// first. CheckMonitors, run by the worker's scheduler, finds the monitors
// past their deadline and marks them missed or timed out. A failure
// (missed, timed out, or an error check-in) is digested as an event
// grouped by the monitor, so it opens the monitor's issue, or regresses it
// when resolved, and alerts through the outbox like any other issue.

// Sentry's defaults for a monitor config that leaves them out.
const (
	defaultMargin     = 1  // minutes
	defaultMaxRuntime = 30 // minutes
	maxSlugLen        = 64
)

// schedule returns m's schedule.
func schedule(m *store.Monitor) (cron.Schedule, error) {
	if m.ScheduleType == "interval" {
		return cron.ParseInterval(m.IntervalN, m.IntervalUnit)
	}
	return cron.ParseCrontab(m.Crontab, m.Timezone)
}

// slugify keeps lowercase letters, digits, '-' and '_' of s.
func slugify(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(s)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
		if b.Len() >= maxSlugLen {
			break
		}
	}
	return strings.Trim(b.String(), "-")
}

// applyConfig sets m's schedule and limits from an SDK's monitor_config.
func applyConfig(m *store.Monitor, cfg *fastjson.Value) error {
	s := cfg.Get("schedule")
	if s == nil {
		return errors.New("monitor_config has no schedule")
	}
	next := *m
	switch str(s, "type") {
	case "crontab":
		next.ScheduleType, next.Crontab, next.IntervalN, next.IntervalUnit = "crontab", truncate(str(s, "value"), 100), 0, ""
	case "interval":
		next.ScheduleType, next.Crontab, next.IntervalN, next.IntervalUnit = "interval", "", s.GetInt("value"), str(s, "unit")
	default:
		return fmt.Errorf("unknown schedule type %q", str(s, "type"))
	}
	next.Timezone = truncate(str(cfg, "timezone"), 64)
	next.MarginMin, next.MaxRuntimeMin = defaultMargin, defaultMaxRuntime
	if v := cfg.Get("checkin_margin"); v != nil && v.GetInt() > 0 {
		next.MarginMin = min(v.GetInt(), 60*24*366)
	}
	if v := cfg.Get("max_runtime"); v != nil && v.GetInt() > 0 {
		next.MaxRuntimeMin = min(v.GetInt(), 60*24*366)
	}
	if _, err := schedule(&next); err != nil {
		return err
	}
	*m = next
	return nil
}

// setDue recomputes m.Due from its expected check-in and its run in
// progress.
func setDue(m *store.Monitor) {
	m.Due = time.Time{}
	if !m.NextExpected.IsZero() {
		m.Due = m.NextExpected.Add(time.Duration(m.MarginMin) * time.Minute)
	}
	if m.InProgress != nil {
		if t := m.InProgress.At.Add(time.Duration(m.MaxRuntimeMin) * time.Minute); m.Due.IsZero() || t.Before(m.Due) {
			m.Due = t
		}
	}
}

// advance sets m.NextExpected to the first run after now.
func advance(m *store.Monitor, now time.Time) {
	if s, err := schedule(m); err == nil {
		m.NextExpected = s.Next(now).UTC()
	}
}

// digestCheckIn digests a check_in item.
func digestCheckIn(tx *store.Tx, it *item, v *fastjson.Value) error {
	slug := slugify(str(v, "monitor_slug"))
	status := str(v, "status")
	if slug == "" || (status != "in_progress" && status != "ok" && status != "error") {
		it.dropped = "invalid_check_in"
		return nil
	}
	now := it.ingestedAt
	m, err := tx.Monitor(it.project, slug)
	if errors.Is(err, store.ErrNotFound) {
		if tx.MonitorsFull(it.project) {
			it.dropped = "too_many_monitors"
			return nil
		}
		m = &store.Monitor{Project: it.project, Slug: slug, Status: store.MonitorWaiting, Created: now}
	} else if err != nil {
		return err
	}
	if cfg := v.Get("monitor_config"); cfg != nil && cfg.Type() == fastjson.TypeObject {
		if err := applyConfig(m, cfg); err != nil && m.ScheduleType == "" {
			it.dropped = "invalid_monitor_config"
			return nil
		}
	}
	if m.ScheduleType == "" {
		it.dropped = "unknown_monitor" // a check-in for a monitor never configured
		return nil
	}
	id := truncate(str(v, "check_in_id"), 64)
	c := &store.CheckIn{ID: id, Status: status, At: now}
	if d := v.Get("duration"); d != nil && d.Type() == fastjson.TypeNumber {
		ms := d.GetFloat64() * 1000
		c.DurationMS = &ms
	}
	if status == "in_progress" {
		m.InProgress = c
		m.LastCheckIn = now
		advance(m, now)
	} else {
		if ip := m.InProgress; ip != nil && (id == "" || id == ip.ID) {
			c.At = ip.At // the run's record is updated, not added
			if c.DurationMS == nil {
				ms := float64(now.Sub(ip.At)) / float64(time.Millisecond)
				c.DurationMS = &ms
			}
			m.InProgress = nil
			if m.NextExpected.IsZero() || !m.NextExpected.After(now) {
				advance(m, now)
			}
		} else {
			advance(m, now)
		}
		m.Status = status
		m.LastCheckIn = now
	}
	setDue(m)
	if err := tx.PutCheckIn(it.project, slug, c); err != nil {
		return err
	}
	if err := tx.PutMonitor(m); err != nil {
		return err
	}
	if status == "error" {
		alerted, err := monitorFailure(tx, it.norm, m, store.MonitorError, now, v)
		it.alerted = it.alerted || alerted
		return err
	}
	return nil
}

// Tick runs the scheduler's periodic work at now: the monitors past their
// deadline are marked missed or timed out, with a failure event each
// (CheckMonitors), and waiting user feedback whose event has arrived is
// attached (digest/feedback.go). It returns whether anything enqueued an
// alert.
func (w *Worker) Tick(now time.Time) (alerted bool, err error) {
	alerted, err = w.CheckMonitors(now)
	if err != nil {
		return alerted, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var fb bool
	err = w.db.Digest(func(tx *store.Tx) error {
		fb, err = attachPending(tx, now.UTC())
		return err
	})
	if fb && w.OnAlert != nil {
		w.OnAlert()
	}
	return alerted || fb, err
}

// CheckMonitors marks the monitors past their deadline at now as missed
// or timed out, digesting a failure event for each. It returns whether
// any failure enqueued an alert.
func (w *Worker) CheckMonitors(now time.Time) (alerted bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now = now.UTC()
	for {
		n := 0
		err := w.db.Digest(func(tx *store.Tx) error {
			ms, err := tx.DueMonitors(now, 100)
			if err != nil {
				return err
			}
			n = len(ms)
			for _, m := range ms {
				a, err := checkMonitor(tx, w.norm, m, now)
				if err != nil {
					return err
				}
				alerted = alerted || a
			}
			return nil
		})
		if err != nil || n < 100 {
			if alerted && w.OnAlert != nil {
				w.OnAlert()
			}
			return alerted, err
		}
	}
}

// checkMonitor handles one monitor past its deadline.
func checkMonitor(tx *store.Tx, norm *event.Normalizer, m *store.Monitor, now time.Time) (alerted bool, err error) {
	var failure string
	if ip := m.InProgress; ip != nil && !ip.At.Add(time.Duration(m.MaxRuntimeMin)*time.Minute).After(now) {
		ip.Status = store.MonitorTimeout
		if err := tx.PutCheckIn(m.Project, m.Slug, ip); err != nil {
			return false, err
		}
		m.InProgress = nil
		m.Status, failure = store.MonitorTimeout, store.MonitorTimeout
	}
	if !m.NextExpected.IsZero() && !m.NextExpected.Add(time.Duration(m.MarginMin)*time.Minute).After(now) {
		if err := tx.PutCheckIn(m.Project, m.Slug, &store.CheckIn{Status: store.MonitorMissed, At: m.NextExpected}); err != nil {
			return false, err
		}
		m.Status = store.MonitorMissed
		if failure == "" {
			failure = store.MonitorMissed
		}
		// Expect the next run after now: one alert for a job that stopped,
		// not one per slot it missed.
		advance(m, now)
	}
	setDue(m)
	if !m.Due.IsZero() && !m.Due.After(now) {
		m.Due = now.Add(time.Minute) // never loop on a deadline that does not move
	}
	if err := tx.PutMonitor(m); err != nil {
		return false, err
	}
	if failure == "" {
		return false, nil
	}
	return monitorFailure(tx, norm, m, failure, now, nil)
}

// failureNorm normalises failure events when no worker's normaliser is at
// hand (an item digested outside a worker), built at first use. It is
// used inside digest batches only, which are serialised.
var failureNorm = budget.Lazy("monitor-failures", event.NewNormalizer)

// monitorFailure digests an event for a failure of m, grouped by the
// monitor, normalised with norm (nil: failureNorm), and reports whether it
// enqueued an alert.
func monitorFailure(tx *store.Tx, norm *event.Normalizer, m *store.Monitor, kind string, now time.Time, checkIn *fastjson.Value) (bool, error) {
	if norm == nil {
		norm = failureNorm()
	}
	var what string
	switch kind {
	case store.MonitorMissed:
		what = "missed a check-in"
	case store.MonitorTimeout:
		what = fmt.Sprintf("timed out (ran longer than %d min)", m.MaxRuntimeMin)
	default:
		what = "reported an error"
	}
	var b [16]byte
	rand.Read(b[:])
	ev := map[string]any{
		"event_id":    hex.EncodeToString(b[:]),
		"timestamp":   float64(now.UnixNano()) / 1e9,
		"level":       "error",
		"platform":    "other",
		"logger":      "monitor",
		"message":     fmt.Sprintf("Monitor %s %s", m.Slug, what),
		"fingerprint": []string{"tinysink-monitor", m.Slug},
		"tags":        map[string]string{"monitor.slug": m.Slug, "monitor.status": kind},
		"extra":       map[string]any{"next_expected": m.NextExpected, "last_check_in": m.LastCheckIn},
	}
	if checkIn != nil {
		if r := str(checkIn, "release"); r != "" {
			ev["release"] = r
		}
		if e := str(checkIn, "environment"); e != "" {
			ev["environment"] = e
		}
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		return false, err
	}
	e, body, err := norm.Normalize(raw, event.Meta{IngestedAt: now})
	if err != nil {
		return false, err
	}
	it := &item{project: m.Project, eventID: e.EventID, ingestedAt: now, digestedAt: now, ev: e, body: store.CompressBody(body), norm: norm}
	if _, err := digestOne(tx, it); err != nil {
		return false, err
	}
	return it.alerted, nil
}

// TickEvery is how often RunScheduler calls Tick.
const TickEvery = 15 * time.Second

// RunScheduler calls Tick every TickEvery until ctx is done.
func (w *Worker) RunScheduler(ctx context.Context) {
	t := time.NewTicker(TickEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := w.Tick(w.db.Now()); err != nil {
				w.log.Error("scheduler tick failed", "err", err)
			}
		}
	}
}
