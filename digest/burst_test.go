package digest

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
)

// randomWords returns n random words, as a message naming values has.
func randomWords(rng *rand.Rand, n int) []string {
	words := make([]string, n)
	for j := range words {
		words[j] = fmt.Sprintf("w%x", rng.Uint64()>>20)
	}
	return words
}

// A burst of new issues changes a page of the tree or more for each
// issue's words (its search postings). A store batch stops once it has
// changed maxTreePages pages, and the rest of the prepared batch commits
// in the next one: each event is normalised once, every good event is
// stored and found by its words, and the poison events among them are
// set aside as in any batch.
func TestBurstOfNewIssuesBounded(t *testing.T) {
	r := newRig(t)
	withPoison(t)
	defer func(n int) { maxTreePages = n }(maxTreePages)
	maxTreePages = 32
	poisonNorm, poisonCommitHook := testHookNormalize, testHookCommit
	var normalised atomic.Int64
	testHookNormalize = func(payload []byte) {
		normalised.Add(1)
		poisonNorm(payload)
	}
	var pages []int
	testHookCommit = func(items []*item, p int) error {
		pages = append(pages, p)
		return poisonCommitHook(items, p)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 120
	good := map[string]string{} // event id → a word of its value
	for k := range n {
		words := randomWords(rng, 40)
		if poison := map[int]string{70: poisonDigest, 100: poisonCommit}[k]; poison != "" {
			r.spoolEvent(r.pid, poison)
			continue
		}
		id, _ := r.spoolEvent(r.pid, strings.Join(words, " ")) // a new issue: values group apart
		good[id] = words[0]
	}
	if err := r.w.Drain(); err != nil {
		t.Fatal(err)
	}
	if got := normalised.Load(); got != n {
		t.Errorf("%d events normalised, want each of the %d once", got, n)
	}
	bounded := 0
	for _, p := range pages {
		// The event that crosses the bound adds its own pages to it.
		if p > maxTreePages+64 {
			t.Errorf("a store batch changed %d tree pages, bound %d: %v", p, maxTreePages, pages)
		}
		if p >= maxTreePages {
			bounded++
		}
	}
	if bounded < 2 {
		t.Errorf("store batches of %v tree pages: want the burst split at %d", pages, maxTreePages)
	}
	if got := r.w.Stats().Digested; got != int64(len(good)) {
		t.Errorf("digested %d, want %d", got, len(good))
	}
	if es := r.quarantined(); len(es) != 2 {
		t.Errorf("%d events quarantined, want the 2 poison ones: %+v", len(es), es)
	}
	for id, word := range good {
		e, _, err := r.db.Event(mustID(t, id))
		if err != nil {
			t.Errorf("event %s not stored: %v", id, err)
			continue
		}
		page, err := r.db.SearchIssues(r.pid, word, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Issues) != 1 || page.Issues[0].ID != e.IssueID {
			t.Errorf("search %q found %d issues, want issue %d", word, len(page.Issues), e.IssueID)
		}
	}
}
