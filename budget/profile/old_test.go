package profile

import (
	"strings"
	"testing"
	"time"

	"github.com/tinysink/tinysink/digest"
	"github.com/tinysink/tinysink/store"
)

// Populate builds the old scenario's data directory through the store's
// digest batches: every issue and event is there, and the counters span
// the simulated days, every day of them.
func TestPopulateSmall(t *testing.T) {
	dir := t.TempDir()
	var progress strings.Builder
	st, err := Populate(dir, OldSize{Issues: 200, Events: 2000, Days: 30, Projects: 3}, &progress)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(progress.String(), "populating:"); n != 10 || !strings.Contains(progress.String(), "100% (2000 of 2000 events") {
		t.Errorf("%d progress lines, want 10:\n%s", n, progress.String())
	}
	if st.DiskBytes <= 0 || st.Events != 2000 {
		t.Errorf("stats = %+v", st)
	}
	db, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ps, err := db.Projects()
	if err != nil || len(ps) != 3 {
		t.Fatalf("projects = %v, %v", ps, err)
	}
	var issues, events int64
	for _, p := range ps {
		issues += int64(p.IssueCount)
		events += p.StoredEventCount
		if p.RetentionMax < 2000 {
			t.Errorf("project %s keeps %d events", p.Slug, p.RetentionMax)
		}
	}
	if issues != 200 || events != 2000 {
		t.Errorf("%d issues and %d stored events, want 200 and 2000", issues, events)
	}
	now := time.Now()
	days, err := db.Daily(store.InstallSubject, now.AddDate(0, 0, -30), now.AddDate(0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for i, n := range days {
		sum += n
		if n == 0 && i > 0 && i < len(days)-1 {
			t.Errorf("no events counted on day %d of %d: %v", i, len(days), days)
		}
	}
	if sum != 2000 {
		t.Errorf("daily counts add up to %d, want 2000: %v", sum, days)
	}
	if _, err := db.UserCount(); err != nil {
		t.Error(err)
	}
}

func TestLetters(t *testing.T) {
	for n, want := range map[int]string{0: "A", 25: "Z", 26: "BA", 99999: "FRYD"} {
		if got := letters(n); got != want {
			t.Errorf("letters(%d) = %q, want %q", n, got, want)
		}
	}
}

// BenchmarkOldPrepare is the part of Populate that does not depend on the
// store: making an event and normalising and compressing it.
func BenchmarkOldPrepare(b *testing.B) {
	size := OldSize{Issues: 100000, Events: 1000000, Days: 365, Projects: 3}
	now := time.Now()
	g := newOldGen(size, now.AddDate(0, 0, -365), now)
	l := digest.NewLoader()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		project, at, raw := g.next(i % size.Events)
		if _, err := l.Prepare(project, raw, at); err != nil {
			b.Fatal(err)
		}
	}
}
