package ingest

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinysink/tinysink/budget"
	"github.com/tinysink/tinysink/ingest/quota"
	"github.com/tinysink/tinysink/store/disk"
)

// testOrigin is the Origin header a browser SDK's requests carry, which
// the CORS headers answer (withCORS).
const testOrigin = "https://app.example"

func TestAuth(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *Config) { c.Projects = fakeProjects{1: testKey, 7: "otherkey"} })
	event := `{"type":"event"}` + "\n" + `{"message":"auth"}` + "\n"
	withDSN := func(dsn string) string { return `{"dsn":"` + dsn + `"}` + "\n" + event }
	const wrongKeyMsg = "Project not found or key incorrect: http://wrong@ingest.test/1"
	for _, tt := range []struct {
		name, path, body string
		kv               []string
		status           int
		msg              string // expected message for refusals
	}{
		{"query key", "/api/1/envelope/?sentry_version=7&sentry_key=" + testKey, "{}\n" + event, nil, 200, ""},
		{"header key", "/api/1/envelope/", "{}\n" + event, []string{"X-Sentry-Auth", authHeader}, 200, ""},
		{"header key, other order", "/api/1/envelope/", "{}\n" + event, []string{"X-Sentry-Auth", "Sentry sentry_key=" + testKey + ",sentry_version=7"}, 200, ""},
		{"envelope dsn key", "/api/1/envelope/", withDSN("http://" + testKey + "@127.0.0.1:9000/1"), nil, 200, ""},
		{"store, query key", "/api/1/store/?sentry_key=" + testKey, `{"message":"x"}`, nil, 200, ""},
		{"query beats header", "/api/1/envelope/?sentry_key=" + testKey, "{}\n" + event, []string{"X-Sentry-Auth", "Sentry sentry_key=wrong"}, 200, ""},
		{"header beats dsn", "/api/1/envelope/", withDSN("http://wrong@h/1"), []string{"X-Sentry-Auth", authHeader}, 200, ""},
		{"other project's key", "/api/7/envelope/?sentry_key=otherkey", "{}\n" + event, nil, 200, ""},

		{"wrong query key", "/api/1/envelope/?sentry_key=wrong", "{}\n" + event, nil, 403, wrongKeyMsg},
		{"wrong header key", "/api/1/store/", `{}`, []string{"X-Sentry-Auth", "Sentry sentry_key=wrong"}, 403, wrongKeyMsg},
		{"wrong dsn key", "/api/1/envelope/", withDSN("http://wrong@h/1"), nil, 403, wrongKeyMsg},
		{"key of another project", "/api/1/envelope/?sentry_key=otherkey", "{}\n" + event, nil, 403, ""},
		{"unknown project", "/api/2/envelope/?sentry_key=" + testKey, "{}\n" + event, nil, 403, "Project not found or key incorrect: http://" + testKey + "@ingest.test/2"},
		{"no key", "/api/1/envelope/", "{}\n" + event, nil, 403, "Unable to find authentication information"},
		{"no key, store", "/api/1/store/", `{}`, nil, 403, "Unable to find authentication information"},
		{"Authorization is not auth", "/api/1/store/", `{}`, []string{"Authorization", "Sentry sentry_key=" + testKey}, 403, ""},
		{"dsn without key", "/api/1/envelope/", withDSN("http://h/1"), nil, 403, "Unable to find authentication information"},
		{"key prefix", "/api/1/envelope/?sentry_key=" + testKey[:5], "{}\n" + event, nil, 403, ""},

		{"project not a number", "/api/abc/envelope/?sentry_key=" + testKey, "{}\n" + event, nil, 404, ""},
		{"project zero", "/api/0/store/?sentry_key=" + testKey, `{}`, nil, 404, ""},
		{"project negative", "/api/-1/store/?sentry_key=" + testKey, `{}`, nil, 404, ""},
		{"project too big", "/api/12345678901/store/?sentry_key=" + testKey, `{}`, nil, 404, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts.newRecords(t)
			status, hdr, body := ts.post(t, tt.path, strings.NewReader(tt.body), append(slices.Clip(tt.kv), "Origin", testOrigin)...)
			if status != tt.status {
				t.Fatalf("status %d %s, want %d", status, body, tt.status)
			}
			if hdr.Get("Access-Control-Allow-Origin") != "*" {
				t.Error("no CORS header")
			}
			recs := ts.newRecords(t)
			if status == 200 {
				if len(recs) != 1 {
					t.Errorf("%d records spooled, want 1", len(recs))
				}
				return
			}
			if len(recs) != 0 {
				t.Errorf("%d records spooled for a refused request", len(recs))
			}
			if msg := message(t, body); tt.msg != "" && msg != tt.msg {
				t.Errorf("message %q, want %q", msg, tt.msg)
			}
		})
	}
	if c := ts.h.Counters(); c.RefusedAuth != 10 {
		t.Errorf("RefusedAuth = %d, want 10", c.RefusedAuth)
	}
}

