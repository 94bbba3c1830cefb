package store

import (
	"fmt"
	"strconv"
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

// Feedback can arrive before the event it names is digested (an SDK sends
// both at once, on two connections). It then waits, for at most
// FeedbackWait, until the scheduler finds the event (digest/feedback.go):
//
//	fbpend:<nanos 20>:<pid 6>    PendingFeedback JSON
//	fbpendn:all                  how many wait, at most MaxPendingFeedback

const (
	// MaxPendingFeedback bounds the feedback waiting for its event.
	MaxPendingFeedback = 1000
	// FeedbackWait is how long feedback waits for its event.
	FeedbackWait = time.Hour
)

const pendingFeedbackCountKey = "fbpendn:all"

// PendingFeedback is feedback waiting for its event.
type PendingFeedback struct {
	Key      string   `json:"-"`
	Project  int      `json:"project"`
	Feedback Feedback `json:"feedback"`
}

// AddPendingFeedback keeps f, on an event of project pid not stored yet,
// for a later try. It reports false when MaxPendingFeedback already wait.
func (t *Tx) AddPendingFeedback(pid int, f *Feedback) (bool, error) {
	n := 0
	if s, err := t.kv.Get(pendingFeedbackCountKey); err == nil {
		n, _ = strconv.Atoi(s)
	}
	if n >= MaxPendingFeedback {
		return false, nil
	}
	at := f.At
	key := func() string { return fmt.Sprintf("fbpend:%020d:%06d", at.UnixNano(), pid) }
	for {
		if _, err := t.kv.Get(key()); err != nil {
			break
		}
		at = at.Add(1)
	}
	if err := setJSON(t.kv, key(), &PendingFeedback{Project: pid, Feedback: *f}); err != nil {
		return false, err
	}
	_, _, err := t.kv.Set(pendingFeedbackCountKey, strconv.Itoa(n+1), nil)
	return err == nil, err
}

// PendingFeedbacks returns up to limit waiting feedback entries, oldest
// first.
func (t *Tx) PendingFeedbacks(limit int) ([]PendingFeedback, error) {
	var out []PendingFeedback
	var bad error
	t.kv.ascend("fbpend:", func(k, v string) bool {
		var p PendingFeedback
		if err := jsonUnmarshal(v, &p); err != nil {
			bad = fmt.Errorf("store: %q: %w", k, err)
			return false
		}
		p.Key = k
		out = append(out, p)
		return len(out) < limit
	})
	if err := t.kv.t.Err(); err != nil {
		return nil, err
	}
	return out, bad
}

// DeletePendingFeedback removes a waiting entry.
func (t *Tx) DeletePendingFeedback(p *PendingFeedback) error {
	if _, err := t.kv.Delete(p.Key); err != nil {
		return err
	}
	n := 0
	if s, err := t.kv.Get(pendingFeedbackCountKey); err == nil {
		n, _ = strconv.Atoi(s)
	}
	_, _, err := t.kv.Set(pendingFeedbackCountKey, strconv.Itoa(max(n-1, 0)), nil)
	return err
}
