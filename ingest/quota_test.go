package ingest

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tinysink/tinysink/ingest/quota"
)

// Sixteen senders against a project quota of 50: exactly 50 events get a
// 200; a request that was admitted but stored nothing (malformed, or an
// envelope without an event) gives its place back.
func TestQuotaUnderConcurrentSenders(t *testing.T) {
	t.Parallel()
	q := quota.New(quota.Config{Project: quota.Limits{FiveMin: 50}})
	ts := newTestServer(t, func(c *Config) { c.Admit, c.OnAccept, c.OnRelease = q, q.Count, q.Release })

	// Places taken by requests that store nothing come back.
	for range 60 {
		if status, _, _ := ts.post(t, "/api/1/store/?sentry_key="+testKey, strings.NewReader(`{not json`)); status != 400 {
			t.Fatalf("malformed event: %d", status)
		}
		if status, _ := ts.postEnvelope(t, envelope(`{}`, `{"type":"session"}`, `{"status":"ok"}`)); status != 200 {
			t.Fatalf("session envelope: %d", status)
		}
	}

	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 10 {
				body := fmt.Sprintf(`{"message":"sender %d event %d"}`, w, i)
				switch status, _, _ := ts.post(t, "/api/1/store/?sentry_key="+testKey, strings.NewReader(body)); status {
				case 200:
					ok.Add(1)
				case 429:
					refused.Add(1)
				default:
					t.Errorf("status %d", status)
				}
			}
		})
	}
	wg.Wait()
	if ok.Load() != 50 || refused.Load() != 110 {
		t.Errorf("%d accepted and %d refused of 160 under a quota of 50", ok.Load(), refused.Load())
	}
	if recs := ts.newRecords(t); len(recs) != 50 {
		t.Errorf("%d events spooled, want 50", len(recs))
	}
}

// A quota counts events: over it, an envelope's sessions and client
// reports are still taken (200, the event categories named in
// X-Sentry-Rate-Limits), and an envelope of events only gets 429.
func TestQuotaPerCategory(t *testing.T) {
	t.Parallel()
	q := quota.New(quota.Config{Project: quota.Limits{FiveMin: 1}})
	ts := newTestServer(t, func(c *Config) { c.Admit, c.OnAccept, c.OnRelease = q, q.Count, q.Release })
	const session = `{"sid":"a","init":true,"attrs":{"release":"1"}}`
	if status, body := ts.postEnvelope(t, envelope(`{}`, `{"type":"event"}`, `{"message":"first"}`, ``)); status != 200 {
		t.Fatalf("first event: %d %s", status, body)
	}
	ts.newRecords(t)
	for _, query := range []string{"", "?sentry_key=" + testKey} { // key in the header, and in the query
		env := envelope(`{}`, `{"type":"event"}`, `{"message":"over"}`, `{"type":"session"}`, session, ``)
		status, hdr, body := ts.post(t, "/api/1/envelope/"+query, strings.NewReader(string(env)), "X-Sentry-Auth", authHeader)
		if status != 200 || !strings.HasSuffix(hdr.Get("X-Sentry-Rate-Limits"), ":error;default;security:project:project_quota") {
			t.Errorf("event and session over quota: %d %s, X-Sentry-Rate-Limits %q", status, body, hdr.Get("X-Sentry-Rate-Limits"))
		}
		events, items := ts.newRecordsAndItems(t)
		if len(events) != 0 || len(items) != 1 || items[0].Type != "session" {
			t.Errorf("spooled %d events and %d items, want the session alone", len(events), len(items))
		}
		status, hdr, _ = ts.post(t, "/api/1/envelope/"+query, strings.NewReader(string(envelope(`{}`, `{"type":"event"}`, `{}`, ``))), "X-Sentry-Auth", authHeader)
		if status != 429 || hdr.Get("Retry-After") == "" {
			t.Errorf("event alone over quota: %d", status)
		}
	}
	if c := ts.h.Counters(); c.Accepted != 1 || c.RefusedAdmission != 4 {
		t.Errorf("counters %+v", c)
	}
}
