package ingest

import (
	"fmt"
	"regexp"
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

// Transactions, sessions and check-ins have quotas of their own: an item
// over its category's limit is dropped and named in X-Sentry-Rate-Limits
// (200 when something else was kept, 429 when nothing was), and uses up
// nothing of the events' quota or the other categories'.
func TestQuotaItemCategories(t *testing.T) {
	q := quota.New(quota.Config{Project: quota.Limits{FiveMin: 2}, Items: map[string]quota.Limits{
		quota.CatTransaction: {FiveMin: 1}, quota.CatSession: {FiveMin: 1}, quota.CatMonitor: {FiveMin: 1},
	}})
	ts := newTestServer(t, func(c *Config) {
		c.Admit, c.ItemQuota, c.OnAccept, c.OnRelease = q, q, q.Count, q.Release
	})
	const (
		tx      = `{"type":"transaction","start_timestamp":1,"timestamp":2,"transaction":"/"}`
		session = `{"sid":"a","init":true,"attrs":{"release":"1"}}`
		checkIn = `{"check_in_id":"83a7c03ed0a04e1b97e2e3b18d38f244","monitor_slug":"m","status":"ok"}`
	)
	post := func(items ...string) (int, string) {
		status, hdr, body := ts.post(t, "/api/1/envelope/", strings.NewReader(string(envelope(`{}`, items...))), "X-Sentry-Auth", authHeader)
		if status != 200 && status != 429 {
			t.Fatalf("status %d: %s", status, body)
		}
		return status, hdr.Get("X-Sentry-Rate-Limits")
	}
	// One of each: all within their own quotas.
	if status, rl := post(`{"type":"transaction"}`, tx, `{"type":"session"}`, session, `{"type":"check_in"}`, checkIn, `{"type":"event"}`, `{"message":"e"}`); status != 200 || rl != "" {
		t.Fatalf("first of each: %d, X-Sentry-Rate-Limits %q", status, rl)
	}
	events, items := ts.newRecordsAndItems(t)
	if len(events) != 1 || len(items) != 3 {
		t.Fatalf("spooled %d events and %d items, want 1 and 3", len(events), len(items))
	}
	// A second transaction alone: 429 naming its category only.
	status, rl := post(`{"type":"transaction"}`, tx)
	if status != 429 || !regexp.MustCompile(`^\d+:transaction:project:project_quota$`).MatchString(rl) {
		t.Errorf("second transaction: %d, X-Sentry-Rate-Limits %q", status, rl)
	}
	// With a client report that is kept: 200, the refused categories named.
	status, rl = post(`{"type":"session"}`, session, `{"type":"check_in"}`, checkIn, `{"type":"client_report"}`, `{"timestamp":1,"discarded_events":[]}`)
	if status != 200 || !regexp.MustCompile(`^\d+:monitor:project:project_quota, \d+:session:project:project_quota$`).MatchString(rl) {
		t.Errorf("over-quota session and check-in beside a client report: %d, X-Sentry-Rate-Limits %q", status, rl)
	}
	if events, items = ts.newRecordsAndItems(t); len(events) != 0 || len(items) != 1 || items[0].Type != "client_report" {
		t.Errorf("spooled %d events and %v, want the client report alone", len(events), items)
	}
	// An event over the event quota and a transaction over its own:
	// nothing kept, one 429 naming both.
	if status, rl = post(`{"type":"event"}`, `{"message":"second"}`); status != 200 || rl != "" {
		t.Fatalf("second event: %d, X-Sentry-Rate-Limits %q", status, rl)
	}
	status, rl = post(`{"type":"event"}`, `{"message":"over"}`, `{"type":"transaction"}`, tx)
	if status != 429 || !regexp.MustCompile(`^\d+:error;default;security:project:project_quota, \d+:transaction:project:project_quota$`).MatchString(rl) {
		t.Errorf("event and transaction over quota: %d, X-Sentry-Rate-Limits %q", status, rl)
	}
	// Both over, beside a client report that is kept: 200 naming both.
	status, rl = post(`{"type":"event"}`, `{"message":"over"}`, `{"type":"transaction"}`, tx, `{"type":"client_report"}`, `{"timestamp":1,"discarded_events":[]}`)
	if status != 200 || !regexp.MustCompile(`^\d+:transaction:project:project_quota, \d+:error;default;security:project:project_quota$`).MatchString(rl) {
		t.Errorf("event and transaction over quota beside a client report: %d, X-Sentry-Rate-Limits %q", status, rl)
	}
}
