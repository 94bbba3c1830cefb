package digest

import (
	"encoding/hex"
	"time"

	"github.com/valyala/fastjson"

	"github.com/tinysink/tinysink/digest/rawevent"
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
	id, ok := rawevent.ParseID(eventID)
	if !ok || f.Message == "" {
		it.dropped = "invalid_feedback"
		return nil
	}
	f.EventID = hex.EncodeToString(id[:])
	iid, ok := tx.EventIssue(it.project, id)
	if !ok {
		// The event may be on its way still: the scheduler tries again.
		if kept, err := tx.AddPendingFeedback(it.project, f); err != nil || kept {
			return err
		}
		it.dropped = "feedback_event_unknown"
		return nil
	}
	if err := attachFeedback(tx, it.project, iid, f, it.digestedAt); err != nil {
		return err
	}
	it.alerted = true
	return nil
}

// attachFeedback stores f on issue iid and alerts with it.
func attachFeedback(tx *store.Tx, pid int, iid uint32, f *store.Feedback, now time.Time) error {
	if err := tx.AddFeedback(iid, f); err != nil {
		return err
	}
	return tx.EnqueueAlert(&store.Alert{Project: pid, Issue: iid, Reason: store.ReasonFeedback,
		EventID: f.EventID, Feedback: f, CreatedAt: now})
}

// attachPending attaches the waiting feedback whose event has arrived, and
// drops what has waited longer than store.FeedbackWait. It reports
// whether it enqueued an alert.
func attachPending(tx *store.Tx, now time.Time) (alerted bool, err error) {
	ps, err := tx.PendingFeedbacks(store.MaxPendingFeedback)
	if err != nil {
		return false, err
	}
	for i := range ps {
		p := &ps[i]
		id, _ := rawevent.ParseID(p.Feedback.EventID)
		iid, ok := tx.EventIssue(p.Project, id)
		if ok {
			if err := attachFeedback(tx, p.Project, iid, &p.Feedback, now); err != nil {
				return false, err
			}
			alerted = true
		}
		if ok || now.Sub(p.Feedback.At) > store.FeedbackWait {
			if err := tx.DeletePendingFeedback(p); err != nil {
				return false, err
			}
		}
	}
	return alerted, nil
}
