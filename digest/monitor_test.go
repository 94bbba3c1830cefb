package digest

import (
	"fmt"
	"testing"
	"time"

	"github.com/tinysink/tinysink/ingest/spool"
	"github.com/tinysink/tinysink/store"
)

func (r *rig) checkIn(slug, status, id, config string) {
	r.t.Helper()
	cfg := ""
	if config != "" {
		cfg = `,"monitor_config":` + config
	}
	r.sendItem("check_in", fmt.Appendf(nil, `{"check_in_id":%q,"monitor_slug":%q,"status":%q%s}`, id, slug, status, cfg))
}

func (r *rig) monitor(slug string) store.Monitor {
	r.t.Helper()
	ms, err := r.db.Monitors(r.pid)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, m := range ms {
		if m.Slug == slug {
			return m
		}
	}
	r.t.Fatalf("no monitor %q in %+v", slug, ms)
	return store.Monitor{}
}

// tick moves the clock and runs the scheduler.
func (r *rig) tick(d time.Duration) bool {
	r.t.Helper()
	r.now = r.now.Add(d)
	alerted, err := r.w.CheckMonitors(r.now)
	if err != nil {
		r.t.Fatal(err)
	}
	return alerted
}

func (r *rig) monitorIssues() []store.Issue {
	r.t.Helper()
	iss, _, err := r.db.Issues(store.IssueFilter{Project: r.pid, Limit: 50})
	if err != nil {
		r.t.Fatal(err)
	}
	return iss
}

func TestMonitorMissedCheckIn(t *testing.T) {
	t.Parallel()
	r := newRig(t) // 10:00 UTC
	r.checkIn("nightly", "ok", "", `{"schedule":{"type":"crontab","value":"0 * * * *"},"checkin_margin":5,"max_runtime":10}`)
	m := r.monitor("nightly")
	if m.Status != "ok" || !m.NextExpected.Equal(time.Date(2026, 4, 1, 11, 0, 0, 0, time.UTC)) {
		t.Fatalf("after the first check-in: %+v", m)
	}
	if r.tick(64 * time.Minute); r.monitor("nightly").Status != "ok" {
		t.Fatal("missed inside the margin")
	}
	if len(r.monitorIssues()) != 0 {
		t.Fatal("an issue before anything failed")
	}
	if !r.tick(2 * time.Minute) { // 11:06, past 11:00 + 5 min
		t.Error("a missed check-in enqueued no alert")
	}
	m = r.monitor("nightly")
	if m.Status != store.MonitorMissed || !m.NextExpected.Equal(time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("after the deadline: %+v", m)
	}
	iss := r.monitorIssues()
	if len(iss) != 1 || iss[0].CalculatedValue == "" {
		t.Fatalf("issues: %+v", iss)
	}
	t.Logf("issue: %s / %s", iss[0].CalculatedType, iss[0].CalculatedValue)
	// It stays missed, and one issue, while the job stays away; the next
	// check-in puts it back to ok.
	r.tick(time.Hour)
	if len(r.monitorIssues()) != 1 {
		t.Error("a second miss opened another issue")
	}
	r.checkIn("nightly", "ok", "", "")
	if m := r.monitor("nightly"); m.Status != "ok" {
		t.Errorf("after a new check-in: %s", m.Status)
	}
	cs, _ := r.db.CheckIns(r.pid, "nightly", 10)
	if len(cs) != 4 || cs[0].Status != "ok" || cs[1].Status != "missed" {
		t.Errorf("check-ins: %+v", cs)
	}
	// Resolved, then missed again: the issue regresses.
	r.act(&iss[0], store.ActionResolve)
	r.tick(2 * time.Hour)
	if got := r.monitorIssues(); len(got) != 1 || got[0].IsResolved {
		t.Errorf("after a miss once resolved: %+v", got)
	}
}

func TestMonitorTimeout(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	cfg := `{"schedule":{"type":"interval","value":1,"unit":"day"},"max_runtime":20,"timezone":"Europe/Berlin"}`
	r.checkIn("backup", "in_progress", "c1", cfg)
	r.tick(10 * time.Minute)
	r.checkIn("backup", "ok", "c1", "")
	m := r.monitor("backup")
	if m.Status != "ok" || m.InProgress != nil {
		t.Fatalf("after a run: %+v", m)
	}
	cs, _ := r.db.CheckIns(r.pid, "backup", 10)
	if len(cs) != 1 || cs[0].DurationMS == nil || *cs[0].DurationMS != 600000 {
		t.Fatalf("check-ins: %+v", cs)
	}
	r.now = r.now.Add(23 * time.Hour)
	r.checkIn("backup", "in_progress", "c2", "")
	if r.tick(19 * time.Minute); r.monitor("backup").Status != "ok" {
		t.Fatal("timed out before max_runtime")
	}
	if !r.tick(2 * time.Minute) {
		t.Error("a timeout enqueued no alert")
	}
	if m := r.monitor("backup"); m.Status != store.MonitorTimeout || m.InProgress != nil {
		t.Errorf("after max_runtime: %+v", m)
	}
	if iss := r.monitorIssues(); len(iss) != 1 {
		t.Errorf("issues: %+v", iss)
	}
}

func TestMonitorErrorCheckInAndBadInput(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.checkIn("unknown", "ok", "", "") // never configured: dropped
	r.checkIn("bad", "ok", "", `{"schedule":{"type":"crontab","value":"61 * * * *"}}`)
	r.checkIn("x", "sleeping", "", `{"schedule":{"type":"crontab","value":"* * * * *"}}`)
	if ms, _ := r.db.Monitors(r.pid); len(ms) != 0 {
		t.Fatalf("monitors from bad check-ins: %+v", ms)
	}
	r.checkIn("Job One", "error", "", `{"schedule":{"type":"crontab","value":"@daily"}}`)
	if m := r.monitor("job-one"); m.Status != store.MonitorError {
		t.Errorf("status %q, want error", m.Status)
	}
	if iss := r.monitorIssues(); len(iss) != 1 {
		t.Errorf("an error check-in: %d issues, want 1", len(iss))
	}
}

func TestMonitorsCapped(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	for i := range store.MaxMonitors + 5 {
		r.sp.Append(&spool.Record{Project: r.pid, IngestedAt: r.now, Type: "check_in",
			Payload: fmt.Appendf(nil, `{"monitor_slug":"job-%d","status":"ok","monitor_config":{"schedule":{"type":"crontab","value":"@hourly"}}}`, i)})
	}
	if err := r.w.Drain(); err != nil {
		t.Fatal(err)
	}
	if ms, _ := r.db.Monitors(r.pid); len(ms) != store.MaxMonitors {
		t.Errorf("%d monitors, want %d", len(ms), store.MaxMonitors)
	}
}
