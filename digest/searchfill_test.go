package digest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"
)

// TestFillSearch drops the search index of a store (as a data directory
// written before the index existed) and checks that FillSearch brings
// every search's results back, stopping and resuming in the middle.
func TestFillSearch(t *testing.T) {
	r := newRig(t)
	t0 := r.now
	for i, body := range searchEvents {
		r.now = t0.Add(time.Duration(i) * time.Hour)
		id := fmt.Sprintf("%032x", i+1)
		r.sendBody(r.pid, id, fmt.Appendf(nil, body, id))
	}
	for i := range 20 {
		r.now = r.now.Add(time.Minute)
		r.send(fmt.Sprintf("Err%d", i), fmt.Sprintf("1.%d", i%3))
	}
	queries := []string{"", "division", "level:error", "release:1.1", "release:1.*", "err7", "-err7", "user.email:alice@example.com",
		"compute_total", "customer:acme", "is:unresolved -level:error", "zzznothing"}
	results := func() map[string][]uint32 {
		out := map[string][]uint32{}
		for _, q := range queries {
			var ids []uint32
			for cursor := ""; ; {
				page, err := r.db.SearchIssues(r.pid, q, cursor, 7)
				if err != nil {
					t.Fatal(err)
				}
				for _, iss := range page.Issues {
					ids = append(ids, iss.ID)
				}
				if cursor = page.Next; cursor == "" {
					break
				}
			}
			out[q] = ids
		}
		return out
	}
	want := results()
	if len(want["division"]) != 1 || len(want["err7"]) != 1 || len(want[""]) != 23 {
		t.Fatalf("before: %v", want)
	}
	if err := r.db.DropSearchIndex(); err != nil {
		t.Fatal(err)
	}
	if got := results(); len(got["division"]) != 0 || len(got["level:error"]) != 0 {
		t.Fatalf("the index was not dropped: %v", got)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// Stop after the second batch of 5 issues, as a restart would.
	ctx, cancel := context.WithCancel(context.Background())
	batches := 0
	fillBatchDone = func() {
		if batches++; batches == 2 {
			cancel()
		}
	}
	defer func() { fillBatchDone = nil }()
	if err := FillSearch(ctx, r.db, log, 5); err != context.Canceled {
		t.Fatalf("FillSearch stopped with %v", err)
	}
	f, err := r.db.SearchFillProgress()
	if err != nil || f.Done || f.After != 10 {
		t.Fatalf("progress after two batches: %+v, %v", f, err)
	}
	if got := results(); len(got["release:1.*"]) == 0 || slices.Equal(got["release:1.*"], want["release:1.*"]) {
		t.Errorf("release:1.* half way: %v (all: %v)", got["release:1.*"], want["release:1.*"])
	}
	batches = 0
	if err := FillSearch(context.Background(), r.db, log, 5); err != nil {
		t.Fatal(err)
	}
	if batches != 3 {
		t.Errorf("the fill resumed with %d batches, want 3 (issues 11 to 23)", batches)
	}
	if f, _ := r.db.SearchFillProgress(); !f.Done {
		t.Errorf("progress at the end: %+v", f)
	}
	got := results()
	for _, q := range queries {
		if !slices.Equal(got[q], want[q]) {
			t.Errorf("%q after the fill: %v, want %v", q, got[q], want[q])
		}
	}
	// Done: a later start does nothing.
	batches = 0
	if err := FillSearch(context.Background(), r.db, log, 5); err != nil || batches != 0 {
		t.Errorf("a fill after done: %d batches, %v", batches, err)
	}
}
