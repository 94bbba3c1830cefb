package store

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestHLLCount(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 10, 200, 5000, 100000} {
		var h hll
		for i := range n {
			h.add(fmt.Sprintf("user-%d", i))
			h.add(fmt.Sprintf("user-%d", i)) // twice: counted once
		}
		got := h.count()
		if err := math.Abs(float64(got)-float64(n)) / math.Max(float64(n), 1); err > 0.15 {
			t.Errorf("%d distinct users counted as %d (%.0f%% off)", n, got, 100*err)
		}
		if d := decodeHLL(h.encode()); d != h {
			t.Errorf("%d: sketch does not survive encode/decode", n)
		}
	}
	// Merging two halves counts their union.
	var a, b hll
	for i := range 2000 {
		a.add(fmt.Sprint(i))
		b.add(fmt.Sprint(i + 1000))
	}
	a.merge(&b)
	if got := a.count(); got < 2550 || got > 3450 {
		t.Errorf("union of 0..1999 and 1000..2999 counted as %d, want ~3000", got)
	}
}

func TestReleaseHealth(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir())
	day := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return day }
	p, err := db.CreateProject("health")
	if err != nil {
		t.Fatal(err)
	}
	add := func(at time.Time, us ...SessionUpdate) {
		t.Helper()
		if err := db.Digest(func(tx *Tx) error {
			for _, u := range us {
				u.At = at
				if err := tx.AddSession(p.ID, u); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Release 1.0: 4 sessions of 2 users, one crashed; 2.0: one clean.
	add(day,
		SessionUpdate{Release: "1.0", Environment: "production", Sessions: 1, User: "a"},
		SessionUpdate{Release: "1.0", Environment: "production", Sessions: 1, User: "a"},
		SessionUpdate{Release: "1.0", Environment: "staging", Sessions: 1, User: "b"},
		SessionUpdate{Release: "1.0", Environment: "staging", Crashed: 1, User: "b", UserCrashed: true},
		SessionUpdate{Release: "2.0", Environment: "production", Sessions: 1, User: "c"})
	add(day.AddDate(0, 0, -1), SessionUpdate{Release: "1.0", Environment: "production", Sessions: 1, User: "a"})

	hs, err := db.ReleaseHealths(p.ID, 14, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 2 || hs[0].Release != "1.0" || hs[0].Sessions != 4 || hs[0].Crashed != 1 || hs[0].Users != 2 || hs[0].CrashedUsers != 1 {
		t.Fatalf("healths = %+v", hs)
	}
	if cf, _ := hs[0].CrashFreeSessions(); cf != 75 {
		t.Errorf("crash-free sessions %v, want 75", cf)
	}
	if cf, _ := hs[0].CrashFreeUsers(); cf != 50 {
		t.Errorf("crash-free users %v, want 50", cf)
	}
	if byEnv, _ := db.ReleaseHealths(p.ID, 14, true); len(byEnv) != 3 {
		t.Errorf("by environment: %+v, want 3 rows", byEnv)
	}
	if today, _ := db.ReleaseHealths(p.ID, 1, false); today[0].Sessions != 3 {
		t.Errorf("today: %+v, want 3 sessions of 1.0", today)
	}

	// The cap: past maxReleaseEnvs pairs a day, the rest is <other>.
	var us []SessionUpdate
	for i := range maxReleaseEnvs + 20 {
		us = append(us, SessionUpdate{Release: fmt.Sprintf("r%03d", i), Environment: "production", Sessions: 1})
	}
	add(day, us...)
	hs, _ = db.ReleaseHealths(p.ID, 1, true)
	var other ReleaseHealth
	for _, h := range hs {
		if h.Release == OtherSubject {
			other = h
		}
	}
	// 3 pairs were there already: 97 new ones fit, 23 do not.
	if len(hs) != maxReleaseEnvs+1 || other.Release != OtherSubject || other.Sessions != 23 {
		t.Errorf("%d release/environment pairs today, <other> %+v; want %d, <other> holding the 23 sessions past the cap", len(hs), other, maxReleaseEnvs+1)
	}

	// Client reports and dropped items, and their retention.
	if err := db.Digest(func(tx *Tx) error {
		if err := tx.AddClientReport(p.ID, day, "ratelimit_backoff", "error", 1204); err != nil {
			return err
		}
		return tx.AddDroppedItems(p.ID, day.AddDate(0, 0, -healthKeep-1), "profile", 3)
	}); err != nil {
		t.Fatal(err)
	}
	if cr, _ := db.ClientReports(p.ID, 7); cr["ratelimit_backoff:error"] != 1204 {
		t.Errorf("client reports %v", cr)
	}
	if _, err := db.RollUp(); err != nil {
		t.Fatal(err)
	}
	n := 0
	db.view(func(tx *kvTx) error {
		tx.ascend("ditem", func(k, v string) bool { n++; return true })
		return nil
	})
	if n != 0 {
		t.Errorf("%d dropped-item keys older than %d days left after RollUp", n, healthKeep)
	}
	if hs, _ := db.ReleaseHealths(p.ID, 14, false); len(hs) == 0 {
		t.Errorf("RollUp dropped recent release health")
	}
}

// A project's summary_retention_days cuts its daily summaries short (the
// transactions, release health, client reports and dropped items of the
// days out of its window go at RollUp); another project keeps the full
// SummaryKeepDays.
func TestSummaryRetentionPerProject(t *testing.T) {
	db := openTest(t, t.TempDir())
	today := time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return today }
	short, _ := db.CreateProject("short")
	long, _ := db.CreateProject("long")
	if err := db.SetProjectSettings(short.ID, ProjectSettings{Name: "short", RetentionMax: 100, SummaryDays: 7}); err != nil {
		t.Fatal(err)
	}
	if err := db.SetProjectSettings(short.ID, ProjectSettings{Name: "short", RetentionMax: 100, SummaryDays: SummaryKeepDays + 1}); err == nil {
		t.Error("summary days past SummaryKeepDays accepted")
	}
	days := []int{0, 6, 7, 30, 89}
	if err := db.Digest(func(tx *Tx) error {
		for _, pid := range []int{short.ID, long.ID} {
			for _, d := range days {
				at := today.AddDate(0, 0, -d)
				if err := tx.AddSession(pid, SessionUpdate{Release: "1.0", Environment: "production", Sessions: 1, At: at}); err != nil {
					return err
				}
				if err := tx.AddClientReport(pid, at, "queue_overflow", "error", 1); err != nil {
					return err
				}
				if err := tx.AddDroppedItems(pid, at, "profile", 1); err != nil {
					return err
				}
				if err := tx.AddTransaction(pid, &Transaction{Name: "/checkout", At: at, DurationMS: 1000}); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RollUp(); err != nil {
		t.Fatal(err)
	}
	// Each family, per project: the days left.
	left := func(pid int) map[string][]string {
		out := map[string][]string{}
		db.view(func(tx *kvTx) error {
			for _, f := range summaryFamilies {
				tx.ascend(f.prefix, func(k, v string) bool {
					day, rest, _ := strings.Cut(k[len(f.prefix):], ":")
					if strings.HasPrefix(rest, fmt.Sprintf("%06d", pid)) {
						out[f.prefix] = append(out[f.prefix], day)
					}
					return true
				})
			}
			return nil
		})
		return out
	}
	wantDays := func(ds ...int) []string {
		var out []string
		for i := len(ds) - 1; i >= 0; i-- {
			out = append(out, dayString(today.AddDate(0, 0, -ds[i])))
		}
		return out
	}
	for pid, want := range map[int][]string{short.ID: wantDays(0, 6), long.ID: wantDays(0, 6, 7, 30, 89)} {
		got := left(pid)
		for _, f := range summaryFamilies {
			if !slices.Equal(got[f.prefix], want) {
				t.Errorf("project %d, %s: days %v left, want %v", pid, f.prefix, got[f.prefix], want)
			}
		}
	}
	if p, _ := db.Project(short.ID); p.SummaryRetention() != 7 {
		t.Errorf("summary retention %d, want 7", p.SummaryRetention())
	}
	if p, _ := db.Project(long.ID); p.SummaryRetention() != SummaryKeepDays {
		t.Errorf("default summary retention %d, want %d", p.SummaryRetention(), SummaryKeepDays)
	}
}
