package ingest

import (
	"strings"
	"testing"
	"time"
)

// A full disk is refused like a rate limit: 429 with Retry-After and
// X-Sentry-Rate-Limits for all categories, reason disk_full, which is what
// makes SDKs back off (a 507 does not).
func TestDiskFullIsA429WithRateLimits(t *testing.T) {
	t.Parallel()
	adm := &fakeAdmitter{no: map[int]bool{1: true}, after: time.Minute, reason: "disk_full"}
	ts := newTestServer(t, func(c *Config) { c.Admit = adm })
	for _, path := range []string{"/api/1/store/?sentry_key=" + testKey, "/api/1/envelope/?sentry_key=" + testKey} {
		status, hdr, body := ts.post(t, path, strings.NewReader(`{}`))
		if status != 429 {
			t.Errorf("%s: status %d %s, want 429", path, status, body)
		}
		if got := hdr.Get("Retry-After"); got != "60" {
			t.Errorf("%s: Retry-After = %q, want 60", path, got)
		}
		if got := hdr.Get("X-Sentry-Rate-Limits"); got != "60::organization:disk_full" {
			t.Errorf("%s: X-Sentry-Rate-Limits = %q, want 60::organization:disk_full", path, got)
		}
		if got := message(t, body); !strings.Contains(got, "disk_full") {
			t.Errorf("%s: message %q does not name the reason", path, got)
		}
	}
}
