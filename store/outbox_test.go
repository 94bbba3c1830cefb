package store

import (
	"errors"
	"testing"
	"time"
)

// alertFixture makes a project with one issue, two backends and one email
// recipient.
func alertFixture(t *testing.T, db *DB) (*Project, uint32, [2]uint32) {
	t.Helper()
	p, err := db.CreateProject("App")
	if err != nil {
		t.Fatal(err)
	}
	addEvents(t, db, p.ID, "h1", 0, 1)
	iss, err := db.IssueByRef("APP-1")
	if err != nil {
		t.Fatal(err)
	}
	var ids [2]uint32
	for i, kind := range []string{"slack", "webhook"} {
		b := &AlertBackend{Project: p.ID, Kind: kind, Config: map[string]string{"webhook_url": "https://example.org/" + kind}}
		if err := db.CreateAlertBackend(b); err != nil {
			t.Fatal(err)
		}
		ids[i] = b.ID
	}
	if _, err := db.CreateUser("ann@example.org", "password1", true); err != nil {
		t.Fatal(err)
	}
	return p, iss.ID, ids
}

func enqueue(t *testing.T, db *DB, a Alert) {
	t.Helper()
	if err := db.Digest(func(tx *Tx) error { return tx.EnqueueAlert(&a) }); err != nil {
		t.Fatalf("EnqueueAlert: %v", err)
	}
}

func TestEnqueueAlertExpandsAndPersists(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := openTest(t, dir)
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	p, iid, backends := alertFixture(t, db)

	enqueue(t, db, Alert{Project: p.ID, Issue: iid, Reason: ReasonNew, EventID: "ab"})
	out, err := db.Outbox()
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 {
		t.Fatalf("outbox has %d deliveries, want 3: %+v", len(out), out)
	}
	if out[0].Backend != backends[0] || out[1].Backend != backends[1] || out[2].Email != "ann@example.org" {
		t.Errorf("destinations = %s, %s, %s", out[0].Destination(), out[1].Destination(), out[2].Destination())
	}
	for _, d := range out {
		if d.Alert.Reason != ReasonNew || d.Alert.Issue != iid || !d.Alert.CreatedAt.Equal(now) || !d.NextAttempt.Equal(now) {
			t.Errorf("delivery %+v", d)
		}
	}
	if out[0].ID >= out[1].ID || out[1].ID >= out[2].ID {
		t.Errorf("ids not increasing: %d %d %d", out[0].ID, out[1].ID, out[2].ID)
	}

	// A project toggle turns the kind of alert off.
	db.SetProjectSettings(p.ID, ProjectSettings{Name: "App", RetentionMax: 10, AlertOnNewIssue: true, AlertOnRegression: false, AlertOnUnmute: true})
	enqueue(t, db, Alert{Project: p.ID, Issue: iid, Reason: ReasonRegressed})
	if out, _ := db.Outbox(); len(out) != 3 {
		t.Errorf("regression with alerts off enqueued: %d deliveries", len(out))
	}
	enqueue(t, db, Alert{Project: p.ID, Issue: iid, Reason: ReasonUnmuted, UnmuteReason: "volume"})
	if out, _ := db.Outbox(); len(out) != 6 || out[5].Alert.UnmuteReason != "volume" {
		t.Errorf("after unmute: %+v", out)
	}
	// A batch that fails writes nothing.
	err = db.Digest(func(tx *Tx) error {
		if err := tx.EnqueueAlert(&Alert{Project: p.ID, Issue: iid, Reason: ReasonNew}); err != nil {
			return err
		}
		return errors.New("boom")
	})
	if err == nil {
		t.Fatal("failing batch succeeded")
	}
	if err := db.Digest(func(tx *Tx) error { return tx.EnqueueAlert(&Alert{Project: p.ID, Reason: "LOUD"}) }); err == nil {
		t.Error("unknown reason accepted")
	}

	db.Close()
	db = openTest(t, dir)
	if out, _ := db.Outbox(); len(out) != 6 {
		t.Errorf("after reopen: %d deliveries, want 6", len(out))
	}
}

