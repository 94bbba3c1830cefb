package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"
	"github.com/tinysink/tinysink/store"
	"github.com/tinysink/tinysink/ui"
)

// A burst past the project's 5-minute quota gets 429 with Retry-After and
// X-Sentry-Rate-Limits; a real sentry-go client then stops sending.
func TestQuotaRefusesAndSentryGoBacksOff(t *testing.T) {
	ts := startServer(t, "-quota-project-5m", "5")
	p, _ := ts.db.Project(1)
	send := func() *http.Response {
		body := fmt.Sprintf(`{"event_id":"%s","message":"burst"}`, newID())
		resp, err := http.Post(ts.base+"/api/1/store/?sentry_key="+p.Key, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for i := range 5 {
		if resp := send(); resp.StatusCode != 200 {
			t.Fatalf("event %d: %d", i, resp.StatusCode)
		}
	}
	resp := send()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(resp.Header.Get("X-Sentry-Rate-Limits"), ":error;") {
		t.Fatalf("over quota: %d, Retry-After %q, X-Sentry-Rate-Limits %q", resp.StatusCode,
			resp.Header.Get("Retry-After"), resp.Header.Get("X-Sentry-Rate-Limits"))
	}

	// A second project with its own quota, reached through a counting proxy.
	p2, _ := ts.db.CreateProject("sdk")
	var mu sync.Mutex
	requests := 0
	target, _ := url.Parse(ts.base)
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	if err := ts.db.SetProjectQuota(p2.ID, &store.QuotaLimits{FiveMin: 3}); err != nil {
		t.Fatal(err)
	}
	p2.Key, _ = ts.db.ProjectKey(p2.ID)
	client, err := sentry.NewClient(sentry.ClientOptions{Dsn: ui.DSN(proxy.URL, p2), Transport: sentry.NewHTTPSyncTransport()})
	if err != nil {
		t.Fatal(err)
	}
	hub := sentry.NewHub(client, sentry.NewScope())
	for i := range 10 {
		hub.CaptureException(fmt.Errorf("flood %d", i))
	}
	client.Flush(5 * time.Second)
	mu.Lock()
	defer mu.Unlock()
	if requests != 4 {
		t.Errorf("sentry-go sent %d requests; want 3 accepted + 1 refused, then none", requests)
	}
	ts.drain(t)
	if pr, _ := ts.db.Project(p2.ID); pr.StoredEventCount != 3 {
		t.Errorf("stored %d events, want 3", pr.StoredEventCount)
	}
}
