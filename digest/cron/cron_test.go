package cron

import (
	"testing"
	"time"
)

func TestCrontabNext(t *testing.T) {
	base := time.Date(2026, 3, 14, 10, 17, 30, 0, time.UTC) // a Saturday
	for _, tt := range []struct {
		name, line, tz string
		after          time.Time
		want           string // RFC 3339 in UTC
	}{
		{"every minute", "* * * * *", "", base, "2026-03-14T10:18:00Z"},
		{"hourly macro", "@hourly", "", base, "2026-03-14T11:00:00Z"},
		{"step", "*/15 * * * *", "", base, "2026-03-14T10:30:00Z"},
		{"list", "5,20,40 * * * *", "", base, "2026-03-14T10:20:00Z"},
		{"range with step", "0 9-17/4 * * *", "", base, "2026-03-14T13:00:00Z"},
		{"offset step", "10/20 * * * *", "", base, "2026-03-14T10:30:00Z"},
		{"daily", "30 2 * * *", "", base, "2026-03-15T02:30:00Z"},
		{"weekday names", "0 8 * * mon-fri", "", base, "2026-03-16T08:00:00Z"},
		{"sunday as 7", "0 0 * * 7", "", base, "2026-03-15T00:00:00Z"},
		{"month name", "0 0 1 jun *", "", base, "2026-06-01T00:00:00Z"},
		{"dom or dow", "0 0 20 * mon", "", base, "2026-03-16T00:00:00Z"},
		{"leap day", "0 0 29 2 *", "", base, "2028-02-29T00:00:00Z"},
		{"time zone", "0 9 * * *", "Europe/Amsterdam", base, "2026-03-15T08:00:00Z"},
		// 02:30 does not exist on the day clocks spring forward: skipped.
		{"across DST (spring forward)", "30 2 * * *", "Europe/Amsterdam", time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC), "2026-03-30T00:30:00Z"},
		{"year end", "0 0 1 1 *", "", base, "2027-01-01T00:00:00Z"},
	} {
		c, err := ParseCrontab(tt.line, tt.tz)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got := c.Next(tt.after).UTC().Format(time.RFC3339); got != tt.want {
			t.Errorf("%s: Next(%v) = %s, want %s", tt.name, tt.after, got, tt.want)
		}
	}
}

func TestCrontabNeverRuns(t *testing.T) {
	c, err := ParseCrontab("0 0 30 2 *", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Next(time.Now()); !got.IsZero() {
		t.Errorf("Feb 30: Next = %v, want zero", got)
	}
}

func TestCrontabErrors(t *testing.T) {
	for _, line := range []string{"", "* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *",
		"5-1 * * * *", "*/0 * * * *", "x * * * *", "* * * * 8", "1,,2 * * * *", "* * * * * *"} {
		if _, err := ParseCrontab(line, ""); err == nil {
			t.Errorf("ParseCrontab(%q): no error", line)
		}
	}
	if _, err := ParseCrontab("* * * * *", "Mars/Olympus"); err == nil {
		t.Error("unknown time zone: no error")
	}
}

func TestInterval(t *testing.T) {
	iv, err := ParseInterval(2, "hours")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 31, 23, 0, 0, 0, time.UTC)
	if got := iv.Next(at); !got.Equal(at.Add(2 * time.Hour)) {
		t.Errorf("Next = %v", got)
	}
	if _, err := ParseInterval(1, "fortnight"); err == nil {
		t.Error("unknown unit: no error")
	}
}

func FuzzParseCrontab(f *testing.F) {
	for _, s := range []string{"* * * * *", "*/5 1-3 1,15 jan-mar mon-fri", "@daily", "0 0 30 2 *"} {
		f.Add(s)
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCrontab(s, "")
		if err != nil {
			return
		}
		if n := c.Next(at); !n.IsZero() && !n.After(at) {
			t.Fatalf("%q: Next(%v) = %v, not after", s, at, n)
		}
	})
}
