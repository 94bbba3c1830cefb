package store

import (
	"fmt"
	"time"
)

// User feedback (feedback and user_report items), attached to the issue of
// the event it names:
//
//	ifeedback:<iid 10>:<nanos 20>   Feedback JSON, the last MaxFeedback kept
//
// Deleting the issue deletes its feedback.

// MaxFeedback is how many feedback entries an issue keeps.
const MaxFeedback = 100

func feedbackPrefix(iid uint32) string { return "ifeedback:" + pad10(iid) + ":" }
func feedbackKey(iid uint32, at time.Time) string {
	return feedbackPrefix(iid) + fmt.Sprintf("%020d", at.UnixNano())
}

// Feedback is what a user said about an error they met.
type Feedback struct {
	EventID string    `json:"event_id,omitempty"` // the event it is about
	Name    string    `json:"name,omitempty"`
	Email   string    `json:"email,omitempty"`
	Message string    `json:"message"`
	URL     string    `json:"url,omitempty"`
	At      time.Time `json:"at"`
}

// EventIssue returns the issue of project's event id, stored or added
// earlier in this batch.
func (t *Tx) EventIssue(project int, id [16]byte) (uint32, bool) {
	if pl, ok := t.pending[project]; ok && pl.ids[id] {
		for _, r := range pl.recs {
			if r.EventID == id {
				return r.Issue, true
			}
		}
	}
	el := t.db.eventLog(project)
	if el == nil {
		return 0, false
	}
	el.mu.RLock()
	defer el.mu.RUnlock()
	n, ok := el.find(id)
	if !ok {
		return 0, false
	}
	r, err := el.readRecord(n)
	return r.Issue, err == nil
}

// AddFeedback attaches f to issue iid, keeping its last MaxFeedback.
func (t *Tx) AddFeedback(iid uint32, f *Feedback) error {
	at := f.At
	for {
		if _, err := t.kv.Get(feedbackKey(iid, at)); err != nil {
			break // a free key (two at the same nanosecond get the next)
		}
		at = at.Add(1)
	}
	if err := setJSON(t.kv, feedbackKey(iid, at), f); err != nil {
		return err
	}
	var keys []string
	t.kv.ascend(feedbackPrefix(iid), func(k, _ string) bool {
		keys = append(keys, k)
		return len(keys) <= MaxFeedback+10
	})
	for _, k := range keys[:max(len(keys)-MaxFeedback, 0)] {
		if _, err := t.kv.Delete(k); err != nil {
			return err
		}
	}
	return t.kv.t.Err()
}

// Feedback returns issue iid's feedback, newest first.
func (db *DB) Feedback(iid uint32) ([]Feedback, error) {
	var out []Feedback
	var bad error
	err := db.view(func(tx *kvTx) error {
		tx.descend(feedbackPrefix(iid), func(k, v string) bool {
			var f Feedback
			if err := jsonUnmarshal(v, &f); err != nil {
				bad = fmt.Errorf("store: %q: %w", k, err)
				return false
			}
			out = append(out, f)
			return true
		})
		return tx.t.Err()
	})
	if err == nil {
		err = bad
	}
	return out, err
}