func TestDeliveryLifecycle(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir())
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	p, iid, backends := alertFixture(t, db)
	enqueue(t, db, Alert{Project: p.ID, Issue: iid, Reason: ReasonNew})
	out, _ := db.Outbox()

	next := now.Add(time.Hour)
	f := Failure{At: now, Status: 500, Body: "down"}
	if err := db.DeliveryRetry(out[0].ID, f, next); err != nil {
		t.Fatal(err)
	}
	if err := db.DeliveryRetry(out[2].ID, Failure{At: now, Error: "dial tcp: refused"}, next); err != nil {
		t.Fatal(err)
	}
	got, _ := db.Outbox()
	if got[0].Attempts != 1 || !got[0].NextAttempt.Equal(next) || got[0].LastError != "HTTP status 500" {
		t.Errorf("after retry: %+v", got[0])
	}
	if b, _ := db.AlertBackend(backends[0]); b.LastFailure == nil || b.LastFailure.Body != "down" {
		t.Errorf("backend failure not recorded: %+v", b)
	}
	if s, _ := db.EmailStatus(); s.LastFailure == nil || s.LastFailure.Error != "dial tcp: refused" {
		t.Errorf("email failure not recorded: %+v", s)
	}

	// Editing the backend makes its waiting delivery due now.
	now = now.Add(time.Minute)
	b, _ := db.AlertBackend(backends[0])
	b.Config["webhook_url"] = "https://example.org/fixed"
	if err := db.UpdateAlertBackend(b); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Outbox(); !got[0].NextAttempt.Equal(now) || !got[2].NextAttempt.Equal(next) {
		t.Errorf("after update: next attempts %v, %v", got[0].NextAttempt, got[2].NextAttempt)
	}

	if err := db.DeliveryDone(out[0].ID, now); err != nil {
		t.Fatal(err)
	}
	if b, _ := db.AlertBackend(backends[0]); b.LastFailure != nil || !b.LastSuccess.Equal(now) {
		t.Errorf("success did not clear the failure: %+v", b)
	}
	if err := db.DeliveryGiveUp(out[1].ID, &Failure{At: now, Status: 404}); err != nil {
		t.Fatal(err)
	}
	if b, _ := db.AlertBackend(backends[1]); b.LastFailure == nil || b.LastFailure.Status != 404 {
		t.Errorf("give-up failure not recorded: %+v", b)
	}
	if err := db.DeliveryDone(out[2].ID, now); err != nil {
		t.Fatal(err)
	}
	if s, _ := db.EmailStatus(); !s.LastSuccess.Equal(now) {
		t.Errorf("email success not recorded: %+v", s)
	}
	if got, _ := db.Outbox(); len(got) != 0 {
		t.Errorf("outbox not empty: %+v", got)
	}
	// Finishing a delivery twice is harmless.
	if err := db.DeliveryDone(out[0].ID, now); err != nil {
		t.Error(err)
	}

	// Deleting a backend drops what waits for it.
	enqueue(t, db, Alert{Project: p.ID, Issue: iid, Reason: ReasonNew})
	if err := db.DeleteAlertBackend(backends[1]); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Outbox(); len(got) != 2 || got[0].Backend != backends[0] || got[1].Email == "" {
		t.Errorf("after delete: %+v", got)
	}
}

func TestClaimEmailCap(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir())
	p, iid, _ := alertFixture(t, db)
	hour := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for range 4 {
		enqueue(t, db, Alert{Project: p.ID, Issue: iid, Reason: ReasonNew})
	}
	var emails []Delivery
	out, _ := db.Outbox()
	for _, d := range out {
		if d.Backend == 0 {
			emails = append(emails, d)
		}
	}
	var got []bool
	for i, d := range emails[:3] {
		ok, err := db.ClaimEmail(d.ID, hour.Add(time.Duration(i)*time.Minute), 2)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ok)
	}
	if !got[0] || !got[1] || got[2] {
		t.Errorf("claims = %v, want [true true false]", got)
	}
	// A retried delivery is not counted again.
	if ok, _ := db.ClaimEmail(emails[0].ID, hour, 2); !ok {
		t.Error("retry of a counted email refused")
	}
	if n, _ := db.EmailsSent(hour); n != 2 {
		t.Errorf("EmailsSent = %d, want 2", n)
	}
	if s, _ := db.EmailStatus(); s.Dropped != 1 {
		t.Errorf("Dropped = %d, want 1", s.Dropped)
	}
	// The refused one is gone; the next hour has room again.
	for _, d := range mustOutbox(t, db) {
		if d.ID == emails[2].ID {
			t.Error("dropped email still in the outbox")
		}
	}
	if ok, _ := db.ClaimEmail(emails[3].ID, hour.Add(time.Hour), 2); !ok {
		t.Error("next hour refused")
	}
}

func mustOutbox(t *testing.T, db *DB) []Delivery {
	t.Helper()
	out, err := db.Outbox()
	if err != nil {
		t.Fatal(err)
	}
	return out
}
