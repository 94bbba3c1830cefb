package exchange

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is an upstream on 127.0.0.1 that answers from a script, then
// 200, and keeps the event ids it accepted.
type recorder struct {
	mu       sync.Mutex
	script   []func(w http.ResponseWriter)
	accepted map[string]int
	auth     []string
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.auth = append(rc.auth, r.URL.Path+" "+r.Header.Get("X-Sentry-Auth"))
	if len(rc.script) > 0 {
		f := rc.script[0]
		rc.script = rc.script[1:]
		f(w)
		return
	}
	id, _, err := EnvelopeEvent(body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	rc.accepted[id]++
	w.Write([]byte(`{"id":"` + id + `"}`))
}

func TestForwardHonoursRateLimits(t *testing.T) {
	src := populate(t)
	var buf bytes.Buffer
	st, err := ExportTar(src, &buf, "test")
	if err != nil {
		t.Fatal(err)
	}
	rc := &recorder{accepted: map[string]int{}, script: []func(http.ResponseWriter){
		func(w http.ResponseWriter) { w.Header().Set("Retry-After", "7"); w.WriteHeader(429) },
		func(w http.ResponseWriter) { w.WriteHeader(503) },
		func(w http.ResponseWriter) {
			w.Header().Set("X-Sentry-Rate-Limits", "30:transaction:org, 12:error;default:project")
			w.WriteHeader(429)
		},
		func(w http.ResponseWriter) { http.Error(w, `{"detail":"event too large"}`, 413) },
	}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	var waits []time.Duration
	var rejected []string
	r, err := OpenStream(&buf)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := Forward(context.Background(), r, ForwardOptions{
		DSN:      strings.Replace(srv.URL, "://", "://abc123@", 1) + "/42",
		Sleep:    func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil },
		Rejected: func(ev Event, status int, msg string) { rejected = append(rejected, ev.EventID) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if fs.Sent != st.Events-1 || fs.Rejected != 1 || fs.Retries != 3 {
		t.Errorf("forward stats %+v, export %+v", fs, st)
	}
	if want := []time.Duration{7 * time.Second, time.Second, 12 * time.Second}; len(waits) != 3 || waits[0] != want[0] || waits[1] != want[1] || waits[2] != want[2] {
		t.Errorf("waits %v, want %v", waits, want)
	}
	if len(rc.accepted) != st.Events-1 {
		t.Errorf("upstream has %d events, want %d", len(rc.accepted), st.Events-1)
	}
	for id, n := range rc.accepted {
		if n != 1 {
			t.Errorf("event %s arrived %d times", id, n)
		}
	}
	if len(rejected) != 1 || rc.accepted[rejected[0]] != 0 {
		t.Errorf("rejected %v", rejected)
	}
	if got := rc.auth[0]; got != "/api/42/envelope/ Sentry sentry_version=7, sentry_key=abc123, sentry_client=tinysink-import" {
		t.Errorf("first request %q", got)
	}
}

func TestForwardStopsWhenRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "bad key", 403) }))
	defer srv.Close()
	var buf bytes.Buffer
	if _, err := ExportTar(populate(t), &buf, "test"); err != nil {
		t.Fatal(err)
	}
	r, _ := OpenStream(&buf)
	_, err := Forward(context.Background(), r, ForwardOptions{DSN: strings.Replace(srv.URL, "://", "://k@", 1) + "/1"})
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("Forward to a refusing upstream: %v", err)
	}
}
