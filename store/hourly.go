package store

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/buntdb"
)

// Event counts, for sparklines, histograms and quotas. They live in the
// tree, one key per subject and UTC day, the day first so that old days are
// found by a range scan:
//
//	hourly:<yyyymmdd>:<subject>   "c0,c1,…,c23"   today and yesterday
//	daily:<yyyymmdd>:<subject>    "n"             the days before
//
// Subjects are "i<issue id>", "p<project id>" and "all" (the installation).
// The totals (projects and the installation) use the families thourly and
// tdaily instead, so that each family has one keep.
// Hourly counts are kept only as long as the 24-hour sparklines and the
// quotas need them: RollUp folds each older day into one daily count, and
// deletes daily counts after dailyKeep (issues) or dailyKeepTotals
// (projects and the installation). So the counters of an issue cost at
// most two hourly keys and 90 small daily keys, whatever its age.

const (
	// hourlyDays is how many days (today included) keep hourly counts.
	hourlyDays = 2
	// dailyKeep is how many days an issue's daily counts are kept (the
	// issue page's 90-day histogram).
	dailyKeep = 90
	// dailyKeepTotals is the same for projects and the installation.
	dailyKeepTotals = 400
	// rollUpChunk bounds the keys one roll-up transaction changes.
	rollUpChunk = 1000
)

func isIssueSubject(subject string) bool { return strings.HasPrefix(subject, "i") }

// IssueSubject names an issue's counters.
func IssueSubject(id uint32) string { return "i" + strconv.FormatUint(uint64(id), 10) }

// ProjectSubject names a project's counters.
func ProjectSubject(id int) string { return "p" + strconv.Itoa(id) }

// InstallSubject names the installation's counters.
const InstallSubject = "all"

// parseHours reads the 24 comma-separated counts formatHours writes
// (without a slice of fields: the digest reads a row for every event).
func parseHours(s string) [24]int64 {
	var h [24]int64
	for i := range h {
		f, rest, more := strings.Cut(s, ",")
		if i == len(h)-1 {
			f = s // the last field takes the rest, as SplitN did
		}
		h[i], _ = strconv.ParseInt(f, 10, 64)
		if !more {
			break
		}
		s = rest
	}
	return h
}

func formatHours(h *[24]int64) string {
	var b [24 * 8]byte
	out := b[:0]
	for i, n := range h {
		if i > 0 {
			out = append(out, ',')
		}
		out = strconv.AppendInt(out, n, 10)
	}
	return string(out)
}

// CountHour adds n to subject's count for the hour of t. The count is
// written when the batch commits.
func (t *Tx) CountHour(subject string, at time.Time, n int64) error {
	k := hourlyKey(subject, at)
	h := t.hours[k]
	if h == nil {
		if t.hours == nil {
			t.hours = map[string]*[24]int64{}
		}
		h = new([24]int64)
		t.hours[k] = h
	}
	h[at.UTC().Hour()] += n
	return nil
}

// addHours adds d to the hourly counts of row k.
func addHours(tx *kvTx, k string, d *[24]int64) error {
	s, err := tx.Get(k)
	if err != nil && !errors.Is(err, buntdb.ErrNotFound) {
		return err
	}
	h := parseHours(s)
	for i, n := range d {
		h[i] += n
	}
	_, _, err = tx.Set(k, formatHours(&h), nil)
	return err
}

// Hourly returns subject's counts for the hours from..to (both truncated to
// the hour, from inclusive, to exclusive), oldest first. Hours of days that
// have been rolled up into daily counts read as 0.
func (db *DB) Hourly(subject string, from, to time.Time) ([]int64, error) {
	var out []int64
	err := db.view(func(tx *kvTx) error {
		var err error
		out, err = hourly(tx, subject, from, to, time.Time{}, time.Time{})
		return err
	})
	return out, err
}

