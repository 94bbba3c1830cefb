package digest

import (
	"encoding/hex"

	"github.com/valyala/fastjson"

	"github.com/tinysink/tinysink/store"
)

// digestFeedback attaches user feedback to the issue of the event it
// names, and alerts with it. New-style feedback (a feedback item) carries
// it in contexts.feedback, naming the event in associated_event_id; the
// older user_report names it in event_id. Feedback about an event that is
// not stored (never sent, or evicted) is dropped.
func digestFeedback(tx *store.Tx, it *item, v *fastjson.Value) error {
	f := &store.Feedback{At: it.ingestedAt}
	var eventID string
	if it.typ == "feedback" {
		c := v.Get("contexts", "feedback")
		if c == nil {
			it.dropped = "invalid_feedback"
			return nil
		}
		eventID = str(c, "associated_event_id")
		f.Name, f.Email, f.Message, f.URL = str(c, "name"), str(c, "contact_email"), str(c, "message"), str(c, "url")
	} else {
		eventID = str(v, "event_id")
		f.Name, f.Email, f.Message = str(v, "name"), str(v, "email"), str(v, "comments")
	}
	f.Name, f.Email, f.Message, f.URL = truncate(f.Name, 200), truncate(f.Email, 200), truncate(f.Message, 4096), truncate(f.URL, 1024)
	id, ok := store.ParseEventID(eventID)
	if !ok || f.Message == "" {
		it.dropped = "invalid_feedback"
		return nil
	}
	f.EventID = hex.EncodeToString(id[:])
	iid, ok := tx.EventIssue(it.project, id)
	if !ok {
		it.dropped = "feedback_event_unknown"
		return nil
	}
	if err := tx.AddFeedback(iid, f); err != nil {
		return err
	}
	if err := tx.EnqueueAlert(&store.Alert{Project: it.project, Issue: iid, Reason: store.ReasonFeedback,
		EventID: f.EventID, Feedback: f, CreatedAt: it.digestedAt}); err != nil {
		return err
	}
	it.alerted = true
	return nil
}
