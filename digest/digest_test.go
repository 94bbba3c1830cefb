package digest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tinysink/tinysink/ingest/spool"
	"github.com/tinysink/tinysink/store"
)

// rig is a worker over a real store and spool, with a settable clock.
type rig struct {
	t   *testing.T
	db  *store.DB
	sp  *spool.Spool
	w   *Worker
	now time.Time
	pid int
}

func newRig(t *testing.T) *rig {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sp, err := spool.Open(dir+"/spool", spool.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	r := &rig{t: t, db: db, sp: sp, now: time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)}
	db.Now = func() time.Time { return r.now }
	p, err := db.CreateProject("app")
	if err != nil {
		t.Fatal(err)
	}
	r.pid = p.ID
	if r.w, err = New(db, sp, nil); err != nil {
		t.Fatal(err)
	}
	return r
}

// send digests one event of exception type typ in release rel and returns
// its issue.
func (r *rig) send(typ, rel string, extra ...string) *store.Issue {
	r.t.Helper()
	var b [16]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	ev := fmt.Sprintf(`{"event_id":"%s","release":%q,"exception":{"values":[{"type":%q,"value":"boom"}]}%s}`, id, rel, typ, strings.Join(extra, ""))
	if err := r.sp.Append(&spool.Record{Project: r.pid, EventID: id, IngestedAt: r.now, Payload: []byte(ev)}); err != nil {
		r.t.Fatal(err)
	}
	if err := r.w.Drain(); err != nil {
		r.t.Fatal(err)
	}
	e, _, err := r.db.Event(id)
	if err != nil {
		r.t.Fatalf("event %s not stored: %v", id, err)
	}
	iss, err := r.db.Issue(e.IssueID)
	if err != nil {
		r.t.Fatal(err)
	}
	return iss
}

func (r *rig) act(iss *store.Issue, a store.Action) {
	r.t.Helper()
	if _, err := r.db.ApplyAction(iss.ID, a, "tester", ""); err != nil {
		r.t.Fatalf("%s: %v", a, err)
	}
}

func (r *rig) historyKinds(iss *store.Issue) []string {
	h, err := r.db.History(iss.ID)
	if err != nil {
		r.t.Fatal(err)
	}
	var kinds []string
	for _, e := range h {
		kinds = append(kinds, e.Kind)
	}
	return kinds
}

func TestRegressionByRelease(t *testing.T) {
	for _, tt := range []struct {
		name      string
		releases  []string // created in this order, one hour apart
		resolve   store.Action
		eventIn   string
		regresses bool
	}{
		{"semver: fixed in 1.0, event in 1.1", []string{"0.9.0", "1.0.0", "1.1.0"}, store.ResolveInRelease("1.0.0"), "1.1.0", true},
		{"semver: fixed in 1.0, event in 0.9", []string{"0.9.0", "1.0.0", "1.1.0"}, store.ResolveInRelease("1.0.0"), "0.9.0", false},
		{"semver: fixed in 1.0, event in 1.0", []string{"0.9.0", "1.0.0"}, store.ResolveInRelease("1.0.0"), "1.0.0", true},
		{"semver: seen in 1.1 before the fix in 1.0", []string{"1.1.0", "1.0.0"}, store.ResolveInRelease("1.0.0"), "1.1.0", false},
		{"package prefix", []string{"app@1.0.0", "app@2.0.0"}, store.ResolveInRelease("app@2.0.0"), "app@1.0.0", false},
		{"prerelease before release", []string{"2.0.0-rc1", "2.0.0"}, store.ResolveInRelease("2.0.0"), "2.0.0-rc1", false},
		{"date order: fixed in b, event in c", []string{"a1b2c3", "d4e5f6", "a7b8c9"}, store.ResolveInRelease("d4e5f6"), "a7b8c9", true},
		{"date order: fixed in b, event in a", []string{"a1b2c3", "d4e5f6", "a7b8c9"}, store.ResolveInRelease("d4e5f6"), "a1b2c3", false},
		{"unconditional: any event", []string{"1.0.0", "2.0.0"}, store.ActionResolve, "1.0.0", true},
		{"no release at all", nil, store.ActionResolve, "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			// Another issue's events bring the releases; the issue under
			// test is seen only in the first.
			for _, rel := range tt.releases {
				r.send("OtherError", rel)
				r.now = r.now.Add(time.Hour)
			}
			first := ""
			if len(tt.releases) > 0 {
				first = tt.releases[0]
			}
			iss := r.send("KeyError", first)
			r.act(iss, tt.resolve)
			got := r.send("KeyError", tt.eventIn)
			if got.IsResolved == tt.regresses {
				t.Errorf("after an event in %q: resolved = %v, want regression %v", tt.eventIn, got.IsResolved, tt.regresses)
			}
			kinds := r.historyKinds(got)
			if has := strings.Contains(strings.Join(kinds, ","), store.HistoryRegressed); has != tt.regresses {
				t.Errorf("history %v", kinds)
			}
		})
	}
}

