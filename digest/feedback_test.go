package digest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tinysink/tinysink/digest/rawevent"
	"github.com/tinysink/tinysink/ingest/spool"
	"github.com/tinysink/tinysink/store"
)

func TestFeedbackAttachedToIssue(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	if err := r.db.CreateAlertBackend(&store.AlertBackend{Project: r.pid, Kind: store.BackendWebhook, Name: "hook",
		Config: map[string]string{"webhook_url": "http://127.0.0.1:9/hook"}}); err != nil {
		t.Fatal(err)
	}
	iss := r.send("KeyError", "1.0.0")
	page, err := r.db.Events(iss, false, 0, 1)
	if err != nil || len(page.Events) != 1 {
		t.Fatal(err)
	}
	id := page.Events[0].ID
	before, _ := r.db.Outbox()

	r.sendItem("user_report", fmt.Appendf(nil, `{"event_id":%q,"name":"Jane","email":"jane@example.com","comments":"It broke on save"}`, strings.ToUpper(id)))
	r.sendItem("feedback", fmt.Appendf(nil, `{"contexts":{"feedback":{"message":"Still broken","contact_email":"bob@example.com","associated_event_id":%q}}}`, id))
	r.sendItem("feedback", []byte(`{"contexts":{"feedback":{"message":"about nothing","associated_event_id":"0123456789abcdef0123456789abcdef"}}}`))
	r.sendItem("user_report", []byte(`{"event_id":"nope","comments":"x"}`))

	fb, err := r.db.Feedback(iss.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(fb) != 2 || fb[0].Message != "Still broken" || fb[1].Name != "Jane" || fb[1].EventID != id {
		t.Fatalf("feedback = %+v", fb)
	}
	after, _ := r.db.Outbox()
	if len(after) != len(before)+2 {
		t.Fatalf("outbox grew by %d, want 2 (one per feedback)", len(after)-len(before))
	}
	last := after[len(after)-1].Alert
	if last.Reason != store.ReasonFeedback || last.Feedback == nil || last.Feedback.Message != "Still broken" {
		t.Errorf("alert = %+v", last)
	}
}

func TestFeedbackBeforeItsEventWaits(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	const id = "fedcba9876543210fedcba9876543210"
	r.sendItem("user_report", []byte(`{"event_id":"`+id+`","name":"Ann","comments":"first!"}`))
	r.sendItem("user_report", []byte(`{"event_id":"00000000000000000000000000000001","comments":"never"}`))
	if _, err := r.w.Tick(r.now); err != nil {
		t.Fatal(err)
	}
	if err := r.sp.Append(&spool.Record{Project: r.pid, EventID: id, IngestedAt: r.now,
		Payload: []byte(`{"event_id":"` + id + `","message":"late event"}`)}); err != nil {
		t.Fatal(err)
	}
	if err := r.w.Drain(); err != nil {
		t.Fatal(err)
	}
	eid, _ := rawevent.ParseID(id)
	e, _, err := r.db.Event(eid)
	if err != nil {
		t.Fatal(err)
	}
	iss, _ := r.db.Issue(e.IssueID)
	if fb, _ := r.db.Feedback(iss.ID); len(fb) != 0 {
		t.Fatalf("feedback before the tick: %+v", fb)
	}
	r.now = r.now.Add(store.FeedbackWait + time.Minute)
	if _, err := r.w.Tick(r.now); err != nil {
		t.Fatal(err)
	}
	if fb, _ := r.db.Feedback(iss.ID); len(fb) != 1 || fb[0].Message != "first!" {
		t.Errorf("feedback after the tick: %+v", fb)
	}
	err = r.db.Digest(func(tx *store.Tx) error {
		ps, err := tx.PendingFeedbacks(10)
		if len(ps) != 0 {
			t.Errorf("still waiting after %v: %+v", store.FeedbackWait, ps)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
