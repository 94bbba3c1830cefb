package store

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestHourlyCounts(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir())
	base := time.Date(2026, 3, 1, 22, 30, 0, 0, time.UTC)
	db.Now = func() time.Time { return base.Add(4 * time.Hour) }
	err := db.Digest(func(tx *Tx) error {
		for _, at := range []time.Time{base, base, base.Add(time.Hour), base.Add(3 * time.Hour)} {
			if err := tx.CountHour("i7", at, 1); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.Hourly("i7", base.Add(-time.Hour), base.Add(4*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// 21:00, 22:00, 23:00, 00:00 (next day), 01:00
	if want := []int64{0, 2, 1, 0, 1}; !slices.Equal(got, want) {
		t.Errorf("Hourly = %v, want %v", got, want)
	}
	// A list page reads the same counts for many issues at once, skipping
	// the days outside an issue's first..last seen: those read as zeros
	// whatever keys exist (i8 has counts it cannot have, to prove the skip).
	if err := db.Digest(func(tx *Tx) error { return tx.CountHour("i8", base, 5) }); err != nil {
		t.Fatal(err)
	}
	many, err := db.IssuesHourly([]Issue{
		{ID: 7, FirstSeen: base, LastSeen: base.Add(3 * time.Hour)},
		{ID: 8, FirstSeen: base.Add(-72 * time.Hour), LastSeen: base.Add(-48 * time.Hour)},
		{ID: 9},
	}, base.Add(-time.Hour), base.Add(4*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]int64{{0, 2, 1, 0, 1}, {0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}}; !slices.EqualFunc(many, want, slices.Equal) {
		t.Errorf("IssuesHourly = %v, want %v", many, want)
	}
	days, _ := db.Daily("i7", base, base.Add(48*time.Hour))
	if want := []int64{3, 1}; !slices.Equal(days, want) {
		t.Errorf("Daily = %v, want %v", days, want)
	}
}

// Counters roll up: hourly counts older than yesterday become one daily
// count, an issue's daily counts go after 90 days and the totals' after
// 400, so an issue's counters cost a bounded number of keys however long
// it lives; no count is lost or doubled on the way.
func TestCountersRollUp(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir())
	start := time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC)
	now := start
	db.Now = func() time.Time { return now }
	const days = 200
	for d := 0; d < days; d++ {
		now = start.AddDate(0, 0, d)
		err := db.Digest(func(tx *Tx) error {
			for _, s := range []string{"i7", ProjectSubject(1)} {
				if err := tx.CountHour(s, now, 2); err != nil {
					return err
				}
				if err := tx.CountHour(s, now.Add(3*time.Hour), 1); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The last batch ran on day 199: its roll-up left today and yesterday
	// hourly and 90 days of the issue's daily counts.
	if n := countKeys(db, "hourly:"); n != hourlyDays {
		t.Errorf("hourly keys = %d, want %d", n, hourlyDays)
	}
	if n := countKeys(db, "daily:"); n > dailyKeep {
		t.Errorf("issue daily keys = %d, want at most %d", n, dailyKeep)
	}
	if n := countKeys(db, "tdaily:"); n != days-hourlyDays {
		t.Errorf("total daily keys = %d, want %d (kept 400 days)", n, days-hourlyDays)
	}
	today := now.Truncate(24 * time.Hour)
	got, err := db.Daily("i7", today.AddDate(0, 0, -(dailyKeep-1)), today.AddDate(0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range got {
		if n != 3 {
			t.Fatalf("issue day %d of the last %d = %d, want 3 (counts: %v)", i, dailyKeep, n, got)
		}
	}
	old, _ := db.Daily("i7", start, start.AddDate(0, 0, 10))
	if !slices.Equal(old, make([]int64, 10)) {
		t.Errorf("issue days past the keep = %v, want zeros", old)
	}
	tot, _ := db.Daily(ProjectSubject(1), start, today.AddDate(0, 0, 1))
	var sum int64
	for _, n := range tot {
		sum += n
	}
	if sum != 3*days {
		t.Errorf("project total over %d days = %d, want %d", days, sum, 3*days)
	}
	h, _ := db.Hourly("i7", today, today.Add(24*time.Hour))
	if h[10] != 2 || h[13] != 1 {
		t.Errorf("today's hourly counts = %v", h)
	}
}

// TestHoursRoundTrip checks the hourly row's text form: 24 counts written
// and read back, and a short or malformed row read as SplitN-based code
// read it (missing counts are zero, an unparsable one is zero).
func TestHoursRoundTrip(t *testing.T) {
	var h [24]int64
	for i := range h {
		h[i] = int64(i*i*1000) - 5
	}
	h[7] = 1 << 62
	if got := parseHours(formatHours(&h)); got != h {
		t.Errorf("round trip: %v, want %v", got, h)
	}
	if got := parseHours("3,,x,9"); got != [24]int64{3, 0, 0, 9} {
		t.Errorf("short row: %v", got)
	}
	if got := parseHours(""); got != [24]int64{} {
		t.Errorf("empty row: %v", got)
	}
	var zero [24]int64
	if s := formatHours(&zero); s != "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0" {
		t.Errorf("zero row: %q", s)
	}
}

// TestTagCountsBatched checks the tag counts a batch adds up before it
// writes them: repeats within a batch and across batches, and the values
// past maxTagValues counted as OtherTagValue, in the order they came.
func TestTagCountsBatched(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir())
	p, _ := db.CreateProject("p")
	var iss *Issue
	batch := func(fn func(tx *Tx) error) {
		t.Helper()
		err := db.Digest(func(tx *Tx) error {
			pr, err := tx.Project(p.ID)
			if err != nil {
				return err
			}
			if iss == nil {
				iss = &Issue{CalculatedType: "E"}
				if err := tx.CreateIssue(pr, iss, "h", "h", "test"); err != nil {
					return err
				}
			} else if iss, err = tx.Issue(iss.ID); err != nil {
				return err
			}
			return fn(tx)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	count := func(tx *Tx, key, value string, n int) error {
		for range n {
			if err := tx.CountTag(iss, key, value); err != nil {
				return err
			}
		}
		return nil
	}
	batch(func(tx *Tx) error {
		// 98 distinct "v" values first, then a (twice) and b.
		for i := range maxTagValues - 2 {
			if err := count(tx, "v", fmt.Sprint("x", i), 1); err != nil {
				return err
			}
		}
		if err := count(tx, "v", "a", 2); err != nil {
			return err
		}
		return count(tx, "v", "b", 1)
	})
	batch(func(tx *Tx) error {
		// c and d are values 101 and 102: counted as other; a is known.
		if err := count(tx, "v", "c", 3); err != nil {
			return err
		}
		if err := count(tx, "v", "a", 4); err != nil {
			return err
		}
		if err := count(tx, "v", "d", 1); err != nil {
			return err
		}
		return count(tx, "level", "error", 5)
	})
	got := tagCounts(t, db, iss.ID)
	for k, want := range map[string]int64{"v=a": 6, "v=b": 1, "v=x0": 1, "v=" + OtherTagValue: 4, "level=error": 5} {
		if got[k] != want {
			t.Errorf("%q counted %d, want %d", k, got[k], want)
		}
	}
	if _, ok := got["v=c"]; ok {
		t.Error("a value past the cap was counted on its own")
	}
	if n := len(got); n != maxTagValues+2 {
		t.Errorf("%d tag rows, want %d", n, maxTagValues+2)
	}
}

// tagCounts returns the tag counts of issue id by "key=value".
func tagCounts(t *testing.T, db *DB, id uint32) map[string]int64 {
	t.Helper()
	tags, err := db.IssueTags(id)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, tc := range tags {
		got[tc.Key+"="+tc.Value] = tc.Count
	}
	return got
}
