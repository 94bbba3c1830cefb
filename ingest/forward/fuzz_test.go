package forward

import (
	"strings"
	"testing"
	"time"
)

// FuzzParse feeds the parsers of what an upstream or an operator sends:
// X-Sentry-Rate-Limits, Retry-After and DSNs. None may panic, and what they
// return stays in bounds.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"60:error;transaction:organization:quota, 2700:default::x", "10::key", "1.5:monitor:org:r:ns", ":::", "",
		"Wed, 21 Oct 2015 07:28:00 GMT", "120", "http://k@127.0.0.1:8000/1", "https://k:s@h/a/b/42/", "http://@/", "ftp://x@y/1",
	} {
		f.Add(s)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		for cat, d := range ParseRateLimits(s) {
			if !knownCategories[cat] || d < 0 || d > 7*24*time.Hour {
				t.Errorf("ParseRateLimits(%q): %q for %v", s, cat, d)
			}
		}
		if d := ParseRetryAfter(s, now); d < 0 {
			t.Errorf("ParseRetryAfter(%q) = %v", s, d)
		}
		if d, err := ParseDSN(s); err == nil {
			if d.Key == "" || d.Project == "" || !strings.HasSuffix(d.Endpoint, "/api/"+d.Project+"/envelope/") {
				t.Errorf("ParseDSN(%q) = %+v", s, d)
			}
		}
		env := AppendEnvelope(nil, s, s, []byte(s), now)
		if strings.Count(string(env[:len(env)-len(s)-1]), "\n") != 2 {
			t.Errorf("AppendEnvelope headers of %q span more than two lines: %q", s, env)
		}
	})
}
