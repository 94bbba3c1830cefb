package exchange

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// A small Sentry envelope sender, for Forward. The forwarding work
// (ingest/forward) builds a fuller upstream client; once it is on main,
// Forward can send through it instead.

// ForwardOptions configure Forward.
type ForwardOptions struct {
	// DSN is the upstream project's DSN.
	DSN string
	// Project, when set, forwards only the events of the export's project
	// with this slug.
	Project string
	// Client sends the requests (default: one with a 30 s timeout).
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

// DSN is a parsed Sentry DSN.
type DSN struct {
	Key      string
	Project  string
	Envelope string // the envelope endpoint's URL
}

// ParseDSN parses a DSN: scheme://key@host[:port][/path]/project.
func ParseDSN(s string) (DSN, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User == nil || u.User.Username() == "" {
		return DSN{}, fmt.Errorf("DSN %q is not of the form https://KEY@HOST/PROJECT", s)
	}
	path := strings.TrimRight(u.Path, "/")
	i := strings.LastIndexByte(path, '/')
	project := path[i+1:]
	if _, err := strconv.ParseUint(project, 10, 64); err != nil {
		return DSN{}, fmt.Errorf("DSN %q does not end in a project id", s)
	}
	base := u.Scheme + "://" + u.Host + path[:i]
	return DSN{Key: u.User.Username(), Project: project, Envelope: base + "/api/" + project + "/envelope/"}, nil
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
	dsn, err := ParseDSN(o.DSN)
	if err != nil {
		return st, err
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 30 * time.Second}
	}
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
	auth := "Sentry sentry_version=7, sentry_key=" + dsn.Key + ", sentry_client=" + o.UserAgent
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
	var pause time.Duration // asked for by the last response
	wait := func(d time.Duration) error {
		d = min(d, o.MaxWait)
		st.Waited += d
		return o.Sleep(ctx, d)
	}
	err = r.Events(func(ev Event, env, _ []byte) error {
		if o.Project != "" && ev.Project != o.Project {
			return nil
		}
		for attempt, limited := 0, 0; ; {
			if pause > 0 {
				if err := wait(pause); err != nil {
					return err
				}
				pause = 0
			}
			status, msg, limit, err := post(ctx, o.Client, dsn.Envelope, auth, env)
			pause = limit
			switch {
			case err == nil && status/100 == 2:
				st.Sent++
				return nil
			case err == nil && status == http.StatusTooManyRequests:
				if limited++; limited > maxLimited {
					return fmt.Errorf("event %s: still rate limited after %d waits", ev.EventID, maxLimited)
				}
				if pause == 0 {
					pause = time.Minute
				}
				st.Retries++
				continue
			case err == nil && (status == http.StatusUnauthorized || status == http.StatusForbidden):
				return fmt.Errorf("%w: %d %s", ErrRefused, status, msg)
			case err == nil && status/100 == 4:
				st.Rejected++
				if o.Rejected != nil {
					o.Rejected(ev, status, msg)
				}
				return nil
			}
			attempt++
			if attempt >= o.MaxRetries {
				if err == nil {
					err = fmt.Errorf("%d %s", status, msg)
				}
				return fmt.Errorf("event %s: gave up after %d attempts: %w", ev.EventID, attempt, err)
			}
			st.Retries++
			if pause == 0 {
				pause = min(time.Second<<(attempt-1), time.Minute)
			}
		}
	})
	return st, err
}

// post sends one envelope and returns the status, the start of the
// response body, and how long the upstream asked to wait.
func post(ctx context.Context, c *http.Client, endpoint, auth string, env []byte) (int, string, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(env))
	if err != nil {
		return 0, "", 0, err
	}
	req.Header.Set("Content-Type", "application/x-sentry-envelope")
	req.Header.Set("X-Sentry-Auth", auth)
	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, "", 0, ctx.Err()
		}
		return 0, "", 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, strings.TrimSpace(string(b)), retryAfter(resp.Header, time.Now()), nil
}

// retryAfter reads how long the upstream asks to wait: the longest
// X-Sentry-Rate-Limits entry that applies to errors (every category, or
// "error"/"default"), else Retry-After (seconds or an HTTP date).
func retryAfter(h http.Header, now time.Time) time.Duration {
	var d time.Duration
	if rl := h.Get("X-Sentry-Rate-Limits"); rl != "" {
		for _, lim := range strings.Split(rl, ",") {
			f := strings.Split(strings.TrimSpace(lim), ":")
			secs, err := strconv.ParseFloat(f[0], 64)
			if err != nil || secs <= 0 || secs > 1e6 {
				continue
			}
			applies := len(f) < 2 || f[1] == ""
			if !applies {
				for _, c := range strings.Split(f[1], ";") {
					applies = applies || c == "error" || c == "default"
				}
			}
			if applies {
				d = max(d, time.Duration(secs*float64(time.Second)))
			}
		}
		if d > 0 {
			return d
		}
	}
	ra := strings.TrimSpace(h.Get("Retry-After"))
	if ra == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(ra, 64); err == nil && secs > 0 && secs <= 1e6 {
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(ra); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
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
