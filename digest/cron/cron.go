// Package cron parses the schedules of cron monitors (crontab lines and
// intervals, as Sentry SDKs send them in a check-in's monitor_config) and
// computes when the next check-in is due.
package cron

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Schedule says when a monitored job runs.
type Schedule interface {
	// Next returns the first run strictly after t.
	Next(t time.Time) time.Time
}

// Crontab is a 5-field crontab schedule (minute hour day-of-month month
// day-of-week) in a time zone.
type Crontab struct {
	minute, hour, dom, month, dow uint64 // bit i set: value i matches
	domStar, dowStar              bool   // the field was "*" (or "*/n")
	loc                           *time.Location
}

type field struct {
	min, max int
	names    []string // names[i] is value min+i
}

var (
	minuteField = field{min: 0, max: 59}
	hourField   = field{min: 0, max: 23}
	domField    = field{min: 1, max: 31}
	monthField  = field{min: 1, max: 12, names: []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}}
	dowField    = field{min: 0, max: 7, names: []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}}
)

var macros = map[string]string{
	"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
	"@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}

// ParseCrontab parses a crontab line (five fields, or a macro such as
// @daily) in the time zone tz ("" is UTC). Fields take *, values, names
// (jan–dec, sun–sat), ranges a-b, steps */n and a-b/n, and lists a,b,c;
// day of week 7 is Sunday. When both day fields are restricted a day
// matching either runs, as in Vixie cron.
func ParseCrontab(line, tz string) (*Crontab, error) {
	loc := time.UTC
	if tz != "" {
		l, err := time.LoadLocation(tz)
		if err != nil {
			return nil, fmt.Errorf("cron: unknown time zone %q", tz)
		}
		loc = l
	}
	line = strings.TrimSpace(line)
	if m, ok := macros[strings.ToLower(line)]; ok {
		line = m
	}
	f := strings.Fields(line)
	if len(f) != 5 {
		return nil, fmt.Errorf("cron: %q has %d fields, want 5", line, len(f))
	}
	c := &Crontab{loc: loc}
	var err error
	if c.minute, _, err = parseField(f[0], minuteField); err != nil {
		return nil, err
	}
	if c.hour, _, err = parseField(f[1], hourField); err != nil {
		return nil, err
	}
	if c.dom, c.domStar, err = parseField(f[2], domField); err != nil {
		return nil, err
	}
	if c.month, _, err = parseField(f[3], monthField); err != nil {
		return nil, err
	}
	if c.dow, c.dowStar, err = parseField(f[4], dowField); err != nil {
		return nil, err
	}
	if c.dow&(1<<7) != 0 {
		c.dow |= 1 // 7 is Sunday too
	}
	return c, nil
}

func parseField(s string, f field) (set uint64, star bool, err error) {
	star = strings.HasPrefix(s, "*")
	for part := range strings.SplitSeq(s, ",") {
		rng, stepStr, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			if step, err = strconv.Atoi(stepStr); err != nil || step <= 0 || step > f.max {
				return 0, false, fmt.Errorf("cron: bad step in %q", part)
			}
		}
		lo, hi := f.min, f.max
		switch {
		case rng == "*":
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			if lo, err = f.value(a); err != nil {
				return 0, false, err
			}
			if hi, err = f.value(b); err != nil {
				return 0, false, err
			}
			if hi < lo {
				return 0, false, fmt.Errorf("cron: range %q runs backwards", rng)
			}
		default:
			if lo, err = f.value(rng); err != nil {
				return 0, false, err
			}
			hi = lo
			if hasStep {
				hi = f.max // "5/15" means 5-max/15
			}
		}
		for v := lo; v <= hi; v += step {
			set |= 1 << uint(v)
		}
	}
	if set == 0 {
		return 0, false, errors.New("cron: empty field")
	}
	return set, star, nil
}

func (f field) value(s string) (int, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < f.min || n > f.max {
			return 0, fmt.Errorf("cron: %d is outside %d-%d", n, f.min, f.max)
		}
		return n, nil
	}
	for i, name := range f.names {
		if strings.EqualFold(s, name) {
			return f.min + i, nil
		}
	}
	return 0, fmt.Errorf("cron: bad value %q", s)
}

func has(set uint64, v int) bool { return set&(1<<uint(v)) != 0 }

// dayMatches reports whether day t runs.
func (c *Crontab) dayMatches(t time.Time) bool {
	dom, dow := has(c.dom, t.Day()), has(c.dow, int(t.Weekday()))
	if c.domStar || c.dowStar {
		return dom && dow
	}
	return dom || dow
}

// Next returns the first minute strictly after t that the schedule runs,
// in the schedule's time zone; the zero time when none comes within
// five years (as for February 30th).
func (c *Crontab) Next(t time.Time) time.Time {
	t = t.In(c.loc).Truncate(time.Minute).Add(time.Minute)
	limit := t.AddDate(5, 0, 0)
	for t.Before(limit) {
		switch {
		case !has(c.month, int(t.Month())):
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, c.loc)
		case !c.dayMatches(t):
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, c.loc)
		case !has(c.hour, t.Hour()):
			next := time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, c.loc)
			if !next.After(t) { // a DST fold: an hour that repeats
				next = t.Add(time.Hour).Truncate(time.Hour)
			}
			t = next
		case !has(c.minute, t.Minute()):
			m := c.minute >> uint(t.Minute()+1)
			if m == 0 {
				t = t.Truncate(time.Hour).Add(time.Hour)
			} else {
				t = t.Add(time.Duration(bits.TrailingZeros64(m)+1) * time.Minute)
			}
		default:
			return t
		}
	}
	return time.Time{}
}

// Interval is a schedule of one run every Every, counted from the last
// check-in.
type Interval struct {
	N    int
	Unit string // minute, hour, day, week, month or year
}

// ParseInterval checks an interval schedule.
func ParseInterval(n int, unit string) (*Interval, error) {
	unit = strings.TrimSuffix(strings.ToLower(unit), "s")
	switch unit {
	case "minute", "hour", "day", "week", "month", "year":
	default:
		return nil, fmt.Errorf("cron: unknown interval unit %q", unit)
	}
	if n <= 0 || n > 100000 {
		return nil, fmt.Errorf("cron: interval %d out of range", n)
	}
	return &Interval{N: n, Unit: unit}, nil
}

// Next returns t plus the interval.
func (iv *Interval) Next(t time.Time) time.Time {
	switch iv.Unit {
	case "minute":
		return t.Add(time.Duration(iv.N) * time.Minute)
	case "hour":
		return t.Add(time.Duration(iv.N) * time.Hour)
	case "day":
		return t.AddDate(0, 0, iv.N)
	case "week":
		return t.AddDate(0, 0, 7*iv.N)
	case "month":
		return t.AddDate(0, iv.N, 0)
	}
	return t.AddDate(iv.N, 0, 0)
}
