package digest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tinysink/tinysink/store"
)

func TestFeedbackAttachedToIssue(t *testing.T) {
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
