package ui

import (
	"strings"
	"testing"
	"time"
)

func TestFuncs(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		t    time.Time
		want string
	}{
		{time.Time{}, "never"},
		{now.Add(-10 * time.Second), "just now"},
		{now.Add(-5 * time.Minute), "5 min ago"},
		{now.Add(-3 * time.Hour), "3 h ago"},
		{now.Add(-72 * time.Hour), "3 days ago"},
		{now.Add(-90 * 24 * time.Hour), "2026-01-31"},
	} {
		if got := ago(tt.t, now); got != tt.want {
			t.Errorf("ago(%v) = %q, want %q", tt.t, got, tt.want)
		}
	}
	if got := when(now); got != "2026-05-01 12:00:00 UTC" {
		t.Errorf("when = %q", got)
	}
	if got := when(time.Time{}); got != "—" {
		t.Errorf("when(zero) = %q", got)
	}
	for _, tt := range []struct {
		n    int
		in   string
		want string
	}{{5, "short", "short"}, {5, "longer", "long…"}, {3, "äöüß", "äö…"}} {
		if got := truncate(tt.n, tt.in); got != tt.want {
			t.Errorf("truncate(%d, %q) = %q, want %q", tt.n, tt.in, got, tt.want)
		}
	}
	for _, tt := range []struct {
		n    int64
		want string
	}{{0, "0 events"}, {1, "1 event"}, {2, "2 events"}, {12345, "12\u202f345 events"}} {
		if got := plural(tt.n, "event"); got != tt.want {
			t.Errorf("plural(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
	for _, tt := range []struct {
		n    int64
		want string
	}{{0, "0"}, {999, "999"}, {1000, "1\u202f000"}, {-1234567, "-1\u202f234\u202f567"}} {
		if got := count(tt.n); got != tt.want {
			t.Errorf("count(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
	for _, tt := range []struct {
		part, total int64
		want        string
	}{{1, 4, "25%"}, {0, 0, "0%"}, {1, 1000, "<1%"}, {2, 3, "67%"}} {
		if got := percent(tt.part, tt.total); got != tt.want {
			t.Errorf("percent(%d, %d) = %q, want %q", tt.part, tt.total, got, tt.want)
		}
	}
}

func TestSparkline(t *testing.T) {
	t.Parallel()
	got := string(sparkline([]int64{0, 2, 4}, 30, 10, "events <24h>"))
	for _, want := range []string{`viewBox="0 0 30 10"`, `aria-label="6 events &lt;24h&gt;"`, "M10.0 10v-5.0h8.0v5.0z", "M20.0 10v-10.0h8.0v10.0z"} {
		if !strings.Contains(got, want) {
			t.Errorf("sparkline lacks %q: %s", want, got)
		}
	}
	if strings.Contains(got, "M0.0") {
		t.Error("a zero count drew a bar")
	}
	if empty := string(sparkline(nil, 10, 10, "x")); !strings.Contains(empty, `d=""`) {
		t.Errorf("empty sparkline = %s", empty)
	}
}

func TestLocalPath(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"/issues/1/", "/issues/1/"},
		{"/projects/1/?tab=all", "/projects/1/?tab=all"},
		{"", "/projects/"},
		{"https://evil.example/", "/projects/"},
		{"//evil.example/", "/projects/"},
		{"/\\evil.example", "/projects/"},
		{"javascript:alert(1)", "/projects/"},
		{"/ok\r\nSet-Cookie: x", "/projects/"},
	} {
		if got := localPath(tt.in); got != tt.want {
			t.Errorf("localPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestBytesText(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   any
		want string
	}{
		{0, "0 B"}, {int64(1023), "1023 B"}, {uint64(1536), "1.5 KiB"}, {int64(-3 << 20), "-3.0 MiB"},
		{uint64(25 << 20), "25.0 MiB"}, {"x", "x"},
	} {
		if got := bytesText(tt.in); got != tt.want {
			t.Errorf("bytesText(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMs(t *testing.T) {
	t.Parallel()
	d := 2.5
	for _, tt := range []struct {
		in   any
		want string
	}{{0.123, "0.12 ms"}, {12.34, "12.3 ms"}, {&d, "2.5 ms"}, {(*float64)(nil), "—"}, {"x", "—"}} {
		if got := ms(tt.in); got != tt.want {
			t.Errorf("ms(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := indent(2); got != "\u2003\u2003└ " {
		t.Errorf("indent(2) = %q", got)
	}
}
