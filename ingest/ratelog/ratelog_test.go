package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestOneLinePerReasonAndProjectPerInterval(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	l := New(log, time.Minute, func() time.Time { return now })
	for range 5 {
		l.Log(slog.LevelWarn, "event refused", "project_quota", 1, "status", 429)
	}
	l.Log(slog.LevelWarn, "event refused", "project_quota", 2, "status", 429)
	l.Log(slog.LevelWarn, "event refused", "size", 1, "status", 413)
	now = now.Add(time.Minute)
	l.Log(slog.LevelWarn, "event refused", "project_quota", 1, "status", 429)

	want := []string{
		`level=WARN msg="event refused" reason=project_quota project_id=1 status=429`,
		`level=WARN msg="event refused" reason=project_quota project_id=2 status=429`,
		`level=WARN msg="event refused" reason=size project_id=1 status=413`,
		`level=WARN msg="event refused" reason=project_quota project_id=1 status=429 suppressed=4`,
	}
	if got := strings.Split(strings.TrimSpace(buf.String()), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Project ids sprayed by a client do not grow the limiter without bound.
func TestKeysAreBounded(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	l := New(slog.New(slog.DiscardHandler), time.Minute, func() time.Time { return now })
	l.log = slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))
	for p := range 10 * maxKeys {
		l.Log(slog.LevelWarn, "event refused", "auth", p)
		l.Log(slog.LevelWarn, "event refused", "auth", p)
	}
	if n := len(l.seen); n > maxKeys+1 {
		t.Errorf("%d keys remembered, want at most %d", n, maxKeys+1)
	}
}
