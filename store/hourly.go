package store

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/buntdb"
)

// Event counts per hour, for sparklines, histograms and quotas. One key per
// subject and UTC day holds 24 comma-separated counts, so a busy issue
// costs one small key a day, not one per hour or per event:
//
//	hourly:<subject>:<yyyymmdd>   "c0,c1,…,c23"
//
// Subjects are "i<issue id>", "p<project id>" and "all" (the installation).

func hourlyKey(subject string, day time.Time) string {
	return "hourly:" + subject + ":" + day.UTC().Format("20060102")
}

// IssueSubject, ProjectSubject and InstallSubject name hourly counters.
func IssueSubject(id uint32) string { return "i" + strconv.FormatUint(uint64(id), 10) }

// ProjectSubject names a project's hourly counter.
func ProjectSubject(id int) string { return "p" + strconv.Itoa(id) }

// InstallSubject names the installation's hourly counter.
const InstallSubject = "all"

func parseHours(s string) [24]int64 {
	var h [24]int64
	for i, f := range strings.SplitN(s, ",", 24) {
		h[i], _ = strconv.ParseInt(f, 10, 64)
	}
	return h
}

func formatHours(h *[24]int64) string {
	var b strings.Builder
	for i, n := range h {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(n, 10))
	}
	return b.String()
}

// CountHour adds n to subject's count for the hour of t.
func (t *Tx) CountHour(subject string, at time.Time, n int64) error {
	k := hourlyKey(subject, at)
	s, err := t.kv.Get(k)
	if err != nil && !errors.Is(err, buntdb.ErrNotFound) {
		return err
	}
	h := parseHours(s)
	h[at.UTC().Hour()] += n
	_, _, err = t.kv.Set(k, formatHours(&h), nil)
	return err
}

// Hourly returns subject's counts for the hours from..to (both truncated to
// the hour, from inclusive, to exclusive), oldest first.
func (db *DB) Hourly(subject string, from, to time.Time) ([]int64, error) {
	from, to = from.UTC().Truncate(time.Hour), to.UTC().Truncate(time.Hour)
	if !to.After(from) {
		return []int64{}, nil
	}
	out := make([]int64, 0, int(to.Sub(from)/time.Hour))
	err := db.view(func(tx *buntdb.Tx) error {
		var day time.Time
		var h [24]int64
		for at := from; at.Before(to); at = at.Add(time.Hour) {
			if d := at.Truncate(24 * time.Hour); !d.Equal(day) {
				day = d
				s, err := tx.Get(hourlyKey(subject, d))
				if err != nil && !errors.Is(err, buntdb.ErrNotFound) {
					return err
				}
				h = parseHours(s)
			}
			out = append(out, h[at.Hour()])
		}
		return nil
	})
	return out, err
}

// Daily returns subject's counts per UTC day for the days from..to (from
// inclusive, to exclusive), oldest first.
func (db *DB) Daily(subject string, from, to time.Time) ([]int64, error) {
	from, to = from.UTC().Truncate(24*time.Hour), to.UTC().Truncate(24*time.Hour)
	var out []int64
	err := db.view(func(tx *buntdb.Tx) error {
		for d := from; d.Before(to); d = d.Add(24 * time.Hour) {
			s, err := tx.Get(hourlyKey(subject, d))
			if err != nil && !errors.Is(err, buntdb.ErrNotFound) {
				return err
			}
			var sum int64
			for _, n := range parseHours(s) {
				sum += n
			}
			out = append(out, sum)
		}
		return nil
	})
	return out, err
}
