// Package forward sends envelopes to a Sentry-compatible upstream (Sentry,
// self-hosted Sentry, GlitchTip, Bugsink, another tinysink).
//
// Client is the upstream client: it POSTs one envelope to a DSN's envelope
// endpoint with the DSN's key in X-Sentry-Auth, and reads the upstream's
// answer, 429, Retry-After and X-Sentry-Rate-Limits included, into an
// *Error that says whether and when to try again. Forwarder (forwarder.go)
// uses it to forward what ingest spooled, from a durable cursor of its own.
package forward

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
	"sync"
	"sync/atomic"
	"time"
)

// maxEventsPerEnvelope bounds the events the forwarder puts in one
// envelope to an upstream that takes several.
const maxEventsPerEnvelope = 32

// DSN is a parsed Sentry DSN: scheme://KEY@host[:port][/path]/PROJECT.
type DSN struct {
	Key     string // the public key
	Project string // the project id, the last path segment
	// Endpoint is the envelope endpoint the DSN names:
	// scheme://host[:port][/path]/api/PROJECT/envelope/.
	Endpoint string
	raw      string
}

// String returns the DSN as given.
func (d *DSN) String() string { return d.raw }

// ParseDSN parses a DSN. It returns an error naming what is wrong for
// anything that is not an http(s) DSN with a key and a project id.
func ParseDSN(s string) (*DSN, error) {
	s = strings.TrimSpace(s)
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("forward: bad DSN: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("forward: bad DSN %q: the scheme is http or https", redact(s))
	}
	if u.User == nil || u.User.Username() == "" {
		return nil, fmt.Errorf("forward: bad DSN %q: no public key before the @", redact(s))
	}
	if u.Host == "" {
		return nil, fmt.Errorf("forward: bad DSN %q: no host", redact(s))
	}
	path := strings.TrimRight(u.Path, "/")
	i := strings.LastIndexByte(path, '/')
	project := path[i+1:]
	if project == "" || strings.Trim(project, "0123456789") != "" {
		return nil, fmt.Errorf("forward: bad DSN %q: it ends in a numeric project id", redact(s))
	}
	prefix := ""
	if i > 0 {
		prefix = path[:i]
	}
	return &DSN{
		Key:      u.User.Username(),
		Project:  project,
		Endpoint: u.Scheme + "://" + u.Host + prefix + "/api/" + project + "/envelope/",
		raw:      s,
	}, nil
}

// redact hides a DSN's key in an error message.
func redact(s string) string {
	if at := strings.IndexByte(s, '@'); at > 0 {
		if sc := strings.Index(s, "://"); sc >= 0 && sc < at {
			return s[:sc+3] + "***" + s[at:]
		}
	}
	return s
}

// Error is a send the upstream did not accept.
type Error struct {
	Status int // the HTTP status; 0 when no answer came (a network error)
	// Retry says that the same envelope may succeed later: a network
	// error, a 5xx, 408 or 429. Any other status is final for that
	// envelope.
	Retry bool
	// RetryAfter is how long the upstream asked to wait (Retry-After, or
	// X-Sentry-Rate-Limits for the envelope's category); 0 when it did not
	// say.
	RetryAfter time.Duration
	// Limited is set when the client refused to send at all because an
	// earlier answer rate-limited the category.
	Limited bool
	Err     error // the network error, if any
	Body    string
}