// fakeAdmitter refuses the projects in no.
type fakeAdmitter struct {
	asked atomic.Int64

	mu     sync.Mutex // guards the fields below
	no     map[int]bool
	after  time.Duration
	reason string
}

func (a *fakeAdmitter) Admit(project int) error {
	a.asked.Add(1)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.no[project] {
		return &budget.AdmitError{Reason: reasonOf(a.reason), RetryAfter: a.after}
	}
	return nil
}

// reasonOf is the sentinel with reason code code, or a new error for
// another code.
func reasonOf(code string) error {
	for _, err := range []error{budget.ErrMemory, disk.ErrFull, quota.ErrProjectQuota, quota.ErrOrgQuota} {
		if err.Error() == code {
			return err
		}
	}
	return errors.New(code)
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func TestAdmission(t *testing.T) {
	adm := &fakeAdmitter{no: map[int]bool{1: true}, after: 29500 * time.Millisecond, reason: "Memory ceiling"}
	ts := newTestServer(t, func(c *Config) {
		c.Projects = fakeProjects{1: testKey, 2: "key2"}
		c.Admit = adm
	})
	// With "Expect: 100-continue" the client sends the body only once the
	// server starts reading it: a body the server leaves alone is never sent.
	tr := ts.Client().Transport.(*http.Transport).Clone()
	tr.ExpectContinueTimeout = 10 * time.Second
	client := &http.Client{Transport: tr}

	for _, path := range []string{"/api/1/envelope/?sentry_key=" + testKey, "/api/1/store/?sentry_key=" + testKey} {
		body := &countingReader{r: bytes.NewReader(envelope(`{}`, `{"type":"event"}`, `{"message":"m"}`))}
		req, _ := http.NewRequest(http.MethodPost, ts.URL+path, body)
		req.Header.Set("Expect", "100-continue")
		req.Header.Set("Origin", testOrigin)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		reply, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("%s: status %d %s, want 429", path, resp.StatusCode, reply)
		}
		if got := resp.Header.Get("Retry-After"); got != "30" {
			t.Errorf("Retry-After = %q, want 30", got)
		}
		if got := resp.Header.Get("X-Sentry-Rate-Limits"); got != "30::organization:memory_ceiling" {
			t.Errorf("X-Sentry-Rate-Limits = %q", got)
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Error("no CORS header on 429")
		}
		message(t, reply)
		if n := body.n.Load(); n != 0 {
			t.Errorf("%s: %d body bytes were read for a refused request", path, n)
		}
	}
	if recs := ts.newRecords(t); len(recs) != 0 {
		t.Errorf("%d records spooled while refused", len(recs))
	}

	// The key in the dsn: refused right after the header line.
	status, hdr, _ := ts.post(t, "/api/1/envelope/", bytes.NewReader(envelope(`{"dsn":"http://`+testKey+`@h/1"}`, `{"type":"event"}`, `{}`)))
	if status != 429 || hdr.Get("Retry-After") != "30" {
		t.Errorf("dsn auth: %d, Retry-After %q", status, hdr.Get("Retry-After"))
	}
	// Another project is admitted; a bad key is refused before admission.
	asked := adm.asked.Load()
	if status, _, body := ts.post(t, "/api/2/store/?sentry_key=key2", strings.NewReader(`{}`)); status != 200 {
		t.Errorf("admitted project: %d %s", status, body)
	}
	if status, _, _ := ts.post(t, "/api/1/store/?sentry_key=bad", strings.NewReader(`{}`)); status != 403 {
		t.Errorf("bad key while refused: %d, want 403", status)
	}
	if got := adm.asked.Load() - asked; got != 1 {
		t.Errorf("Admit asked %d times for one admitted and one unauthenticated request, want 1", got)
	}
	if c := ts.h.Counters(); c.RefusedAdmission != 3 {
		t.Errorf("RefusedAdmission = %d, want 3", c.RefusedAdmission)
	}

	// A retry-after under a second is sent as 1.
	adm.mu.Lock()
	adm.after, adm.reason = 10*time.Millisecond, ""
	adm.mu.Unlock()
	_, hdr, _ = ts.post(t, "/api/1/store/?sentry_key="+testKey, strings.NewReader(`{}`))
	if hdr.Get("Retry-After") != "1" || hdr.Get("X-Sentry-Rate-Limits") != "1::organization:refused" {
		t.Errorf("short refusal: Retry-After %q, X-Sentry-Rate-Limits %q", hdr.Get("Retry-After"), hdr.Get("X-Sentry-Rate-Limits"))
	}
}

