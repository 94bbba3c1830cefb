package ingest

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(substr string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for line := range strings.Lines(s.b.String()) {
		if strings.Contains(line, substr) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// Refused events leave a log line: one per reason and project per minute,
// however many requests.
func TestRefusedAndDroppedEventsAreLogged(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	adm := &fakeAdmitter{no: map[int]bool{2: true}, after: time.Minute, reason: "project_quota"}
	ts := newTestServer(t, func(c *Config) {
		c.Projects = fakeProjects{1: testKey, 2: "key2"}
		c.Admit = adm
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) // Info and up
		c.Now = func() time.Time { return now }
	})
	for range 5 {
		ts.post(t, "/api/2/store/?sentry_key=key2", strings.NewReader(`{}`))
		ts.post(t, "/api/1/store/?sentry_key="+testKey, strings.NewReader(`{not json`))
		ts.post(t, "/api/1/store/?sentry_key=wrong", strings.NewReader(`{}`))
	}
	for _, tt := range []struct{ reason, project string }{
		{"project_quota", "2"}, {"malformed", "1"}, {"auth", "1"},
	} {
		got := logs.lines("reason=" + tt.reason)
		if len(got) != 1 || !strings.Contains(got[0], "project_id="+tt.project) {
			t.Errorf("%s: lines %q, want one for project %s", tt.reason, got, tt.project)
		}
	}
	// A minute on, the next line counts what was left out.
	now = now.Add(time.Minute)
	ts.post(t, "/api/2/store/?sentry_key=key2", strings.NewReader(`{}`))
	if got := logs.lines("reason=project_quota"); len(got) != 2 || !strings.Contains(got[1], "suppressed=4") {
		t.Errorf("project_quota lines after a minute: %q", got)
	}
}