func (e *Error) Error() string {
	switch {
	case e.Limited:
		return fmt.Sprintf("forward: rate-limited by the upstream for %s", e.RetryAfter.Round(time.Second))
	case e.Status == 0:
		return fmt.Sprintf("forward: %v", e.Err)
	}
	msg := fmt.Sprintf("forward: upstream answered %d", e.Status)
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Client sends envelopes to one DSN. It is safe for concurrent use.
type Client struct {
	dsn  *DSN
	http *http.Client
	auth string
	now  func() time.Time

	mu     sync.Mutex           // guards limits
	limits map[string]time.Time // category ("" = all) -> limited until
	// perEnvelope is how many events the upstream takes in one envelope
	// (EventsPerEnvelopeHeader of its last 2xx answer; 0: one).
	perEnvelope atomic.Int32
	// oneEach is set once the upstream refused an envelope of several
	// events: from then on each goes alone.
	oneEach atomic.Bool
}

// EventsPerEnvelopeHeader is the header of a tinysink upstream's 2xx
// answers that says it stores each of several event items of one envelope
// under its own event_id, and how many items an envelope may hold
// (ingest.EventsPerEnvelopeHeader; Sentry takes one event an envelope).
const EventsPerEnvelopeHeader = "X-Tinysink-Events-Per-Envelope"

// EventsPerEnvelope returns how many event items the upstream takes in one
// envelope, as its last 2xx answer said: 1 unless it is a tinysink.
func (c *Client) EventsPerEnvelope() int {
	if c.oneEach.Load() {
		return 1
	}
	return max(1, int(c.perEnvelope.Load()))
}

// OneEventEach makes EventsPerEnvelope 1 for good: the upstream refused an
// envelope of several events as a whole.
func (c *Client) OneEventEach() { c.oneEach.Store(true) }

// Options tune a Client.
type Options struct {
	// HTTP is the client to send with; nil: one with a 30 s timeout.
	HTTP *http.Client
	// UserAgent names the sender in X-Sentry-Auth's sentry_client;
	// default "tinysink-forward".
	UserAgent string
	// Now returns the current time; nil: time.Now.
	Now func() time.Time
}

// NewClient returns a client for dsn.
func NewClient(dsn string, opts Options) (*Client, error) {
	d, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	if opts.HTTP == nil {
		opts.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "tinysink-forward"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Client{
		dsn: d, http: opts.HTTP, now: opts.Now, limits: map[string]time.Time{},
		auth: "Sentry sentry_version=7, sentry_key=" + d.Key + ", sentry_client=" + opts.UserAgent,
	}, nil
}

// DSN returns the client's DSN.
func (c *Client) DSN() *DSN { return c.dsn }

// LimitedFor returns how long category (see Category) stays rate-limited by
// the upstream's last answers; 0 when it is not.
func (c *Client) LimitedFor(category string) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	var d time.Duration
	for _, cat := range []string{"", category} {
		if until, ok := c.limits[cat]; ok {
			if left := until.Sub(now); left > d {
				d = left
			} else if left <= 0 {
				delete(c.limits, cat)
			}
		}
	}
	return d
}

// Send POSTs envelope, whose items are of category (see Category), to the
// DSN's envelope endpoint. It returns nil on a 2xx answer, else an *Error.
// While an earlier answer rate-limits the category, it sends nothing and
// returns an *Error with Limited set.
func (c *Client) Send(ctx context.Context, envelope []byte, category string) error {
	return c.SendReader(ctx, bytes.NewReader(envelope), int64(len(envelope)), category)
}

// SendReader is Send with the envelope streamed from body, size bytes long
// (attachments go from their files to the upstream without being held in
// memory). A body that ends before size bytes fails the send as a network
// error does.
func (c *Client) SendReader(ctx context.Context, body io.Reader, size int64, category string) error {
	if d := c.LimitedFor(category); d > 0 {
		return &Error{Status: http.StatusTooManyRequests, Retry: true, RetryAfter: d, Limited: true}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.dsn.Endpoint, body)
	if err != nil {
		return &Error{Err: err}
	}
	req.ContentLength = size
	if size == 0 {
		req.Body = http.NoBody
	}
	req.Header.Set("Content-Type", "application/x-sentry-envelope")
	req.Header.Set("X-Sentry-Auth", c.auth)
	resp, err := c.http.Do(req)
	if err != nil {
		return &Error{Err: err, Retry: true}
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // reuse the connection
	wait := c.noteLimits(resp.Header, resp.StatusCode, category)
	if resp.StatusCode/100 == 2 {
		n, _ := strconv.Atoi(resp.Header.Get(EventsPerEnvelopeHeader))
		c.perEnvelope.Store(int32(min(max(n, 0), maxEventsPerEnvelope)))
		return nil
	}
	e := &Error{Status: resp.StatusCode, RetryAfter: wait, Body: strings.TrimSpace(string(msg))}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode >= 500:
		e.Retry = true
	}
	return e
}

// DefaultRetryAfter is how long a 429 without Retry-After or
// X-Sentry-Rate-Limits holds back its category (Sentry's SDKs use 60 s).
const DefaultRetryAfter = 60 * time.Second

// noteLimits records the rate limits of an answer and returns how long
// category must now wait (0: not limited).
func (c *Client) noteLimits(h http.Header, status int, category string) time.Duration {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if rl := h.Get("X-Sentry-Rate-Limits"); rl != "" {
		for cat, d := range ParseRateLimits(rl) {
			if until := now.Add(d); until.After(c.limits[cat]) {
				c.limits[cat] = until
			}
		}
	} else if status == http.StatusTooManyRequests {
		d := ParseRetryAfter(h.Get("Retry-After"), now)
		if d <= 0 {
			d = DefaultRetryAfter
		}
		if until := now.Add(d); until.After(c.limits[""]) {
			c.limits[""] = until
		}
	}
	var wait time.Duration
	for _, cat := range []string{"", category} {
		if until, ok := c.limits[cat]; ok && until.Sub(now) > wait {
			wait = until.Sub(now)
		}
	}
	return wait
}

// knownCategories bounds the categories a Client remembers limits for, so
// that an upstream cannot grow its map.
var knownCategories = map[string]bool{
	"": true, "default": true, "error": true, "transaction": true, "security": true, "attachment": true,
	"session": true, "profile": true, "replay": true, "internal": true, "monitor": true, "span": true,
	"feedback": true, "user_report": true, "log_item": true,
}

// ParseRateLimits parses an X-Sentry-Rate-Limits header
// ("retry_after:categories:scope[:reason_code[:namespaces]], ...") into how
// long each category is limited; the category "" stands for all. Unknown
// categories and malformed entries are skipped; a category named twice
// keeps the longest wait.
func ParseRateLimits(h string) map[string]time.Duration {
	out := map[string]time.Duration{}
	for entry := range strings.SplitSeq(h, ",") {
		parts := strings.Split(strings.TrimSpace(entry), ":")
		if len(parts) < 2 {
			continue
		}
		secs, err := strconv.ParseFloat(strings.TrimSpace(parts[0]), 64)
		d, ok := seconds(secs)
		if err != nil || !ok {
			continue
		}
		cats := strings.TrimSpace(parts[1])
		if cats == "" {
			out[""] = max(out[""], d)
			continue
		}
		for cat := range strings.SplitSeq(cats, ";") {
			if cat = strings.TrimSpace(cat); knownCategories[cat] {
				out[cat] = max(out[cat], d)
			}
		}
	}
	return out
}

// ParseRetryAfter parses a Retry-After header: seconds or an HTTP date.
// It returns 0 when h is empty or malformed.
func ParseRetryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(h, 64); err == nil {
		d, _ := seconds(secs)
		return d
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(0, t.Sub(now))
	}
	return 0
}

// seconds converts a count of seconds (Retry-After, X-Sentry-Rate-Limits)
// of at most a week. ParseFloat also reads "NaN" and "Inf", which no
// comparison rules out: converted, NaN was the most negative duration.
func seconds(secs float64) (time.Duration, bool) {
	if !(secs >= 0 && secs <= 7*24*3600) {
		return 0, false
	}
	return time.Duration(secs * float64(time.Second)), true
}

// Category returns the rate-limit category of an envelope item type: an
// event ("" or "event") is "error".
func Category(itemType string) string {
	switch itemType {
	case "", "event":
		return "error"
	case "sessions":
		return "session"
	case "check_in":
		return "monitor"
	case "client_report":
		return "internal"
	case "log":
		return "log_item"
	}
	return itemType
}

// IsRetryable reports whether err (from Send) may succeed if sent again.
func IsRetryable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Retry
}