func TestCORSAndMethods(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for _, path := range []string{"/api/1/store/", "/api/1/envelope/", "/api/abc/envelope/"} {
		status, hdr, body := ts.do(t, http.MethodOptions, path, nil,
			"Origin", testOrigin, "Access-Control-Request-Method", "POST",
			"Access-Control-Request-Headers", "content-type, x-sentry-auth")
		if status != 200 || len(body) != 0 {
			t.Errorf("OPTIONS %s: %d %q", path, status, body)
		}
		for k, want := range map[string]string{
			"Access-Control-Allow-Origin":  "*",
			"Access-Control-Allow-Methods": "POST, OPTIONS",
			"Access-Control-Max-Age":       "3600",
		} {
			if got := hdr.Get(k); got != want {
				t.Errorf("OPTIONS %s: %s = %q, want %q", path, k, got, want)
			}
		}
		if allow := hdr.Get("Access-Control-Allow-Headers"); !strings.Contains(allow, "X-Sentry-Auth") || !strings.Contains(allow, "Content-Encoding") {
			t.Errorf("OPTIONS %s: Access-Control-Allow-Headers = %q", path, allow)
		}
	}
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		status, hdr, body := ts.do(t, method, "/api/1/envelope/", nil, "Origin", testOrigin)
		if status != http.StatusMethodNotAllowed || hdr.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s: %d, CORS %q", method, status, hdr.Get("Access-Control-Allow-Origin"))
		}
		message(t, body)
	}
	// A request without an Origin comes from no browser: no CORS headers
	// (an accepted event, a refusal, a wrong method).
	for _, tt := range []struct {
		method, path, body string
		status             int
	}{
		{http.MethodPost, "/api/1/store/?sentry_key=" + testKey, `{"message":"m"}`, 200},
		{http.MethodPost, "/api/1/store/?sentry_key=wrong", `{"message":"m"}`, 403},
		{http.MethodGet, "/api/1/envelope/", "", http.StatusMethodNotAllowed},
	} {
		status, hdr, body := ts.do(t, tt.method, tt.path, strings.NewReader(tt.body))
		if status != tt.status {
			t.Errorf("%s %s without Origin: %d %s, want %d", tt.method, tt.path, status, body, tt.status)
		}
		for _, k := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers"} {
			if v := hdr.Get(k); v != "" {
				t.Errorf("%s %s without Origin: %s = %q", tt.method, tt.path, k, v)
			}
		}
	}
}