// IssuesHourly is Hourly for each of issues, in one read: a list page's
// sparklines. Days outside an issue's first..last seen are not looked up,
// so an issue quiet for the whole span costs no read at all.
func (db *DB) IssuesHourly(issues []Issue, from, to time.Time) ([][]int64, error) {
	out := make([][]int64, len(issues))
	err := db.view(func(tx *kvTx) error {
		for i := range issues {
			var err error
			iss := &issues[i]
			if out[i], err = hourly(tx, IssueSubject(iss.ID), from, to, iss.FirstSeen, iss.LastSeen); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// hourly is Hourly within tx. When first and last are set, the subject has
// no counts on days outside them, and those days are not read.
func hourly(tx *kvTx, subject string, from, to, first, last time.Time) ([]int64, error) {
	from, to = from.UTC().Truncate(time.Hour), to.UTC().Truncate(time.Hour)
	if !to.After(from) {
		return []int64{}, nil
	}
	firstDay, lastDay := first.UTC().Truncate(24*time.Hour), last.UTC().Truncate(24*time.Hour)
	out := make([]int64, 0, int(to.Sub(from)/time.Hour))
	var day time.Time
	var h [24]int64
	for at := from; at.Before(to); at = at.Add(time.Hour) {
		if d := at.Truncate(24 * time.Hour); !d.Equal(day) {
			day, h = d, [24]int64{}
			if last.IsZero() || !d.Before(firstDay) && !d.After(lastDay) {
				s, err := tx.Get(hourlyKey(subject, d))
				if err != nil && !errors.Is(err, buntdb.ErrNotFound) {
					return nil, err
				}
				h = parseHours(s)
			}
		}
		out = append(out, h[at.Hour()])
	}
	return out, nil
}

// Daily returns subject's counts per UTC day for the days from..to (from
// inclusive, to exclusive), oldest first.
func (db *DB) Daily(subject string, from, to time.Time) ([]int64, error) {
	from, to = from.UTC().Truncate(24*time.Hour), to.UTC().Truncate(24*time.Hour)
	var out []int64
	err := db.view(func(tx *kvTx) error {
		for d := from; d.Before(to); d = d.Add(24 * time.Hour) {
			n, err := dayCount(tx, subject, d)
			if err != nil {
				return err
			}
			out = append(out, n)
		}
		return nil
	})
	return out, err
}

// dayCount is subject's count for day d: its daily count, or the sum of
// its hourly counts while the day has not been rolled up.
func dayCount(tx *kvTx, subject string, d time.Time) (int64, error) {
	s, err := tx.Get(dailyKey(subject, d))
	if err == nil {
		return strconv.ParseInt(s, 10, 64)
	}
	if !errors.Is(err, buntdb.ErrNotFound) {
		return 0, err
	}
	s, err = tx.Get(hourlyKey(subject, d))
	if errors.Is(err, buntdb.ErrNotFound) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	var sum int64
	for _, n := range parseHours(s) {
		sum += n
	}
	return sum, nil
}

// counterKeys returns every key that may hold subject's counts at now, for
// deleting them.
func counterKeys(subject string, now time.Time) []string {
	day := now.UTC().Truncate(24 * time.Hour)
	keep := dailyKeep
	if !isIssueSubject(subject) {
		keep = dailyKeepTotals
	}
	var out []string
	// A day or two of slack on both sides covers a roll-up that has not
	// run yet and a clock that moved.
	for i := -2; i <= hourlyDays+2; i++ {
		out = append(out, hourlyKey(subject, day.AddDate(0, 0, -i)))
	}
	for i := -2; i <= keep+2; i++ {
		out = append(out, dailyKey(subject, day.AddDate(0, 0, -i)))
	}
	return out
}

// RollUp folds the hourly counts of days before the last hourlyDays into
// daily counts and deletes daily counts past their keep. It works in
// transactions of at most rollUpChunk keys, each of which moves counts
// from one form to the other whole, so a crash between them loses and
// doubles nothing. It returns how many keys it changed.
func (db *DB) RollUp() (int, error) {
	today := db.Now().UTC().Truncate(24 * time.Hour)
	oldestHourly := dayString(today.AddDate(0, 0, -(hourlyDays - 1)))
	fold := func(daily string) func(tx *kvTx, k, v string) error {
		return func(tx *kvTx, k, v string) error {
			_, rest, _ := strings.Cut(k, ":")
			var sum int64
			for _, c := range parseHours(v) {
				sum += c
			}
			dk := daily + rest
			prev, err := tx.Get(dk)
			if err != nil && !errors.Is(err, buntdb.ErrNotFound) {
				return err
			}
			p, _ := strconv.ParseInt(prev, 10, 64)
			if _, _, err := tx.Set(dk, strconv.FormatInt(p+sum, 10), nil); err != nil {
				return err
			}
			_, err = tx.Delete(k)
			return err
		}
	}
	drop := func(tx *kvTx, k, v string) error {
		_, err := tx.Delete(k)
		return err
	}
	changed := 0
	type step struct {
		prefix, before string
		fn             func(tx *kvTx, k, v string) error
	}
	steps := []step{
		{hourlyIssues, oldestHourly, fold(dailyIssues)},
		{hourlyTotals, oldestHourly, fold(dailyTotals)},
		{dailyIssues, dayString(today.AddDate(0, 0, -dailyKeep)), drop},
		{dailyTotals, dayString(today.AddDate(0, 0, -dailyKeepTotals)), drop},
		{"txday:", dayString(today.AddDate(0, 0, -PerfKeepDays)), drop},
	}
	for _, f := range healthFamilies { // health.go
		steps = append(steps, step{f, dayString(today.AddDate(0, 0, -healthKeep)), drop})
	}
	for _, step := range steps {
		n, err := db.inChunks(func(tx *kvTx, add func(k, v string) bool) {
			tx.ascend(step.prefix, func(k, v string) bool {
				day, _, _ := strings.Cut(k[len(step.prefix):], ":")
				return day < step.before && add(k, v)
			})
		}, step.fn)
		changed += n
		if err != nil {
			return changed, err
		}
	}
	n, err := db.expireTxNames(dayString(today.AddDate(0, 0, -PerfKeepDays)))
	changed += n
	if err != nil {
		return changed, err
	}
	n, err = db.pruneSummaries(today)
	return changed + n, err
}

// summaryFamilies are the day-first key families of the daily summaries
// that a project's SummaryDays cuts short; the *n families are one key per
// project and day, the others a prefix.
var summaryFamilies = []struct {
	prefix string
	single bool
}{
	{"txday:", false}, {"rh:", false}, {"rhn:", true}, {"crep:", false}, {"crepn:", true}, {"ditem:", false}, {"ditemn:", true},
}

// pruneSummaries deletes the daily summaries of each project that keeps
// them for fewer than SummaryKeepDays days (the global steps of RollUp drop
// everything older): for each day out of its window, the project's keys
// of that day, found by their day-and-project prefix. All of them are
// looked up in one read transaction a day, so that a project with short
// retention costs no write transaction on a day with nothing to delete.
func (db *DB) pruneSummaries(today time.Time) (int, error) {
	ps, err := db.Projects()
	if err != nil {
		return 0, err
	}
	var prefixes []string // day-and-project prefixes; single keys end without ':'
	for _, p := range ps {
		keep := p.SummaryRetention()
		if keep >= SummaryKeepDays {
			continue
		}
		for d := keep; d <= SummaryKeepDays; d++ {
			day := dayString(today.AddDate(0, 0, -d))
			for _, f := range summaryFamilies {
				key := fmt.Sprintf("%s%s:%06d", f.prefix, day, p.ID)
				if !f.single {
					key += ":"
				}
				prefixes = append(prefixes, key)
			}
		}
	}
	if len(prefixes) == 0 {
		return 0, nil
	}
	return db.inChunks(func(tx *kvTx, add func(k, v string) bool) {
		for _, key := range prefixes {
			if !strings.HasSuffix(key, ":") {
				if v, err := tx.Get(key); err == nil && !add(key, v) {
					return
				}
				continue
			}
			full := false
			tx.ascend(key, func(k, v string) bool {
				if !strings.HasPrefix(k, key) {
					return false
				}
				full = !add(k, v)
				return !full
			})
			if full {
				return
			}
		}
	}, func(tx *kvTx, k, _ string) error {
		_, err := tx.Delete(k)
		return err
	})
}

// inChunks applies fn to the keys find offers, in write transactions of at
// most rollUpChunk keys each, until find offers fewer. find walks keys in
// a transaction and passes each to add, stopping when add returns false
// (the chunk is full). A read transaction first asks find for one key, so
// that nothing to change costs no write transaction, which would hold the
// store's lock for nothing. It returns how many keys fn changed.
func (db *DB) inChunks(find func(tx *kvTx, add func(k, v string) bool), fn func(tx *kvTx, k, v string) error) (int, error) {
	changed := 0
	for {
		found := false
		if err := db.view(func(tx *kvTx) error {
			find(tx, func(string, string) bool { found = true; return false })
			return nil
		}); err != nil || !found {
			return changed, err
		}
		n := 0
		err := db.update(func(tx *kvTx) error {
			type kv struct{ k, v string }
			var batch []kv
			find(tx, func(k, v string) bool {
				batch = append(batch, kv{k, v})
				return len(batch) < rollUpChunk
			})
			for _, e := range batch {
				if err := fn(tx, e.k, e.v); err != nil {
					return err
				}
			}
			n = len(batch)
			return nil
		})
		changed += n
		if err != nil || n < rollUpChunk {
			return changed, err
		}
	}
}