func TestResolveInNextRelease(t *testing.T) {
	r := newRig(t)
	iss := r.send("ValueError", "1.0.0")
	r.act(iss, store.ActionResolveNext)
	// Another event in the current release: not a regression (the next
	// release has not appeared yet).
	if got := r.send("ValueError", "1.0.0"); !got.IsResolved || !got.IsResolvedByNextRelease {
		t.Fatalf("event in the same release regressed: %+v", got)
	}
	// An unrelated event brings release 1.1.0: the resolution materialises.
	r.now = r.now.Add(time.Hour)
	r.send("OtherError", "1.1.0")
	iss, _ = r.db.Issue(iss.ID)
	if iss.IsResolvedByNextRelease || !iss.IsResolved || len(iss.FixedAt) != 1 || iss.FixedAt[0] != "1.1.0" {
		t.Fatalf("after release 1.1.0: %+v", iss)
	}
	// An old-release event does not regress; one in 1.1.0 does.
	if got := r.send("ValueError", "1.0.0"); !got.IsResolved {
		t.Error("event in 1.0.0 regressed an issue fixed in 1.1.0")
	}
	if got := r.send("ValueError", "1.1.0"); got.IsResolved {
		t.Error("event in 1.1.0 did not regress an issue fixed in 1.1.0")
	}
	kinds := strings.Join(r.historyKinds(iss), ",")
	for _, k := range []string{store.HistoryFirstSeen, store.HistoryResolved, store.HistoryNextMaterialized, store.HistoryRegressed} {
		if !strings.Contains(kinds, k) {
			t.Errorf("history %s lacks %s", kinds, k)
		}
	}
}

func TestUnmuteOnTimeAndVolume(t *testing.T) {
	r := newRig(t)
	iss := r.send("TimeoutError", "")
	r.act(iss, store.MuteFor("day", 1))
	r.now = r.now.Add(23 * time.Hour)
	if got := r.send("TimeoutError", ""); !got.IsMuted {
		t.Fatal("unmuted before the deadline")
	}
	r.now = r.now.Add(2 * time.Hour)
	if got := r.send("TimeoutError", ""); got.IsMuted {
		t.Fatal("still muted after the deadline")
	}

	vol := r.send("DiskFull", "")
	r.act(vol, store.MuteUntil("hour", 1, 3))
	r.now = r.now.Add(2 * time.Hour) // the first event is now outside the window
	for i, wantMuted := range []bool{true, true, false} {
		got := r.send("DiskFull", "")
		if got.IsMuted != wantMuted {
			t.Fatalf("event %d in the hour: muted = %v, want %v", i+1, got.IsMuted, wantMuted)
		}
		r.now = r.now.Add(time.Minute)
	}
	if kinds := strings.Join(r.historyKinds(vol), ","); !strings.Contains(kinds, store.HistoryUnmutedByEvent) {
		t.Errorf("history %s", kinds)
	}
}

func TestAlertsEnqueued(t *testing.T) {
	r := newRig(t)
	if err := r.db.CreateAlertBackend(&store.AlertBackend{Project: r.pid, Kind: store.BackendWebhook, Name: "hook",
		Config: map[string]string{"webhook_url": "http://127.0.0.1:9/hook"}}); err != nil {
		t.Fatal(err)
	}
	poked := 0
	r.w.OnAlert = func() { poked++ }
	iss := r.send("KeyError", "1.0.0")
	r.send("KeyError", "1.0.0") // no alert: nothing changed
	r.act(iss, store.ActionResolve)
	r.send("KeyError", "1.0.0") // regression
	out, err := r.db.Outbox()
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, d := range out {
		reasons = append(reasons, d.Alert.Reason)
	}
	if got := strings.Join(reasons, ","); got != "NEW,REGRESSED" || poked != 2 {
		t.Errorf("outbox reasons %q, pokes %d", got, poked)
	}
}

func TestScrubbedBeforeStorage(t *testing.T) {
	r := newRig(t)
	iss := r.send("AuthError", "", `,"extra":{"password":"hunter2","note":"fine"}`)
	page, _ := r.db.Events(iss, false, 0, 1)
	body, err := r.db.EventBody(&page.Events[0])
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(body, []byte("hunter2")) || !bytes.Contains(body, []byte("[Filtered]")) || !bytes.Contains(body, []byte("fine")) {
		t.Errorf("stored body: %s", body)
	}
	if err := r.db.SetProjectScrub(r.pid, store.ScrubSettings{Off: true}); err != nil {
		t.Fatal(err)
	}
	iss = r.send("AuthError", "", `,"extra":{"password":"hunter2"}`)
	page, _ = r.db.Events(iss, false, 0, 1)
	if body, _ := r.db.EventBody(&page.Events[0]); !bytes.Contains(body, []byte("hunter2")) {
		t.Errorf("scrubbed although the project turned it off: %s", body)
	}
}

func TestRetentionHoldsTheCap(t *testing.T) {
	r := newRig(t)
	if err := r.db.SetProjectSettings(r.pid, store.ProjectSettings{Name: "app", RetentionMax: 40, AlertOnNewIssue: true}); err != nil {
		t.Fatal(err)
	}
	for i := range 120 {
		// The event itself may be evicted by the round after its batch.
		id := fmt.Sprintf("%032x", i+1)
		ev := fmt.Sprintf(`{"exception":{"values":[{"type":"E%d","value":"boom"}]}}`, i%3)
		if err := r.sp.Append(&spool.Record{Project: r.pid, EventID: id, IngestedAt: r.now, Payload: []byte(ev)}); err != nil {
			t.Fatal(err)
		}
		if err := r.w.Drain(); err != nil {
			t.Fatal(err)
		}
		r.now = r.now.Add(time.Minute)
	}
	first, err := r.db.IssueByRef("APP-1")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := r.db.Project(r.pid)
	if p.StoredEventCount > 40 || p.StoredEventCount < 30 || p.DigestedEventCount != 120 {
		t.Errorf("stored %d, digested %d; want at most 40 stored", p.StoredEventCount, p.DigestedEventCount)
	}
	// The first event of every issue survives.
	page, _ := r.db.Events(first, true, 0, 1)
	if len(page.Events) == 0 || page.Events[0].DigestOrder != 1 {
		t.Errorf("first event of the issue was evicted: %+v", page.Events)
	}
}