func TestRemoteAddr(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		trust bool
		kv    []string
		want  string
	}{
		{"direct", false, nil, "127.0.0.1"},
		{"proxy headers ignored", false, []string{"X-Real-IP", "203.0.113.9", "X-Forwarded-For", "198.51.100.1"}, "127.0.0.1"},
		{"X-Real-IP", true, []string{"X-Real-IP", "203.0.113.9", "X-Forwarded-For", "198.51.100.1"}, "203.0.113.9"},
		{"X-Forwarded-For last hop", true, []string{"X-Forwarded-For", "10.1.1.1, 198.51.100.1"}, "198.51.100.1"},
		{"IPv6", true, []string{"X-Real-IP", "2001:db8::1"}, "2001:db8::1"},
		{"garbage", true, []string{"X-Real-IP", "not an ip", "X-Forwarded-For", "also not"}, "127.0.0.1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, func(c *Config) { c.TrustProxy = tt.trust })
			status, _, body := ts.post(t, "/api/1/store/?sentry_key="+testKey, strings.NewReader(`{}`), tt.kv...)
			recs := ts.newRecords(t)
			if status != 200 || len(recs) != 1 {
				t.Fatalf("%d %s", status, body)
			}
			if recs[0].RemoteAddr != tt.want {
				t.Errorf("RemoteAddr = %q, want %q", recs[0].RemoteAddr, tt.want)
			}
		})
	}
}

func TestNowAndPanic(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	ts := newTestServer(t, func(c *Config) { c.Now = func() time.Time { return at } })
	ts.post(t, "/api/1/store/?sentry_key="+testKey, strings.NewReader(`{}`))
	if recs := ts.newRecords(t); len(recs) != 1 || !recs[0].IngestedAt.Equal(at) {
		t.Errorf("IngestedAt not from Config.Now: %v", recs)
	}

	// A Projects that panics: the request gets a 500 JSON, the server lives.
	ts = newTestServer(t, func(c *Config) { c.Projects = panicProjects{} })
	status, hdr, body := ts.post(t, "/api/1/store/?sentry_key="+testKey, strings.NewReader(`{}`), "Origin", testOrigin)
	if status != 500 || hdr.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("panic: %d %s", status, body)
	}
	message(t, body)
}

type panicProjects struct{}

func (panicProjects) ProjectKey(int) (string, bool) { panic("boom") }

func TestSpoolFailure(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.sp.Close() // Append now fails
	for _, path := range []string{"/api/1/store/", "/api/1/envelope/"} {
		body := `{"message":"lost"}`
		if strings.HasSuffix(path, "/envelope/") {
			body = "{}\n{\"type\":\"event\"}\n" + body
		}
		status, hdr, reply := ts.post(t, path+"?sentry_key="+testKey, strings.NewReader(body), "Origin", testOrigin)
		if status != http.StatusServiceUnavailable || hdr.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s: %d %s, want 503", path, status, reply)
		}
		if msg := message(t, reply); strings.Contains(msg, "spool") {
			t.Errorf("%s: internal error text %q reaches the client", path, msg)
		}
	}
	if c := ts.h.Counters(); c.Accepted != 0 {
		t.Errorf("Accepted = %d after failed writes", c.Accepted)
	}
}

func TestOnAccept(t *testing.T) {
	var mu sync.Mutex // guards calls
	var calls []int
	ts := newTestServer(t, func(c *Config) {
		c.Projects = fakeProjects{1: testKey, 2: "key2"}
		c.OnAccept = func(project int) { mu.Lock(); calls = append(calls, project); mu.Unlock() }
	})
	ts.post(t, "/api/2/store/?sentry_key=key2", strings.NewReader(`{}`))
	ts.postEnvelope(t, envelope(`{}`, `{"type":"event"}`, `{}`))
	ts.postEnvelope(t, envelope(`{}`, `{"type":"session"}`, `{}`))      // no event
	ts.postEnvelope(t, envelope(`{}`, `{"type":"event"}`, `[]`))        // refused
	ts.post(t, "/api/1/store/?sentry_key=bad", strings.NewReader(`{}`)) // refused
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 2 || calls[0] != 2 || calls[1] != 1 {
		t.Errorf("OnAccept calls %v, want [2 1]", calls)
	}
	// The quota reasons name the event categories in X-Sentry-Rate-Limits.
	for reason, want := range map[string]string{
		"project_quota": "60:error;default;security:project:project_quota",
		"org_quota":     "60:error;default;security:organization:org_quota",
		"memory":        "60::organization:memory",
	} {
		if got := rateLimits(60, reason); got != want {
			t.Errorf("rateLimits(60, %q) = %q, want %q", reason, got, want)
		}
	}
}
