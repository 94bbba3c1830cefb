package exchange

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/tinysink/tinysink/ingest/forward"
)

// ForwardOptions configure Forward.
type ForwardOptions struct {
	// DSN is the upstream project's DSN.
	DSN string
	// Project, when set, forwards only the events of the export's project
	// with this slug.
	Project string
	// Client sends the requests (default: one with a 30 s timeout),
	// through the forwarder's upstream client (ingest/forward.Client).
	Client *http.Client
	// MaxRetries bounds the attempts at one envelope that fail with a
	// network error or a 5xx (default 8); 429s wait as told and do not
	// count.
	MaxRetries int
	// MaxWait caps one wait for a rate limit or a backoff (default 10 min).
	MaxWait time.Duration
	// UserAgent names the sender in sentry_client (default tinysink-import).
	UserAgent string
	// Sleep waits d or until ctx ends (default: a timer); tests record.
	Sleep func(ctx context.Context, d time.Duration) error
	// Rejected, when set, is told of each envelope the upstream refused
	// for good (a 4xx other than 429, 401 and 403).
	Rejected func(ev Event, status int, msg string)
}

// ForwardStats counts what Forward did.
type ForwardStats struct {
	Sent     int `json:"sent"`
	Rejected int `json:"rejected"`
	Retries  int `json:"retries"`
	// Waited is the time spent waiting for rate limits and backoffs.
	Waited time.Duration `json:"waited"`
}

// maxLimited bounds the 429s one envelope waits out.
const maxLimited = 100

// ErrRefused is returned by Forward when the upstream refuses the DSN.
var ErrRefused = errors.New("exchange: the upstream refused the DSN")

// Forward sends every event of the export r (or of one project, see
// ForwardOptions.Project) to the upstream as its envelope, keeping its
// event id, so that an upstream that deduplicates by id (Sentry, tinysink)
// keeps each once however often the export is replayed. It honours 429
// with Retry-After or X-Sentry-Rate-Limits, retries network errors and
// 5xx with backoff, and stops at the first envelope it cannot deliver.
// Issue states, comments and releases do not travel: the envelope
// protocol has no place for them.
func Forward(ctx context.Context, r *Reader, o ForwardOptions) (ForwardStats, error) {
	var st ForwardStats
	if o.MaxRetries <= 0 {
		o.MaxRetries = 8
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 10 * time.Minute
	}
	if o.UserAgent == "" {
		o.UserAgent = "tinysink-import"
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 30 * time.Second}
	}
	// The client's clock runs on through the waits as Sleep tells them
	// (a test's Sleep returns at once), so that its rate limits expire.
	var skew time.Duration
	c, err := forward.NewClient(o.DSN, forward.Options{HTTP: o.Client, UserAgent: o.UserAgent,
		Now: func() time.Time { return time.Now().Add(skew) }})
	if err != nil {
		return st, err
	}
	found := o.Project == ""
	if err := r.Projects(func(p Project) error {
		found = found || p.Slug == o.Project
		return nil
	}); err != nil {
		return st, err
	}
	if !found {
		return st, fmt.Errorf("the export has no project %q", o.Project)
	}
	if err := r.Releases(func(Release) error { return nil }); err != nil {
		return st, err
	}
	wait := func(d time.Duration) error {
		d = min(d, o.MaxWait)
		st.Waited += d
		start := time.Now()
		err := o.Sleep(ctx, d)
		skew += max(0, d-time.Since(start))
		return err
	}
	const category = "error"
	err = r.Events(func(ev Event, env, _ []byte) error {
		if o.Project != "" && ev.Project != o.Project {
			return nil
		}
		for attempt, limited := 0, 0; ; {
			// Wait out what the upstream's last answers asked for.
			if d := c.LimitedFor(category); d > 0 {
				if err := wait(d); err != nil {
					return err
				}
			}
			err := c.Send(ctx, env, category)
			var fe *forward.Error
			if err != nil && !errors.As(err, &fe) {
				return err
			}
			switch {
			case err == nil:
				st.Sent++
				return nil
			case fe.Status == 0 && ctx.Err() != nil:
				return ctx.Err()
			case fe.Status == http.StatusTooManyRequests:
				if limited++; limited > maxLimited {
					return fmt.Errorf("event %s: still rate limited after %d waits", ev.EventID, maxLimited)
				}
				st.Retries++
				d := fe.RetryAfter
				if d == 0 { // a limit for other categories only
					d = forward.DefaultRetryAfter
				}
				if err := wait(d); err != nil {
					return err
				}
				continue
			case fe.Status == http.StatusUnauthorized || fe.Status == http.StatusForbidden:
				return fmt.Errorf("%w: %d %s", ErrRefused, fe.Status, fe.Body)
			case fe.Status/100 == 4:
				st.Rejected++
				if o.Rejected != nil {
					o.Rejected(ev, fe.Status, fe.Body)
				}
				return nil
			}
			attempt++
			if attempt >= o.MaxRetries {
				var why error = fe
				if fe.Status != 0 {
					why = fmt.Errorf("%d %s", fe.Status, fe.Body)
				} else if fe.Err != nil {
					why = fe.Err
				}
				return fmt.Errorf("event %s: gave up after %d attempts: %w", ev.EventID, attempt, why)
			}
			st.Retries++
			d := fe.RetryAfter // what the upstream asked for, else back off
			if d == 0 {
				d = min(time.Second<<(attempt-1), time.Minute)
			}
			if err := wait(d); err != nil {
				return err
			}
		}
	})
	return st, err
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
