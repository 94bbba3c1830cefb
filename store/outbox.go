package store

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/buntdb"
)

// The alerts outbox. The digest writes one Delivery per destination of an
// alert in its batch transaction; the alert sender (package alerts) reads
// them, delivers each, and deletes it once delivered. A delivery lives in
// the store until then, so a restart loses none.
// Their keys are in keys.go.

// The reasons for an alert (reference §6.7).
const (
	ReasonNew       = "NEW"
	ReasonRegressed = "REGRESSED"
	ReasonUnmuted   = "UNMUTED"
	// ReasonFeedback is user feedback on the issue (Alert.Feedback).
	ReasonFeedback = "FEEDBACK"
)

// Alert is something that happened to an issue that people want to hear
// about.
type Alert struct {
	Project int    `json:"project"`
	Issue   uint32 `json:"issue"`
	// Reason is ReasonNew, ReasonRegressed or ReasonUnmuted.
	Reason string `json:"reason"`
	// UnmuteReason says why an unmuted issue was unmuted.
	UnmuteReason string `json:"unmute_reason,omitempty"`
	// Feedback is the user feedback a ReasonFeedback alert carries.
	Feedback *Feedback `json:"feedback,omitempty"`
	// EventID is the event that triggered the alert (32 hex), if known.
	EventID   string    `json:"event_id,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Delivery is one alert on its way to one destination: a messaging backend
// or one person's email address.
type Delivery struct {
	ID    uint64 `json:"id"`
	Alert Alert  `json:"alert"`
	// Backend is the AlertBackend to deliver to; 0 for an email.
	Backend uint32 `json:"backend,omitempty"`
	// User and Email are the recipient of an email.
	User  string `json:"user,omitempty"`
	Email string `json:"email,omitempty"`
	// Attempts counts the failed attempts so far.
	Attempts    int       `json:"attempts,omitempty"`
	NextAttempt time.Time `json:"next_attempt"`
	LastError   string    `json:"last_error,omitempty"`
	// QuotaTaken is set once the email has been counted against the hourly
	// cap, so that retries do not count it again.
	QuotaTaken bool `json:"quota_taken,omitempty"`
}

// Destination names where the delivery goes ("backend:12" or
// "email:ann@example.org"). Deliveries to one destination are made one at
// a time, in id order.
func (d *Delivery) Destination() string {
	if d.Backend != 0 {
		return "backend:" + strconv.FormatUint(uint64(d.Backend), 10)
	}
	return "email:" + strings.ToLower(d.Email)
}

// EnqueueAlert writes the alert to the outbox in this batch, as one
// Delivery for each of the project's alert backends and one for each
// recipient of its alert emails (see DB.AlertRecipients), unless the
// project has turned this kind of alert off. A.CreatedAt defaults to now.
func (t *Tx) EnqueueAlert(a *Alert) error {
	if t.replay {
		return nil
	}
	p, err := t.Project(a.Project)
	if err != nil {
		return fmt.Errorf("enqueue alert: %w", err)
	}
	var on bool
	switch a.Reason {
	case ReasonNew:
		on = p.AlertOnNewIssue
	case ReasonRegressed:
		on = p.AlertOnRegression
	case ReasonUnmuted:
		on = p.AlertOnUnmute
	case ReasonFeedback:
		on = p.AlertOnNewIssue // no toggle of its own: feedback is as rare as new issues
	default:
		return fmt.Errorf("enqueue alert: unknown reason %q", a.Reason)
	}
	if !on {
		return nil
	}
	al := *a
	if al.CreatedAt.IsZero() {
		al.CreatedAt = t.db.Now()
	}
	al.CreatedAt = al.CreatedAt.UTC()
	backends, err := alertBackends(t.kv, a.Project)
	if err != nil {
		return fmt.Errorf("enqueue alert: %w", err)
	}
	recipients, err := alertRecipients(t.kv, a.Project)
	if err != nil {
		return fmt.Errorf("enqueue alert: %w", err)
	}
	add := func(d Delivery) error {
		id, err := nextSeq(t.kv, "outbox")
		if err != nil {
			return err
		}
		d.ID, d.Alert, d.NextAttempt = id, al, al.CreatedAt
		return setJSON(t.kv, outboxKey(id), &d)
	}
	for _, b := range backends {
		if err := add(Delivery{Backend: b.ID}); err != nil {
			return fmt.Errorf("enqueue alert: %w", err)
		}
	}
	for _, r := range recipients {
		if err := add(Delivery{User: r.User, Email: r.Address}); err != nil {
			return fmt.Errorf("enqueue alert: %w", err)
		}
	}
	return nil
}

// Outbox returns the deliveries waiting to be made, in id order.
func (db *DB) Outbox() ([]Delivery, error) {
	var out []Delivery
	err := db.view(func(tx *kvTx) error {
		var ierr error
		err := tx.AscendKeys(outboxPattern, func(k, v string) bool {
			var d Delivery
			if ierr = jsonUnmarshal(v, &d); ierr != nil {
				return false
			}
			out = append(out, d)
			return true
		})
		return errors.Join(err, ierr)
	})
	return out, err
}

// DeliveryDone removes a delivery that was made and records the success
// on its backend (clearing its last failure) or in the EmailStatus.
func (db *DB) DeliveryDone(id uint64, at time.Time) error {
	return db.update(func(tx *kvTx) error {
		d, err := takeDelivery(tx, id)
		if err != nil || d == nil {
			return err
		}
		db.ops.delivered.Add(1)
		if d.Backend != 0 {
			return recordBackendResult(tx, d.Backend, nil, at)
		}
		return updateEmailStatus(tx, func(s *EmailStatus) { s.LastSuccess = at.UTC() })
	})
}

// DeliveryRetry records a failed attempt of a delivery, to be tried again
// at next, and records f as the last failure of its backend or in the
// EmailStatus.
func (db *DB) DeliveryRetry(id uint64, f Failure, next time.Time) error {
	return db.update(func(tx *kvTx) error {
		var d Delivery
		if err := getJSON(tx, outboxKey(id), &d); errors.Is(err, ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		d.Attempts++
		db.ops.failures.Add(1)
		d.NextAttempt = next.UTC()
		d.LastError = f.Error
		if d.LastError == "" && f.Status != 0 {
			d.LastError = "HTTP status " + strconv.Itoa(f.Status)
		}
		if err := setJSON(tx, outboxKey(id), &d); err != nil {
			return err
		}
		return recordFailure(tx, &d, &f)
	})
}

// DeliveryGiveUp removes a delivery that will not be made. When f is not
// nil it becomes the last failure of the delivery's backend or of email.
func (db *DB) DeliveryGiveUp(id uint64, f *Failure) error {
	return db.update(func(tx *kvTx) error {
		d, err := takeDelivery(tx, id)
		if err != nil || d == nil || f == nil {
			return err
		}
		db.ops.failures.Add(1)
		db.ops.givenUp.Add(1)
		return recordFailure(tx, d, f)
	})
}

func recordFailure(tx *kvTx, d *Delivery, f *Failure) error {
	if d.Backend != 0 {
		return recordBackendResult(tx, d.Backend, f, f.At)
	}
	return updateEmailStatus(tx, func(s *EmailStatus) {
		ff := *f
		ff.At = ff.At.UTC()
		s.LastFailure = &ff
	})
}

// takeDelivery deletes and returns the delivery (nil when it is gone).
func takeDelivery(tx *kvTx, id uint64) (*Delivery, error) {
	var d Delivery
	if err := getJSON(tx, outboxKey(id), &d); errors.Is(err, ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	_, err := tx.Delete(outboxKey(id))
	return &d, err
}

// rescheduleDeliveries makes the deliveries waiting for a retry to the
// backend due at now.
func rescheduleDeliveries(tx *kvTx, backend uint32, now time.Time) error {
	return updateDeliveries(tx, backend, func(d *Delivery) bool {
		if d.NextAttempt.After(now) {
			d.NextAttempt = now.UTC()
			return true
		}
		return false
	})
}

func deleteDeliveries(tx *kvTx, backend uint32) error {
	var keys []string
	err := tx.AscendKeys(outboxPattern, func(k, v string) bool {
		var d Delivery
		if jsonUnmarshal(v, &d) == nil && d.Backend == backend {
			keys = append(keys, k)
		}
		return true
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if _, err := tx.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// updateDeliveries saves the deliveries to backend that fn changed.
func updateDeliveries(tx *kvTx, backend uint32, fn func(d *Delivery) bool) error {
	var changed []Delivery
	err := tx.AscendKeys(outboxPattern, func(k, v string) bool {
		var d Delivery
		if jsonUnmarshal(v, &d) == nil && d.Backend == backend && fn(&d) {
			changed = append(changed, d)
		}
		return true
	})
	if err != nil {
		return err
	}
	for i := range changed {
		if err := setJSON(tx, outboxKey(changed[i].ID), &changed[i]); err != nil {
			return err
		}
	}
	return nil
}

// EmailStatus is how sending alert emails has gone, installation-wide.
type EmailStatus struct {
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastFailure *Failure  `json:"last_failure,omitempty"`
	// Dropped counts the emails not sent because the hourly cap was
	// reached; LastDropped is the latest.
	Dropped     int64     `json:"dropped,omitempty"`
	LastDropped time.Time `json:"last_dropped,omitzero"`
}

// EmailStatus returns how sending alert emails has gone.
func (db *DB) EmailStatus() (*EmailStatus, error) {
	var s EmailStatus
	err := db.view(func(tx *kvTx) error {
		if err := getJSON(tx, keyEmailStatus, &s); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		return nil
	})
	return &s, err
}

func updateEmailStatus(tx *kvTx, fn func(s *EmailStatus)) error {
	var s EmailStatus
	if err := getJSON(tx, keyEmailStatus, &s); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	fn(&s)
	return setJSON(tx, keyEmailStatus, &s)
}

// ClaimEmail counts the email delivery id against the installation-wide
// cap of perHour emails in the UTC hour of at (perHour <= 0: no cap). It
// reports whether the email may be sent. A delivery is counted once, however
// often it is retried. When the cap is reached the delivery is dropped and
// counted in EmailStatus.Dropped. It returns false and no error when the
// delivery is gone.
func (db *DB) ClaimEmail(id uint64, at time.Time, perHour int) (bool, error) {
	ok := false
	err := db.update(func(tx *kvTx) error {
		var d Delivery
		if err := getJSON(tx, outboxKey(id), &d); errors.Is(err, ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		if d.QuotaTaken || perHour <= 0 {
			ok = true
			return nil
		}
		k := emailCountKey(at)
		s, err := tx.Get(k)
		if err != nil && !errors.Is(err, buntdb.ErrNotFound) {
			return err
		}
		n, _ := strconv.Atoi(s)
		if n >= perHour {
			if _, err := tx.Delete(outboxKey(id)); err != nil {
				return err
			}
			return updateEmailStatus(tx, func(s *EmailStatus) {
				s.Dropped++
				s.LastDropped = at.UTC()
			})
		}
		// The counter outlives its hour by one, which is enough for a clock
		// that steps back a little.
		if _, _, err := tx.Set(k, strconv.Itoa(n+1), &buntdb.SetOptions{Expires: true, TTL: 2 * time.Hour}); err != nil {
			return err
		}
		d.QuotaTaken = true
		ok = true
		return setJSON(tx, outboxKey(id), &d)
	})
	return ok, err
}

// EmailsSent returns how many alert emails were counted in the UTC hour
// of at.
func (db *DB) EmailsSent(at time.Time) (int, error) {
	n := 0
	err := db.view(func(tx *kvTx) error {
		s, err := tx.Get(emailCountKey(at))
		if errors.Is(err, buntdb.ErrNotFound) {
			return nil
		}
		n, _ = strconv.Atoi(s)
		return err
	})
	return n, err
}
