package store

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tinysink/tinysink/store/search"
)

// propIssue is what the brute-force evaluator knows of an issue.
type propIssue struct {
	iss   *Issue
	terms map[string]bool
}

// TestSearchMatchesBruteForce checks db.Search against a brute-force
// evaluation of the same parsed query over random issues: the same
// issues in the same order, page after page through the cursors, in
// every sort, both directions and every state tab, with the candidate
// cap and the per-page work both at their defaults and small (so that
// every plan, and pages cut short by the work bound, are exercised).
func TestSearchMatchesBruteForce(t *testing.T) {
	db, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	p, _ := db.CreateProject("p")
	other, _ := db.CreateProject("other")
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	levels := []string{"error", "warning", "info", "fatal"}
	envs := []string{"production", "production-eu", "staging", "development", "prod"}
	words := []string{"timeout", "time", "timer", "handler", "handle", "order", "disk", "full", "zero", "division"}
	var all []propIssue
	const n = 3000
	for batch := range n / 500 {
		err := db.Digest(func(tx *Tx) error {
			for i := range 500 {
				k := batch*500 + i
				pr, _ := tx.Project(p.ID)
				if k%50 == 49 {
					pr, _ = tx.Project(other.ID)
				}
				first := base.Add(time.Duration(rng.IntN(400)) * time.Minute)
				iss := &Issue{
					CalculatedType: "E", FirstSeen: first,
					LastSeen:           first.Add(time.Duration(rng.IntN(600)) * time.Minute),
					DigestedEventCount: int64(1 + rng.IntN(30)),
					IsResolved:         rng.IntN(10) == 0,
				}
				iss.IsMuted = !iss.IsResolved && rng.IntN(8) == 0
				if err := tx.CreateIssue(pr, iss, fmt.Sprint(k), fmt.Sprint(k), "test"); err != nil {
					return err
				}
				pi := propIssue{iss: iss, terms: map[string]bool{}}
				tag := func(key, v string) error {
					pi.terms[search.TagTerm(key, v)] = true
					return tx.IndexTag(iss, key, v)
				}
				if err := tag("level", levels[rng.IntN(len(levels))]); err != nil {
					return err
				}
				if err := tag("environment", envs[rng.IntN(len(envs))]); err != nil {
					return err
				}
				if err := tag("release", fmt.Sprintf("1.0.%d", rng.IntN(40))); err != nil {
					return err
				}
				if rng.IntN(3) == 0 {
					if err := tag("user.id", fmt.Sprint(rng.IntN(300))); err != nil {
						return err
					}
				}
				var text []string
				for range 1 + rng.IntN(4) {
					text = append(text, words[rng.IntN(len(words))]+fmt.Sprint(rng.IntN(3)))
				}
				s := strings.Join(text, " ")
				search.Tokens(s, func(w string) bool { pi.terms[search.WordTerm(w)] = true; return true })
				if err := tx.IndexText(iss, s); err != nil {
					return err
				}
				all = append(all, pi)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Issues change after they were indexed, as actions change them.
	for i := 0; i < len(all); i += 37 {
		if all[i].iss.IsResolved {
			continue
		}
		if _, err := db.ApplyAction(all[i].iss.ID, ActionResolve, "t", ""); err != nil {
			t.Fatal(err)
		}
		all[i].iss.IsResolved, all[i].iss.IsMuted = true, false
	}

	atoms := func() string {
		day := func() string { return base.Add(time.Duration(rng.IntN(1000)) * time.Minute).Format(time.RFC3339) }
		switch rng.IntN(14) {
		case 0:
			return "level:" + levels[rng.IntN(len(levels))]
		case 1:
			return "environment:" + envs[rng.IntN(len(envs))]
		case 2:
			return fmt.Sprintf("release:1.0.%d", rng.IntN(45))
		case 3:
			return fmt.Sprintf("release:1.0.%d*", rng.IntN(5))
		case 4:
			return fmt.Sprintf("user.id:%d", rng.IntN(300))
		case 5:
			w := words[rng.IntN(len(words))]
			return w[:min(len(w), 3+rng.IntN(3))]
		case 6:
			return words[rng.IntN(len(words))] + fmt.Sprint(rng.IntN(3))
		case 7:
			return []string{"is:open", "is:unresolved", "is:resolved", "is:muted", "is:unmuted"}[rng.IntN(5)]
		case 8:
			return "first_seen:" + []string{">", "<", ">=", "<="}[rng.IntN(4)] + day()
		case 9:
			return "last_seen:" + []string{">", "<", ">=", "<="}[rng.IntN(4)] + day()
		case 10:
			return "zzznothing"
		case 11:
			return "level:" + levels[rng.IntN(len(levels))]
		}
		return words[rng.IntN(len(words))]
	}
	sorts := []IssueSort{SortLastSeen, SortEventCount, SortDigestOrder}
	states := []IssueState{StateAll, StateOpen, StateUnresolved, StateMuted, StateResolved}
	defer func(c, m, p, w, b int) {
		maxCandidates, minCandidates, maxSetPostings, maxSearchWork, walkProbe = c, m, p, w, b
	}(maxCandidates, minCandidates, maxSetPostings, maxSearchWork, walkProbe)
	for round := range 200 {
		var parts []string
		for range 1 + rng.IntN(3) {
			a := atoms()
			if rng.IntN(3) == 0 && !strings.Contains(a, "_seen:") {
				a = []string{"-", "!"}[rng.IntN(2)] + a
			}
			parts = append(parts, a)
		}
		if rng.IntN(8) == 0 {
			parts = []string{"-level:error", "-level:warning", "-level:info"}
			if rng.IntN(2) == 0 {
				parts = append(parts, "-level:fatal")
			}
		}
		r := SearchRequest{Project: p.ID, Query: strings.Join(parts, " "), Sort: sorts[rng.IntN(3)], Desc: rng.IntN(3) > 0,
			State: states[rng.IntN(len(states))], Limit: 1 + rng.IntN(60)}
		walkProbe = []int{200, 5, 50, 1}[round%4]
		switch round % 4 {
		case 0:
			maxCandidates, minCandidates, maxSetPostings, maxSearchWork = 3000, 100, 25000, 20000
		case 1:
			maxCandidates, minCandidates, maxSetPostings, maxSearchWork = 20, 20, 50, 400
		case 2:
			maxCandidates, minCandidates, maxSetPostings, maxSearchWork = 200, 100, 1000, 3000
		case 3:
			maxCandidates, minCandidates, maxSetPostings, maxSearchWork = 5, 5, 100000, 100000
		}
		q, err := search.Parse(r.Query, db.Now())
		if err != nil {
			t.Fatalf("%q: %v", r.Query, err)
		}
		want := bruteForce(all, q, r)
		var got []uint32
		for pages := 0; ; pages++ {
			if pages > n {
				t.Fatalf("%+v: the cursors do not end", r)
			}
			page, err := db.Search(r)
			if err != nil {
				t.Fatalf("%+v: %v", r, err)
			}
			for _, iss := range page.Issues {
				got = append(got, iss.ID)
			}
			if len(page.Issues) > r.Limit {
				t.Fatalf("%+v: %d issues on a page", r, len(page.Issues))
			}
			if page.Next == "" {
				break
			}
			if page.Next == r.Cursor {
				t.Fatalf("%+v: the cursor does not move", r)
			}
			r.Cursor = page.Next
		}
		if !slices.Equal(got, want) {
			t.Fatalf("round %d %q sort %s desc %v state %s limit %d: got %d issues %v, want %d %v",
				round, r.Query, r.Sort, r.Desc, r.State, r.Limit, len(got), head(got), len(want), head(want))
		}
	}
}

func head(ids []uint32) []uint32 { return ids[:min(len(ids), 12)] }

// bruteForce evaluates q and r over every issue.
func bruteForce(all []propIssue, q *search.Query, r SearchRequest) []uint32 {
	var hits []*Issue
	for _, pi := range all {
		iss := pi.iss
		if iss.ProjectID != r.Project || !contains(iss.states(), r.State) || !q.MatchState(iss.IsResolved, iss.IsMuted) ||
			!q.FirstSeen.Contains(iss.FirstSeen) || !q.LastSeen.Contains(iss.LastSeen) {
			continue
		}
		ok := q.Match(func(t search.Term) bool {
			k := t.IndexKey()
			if !t.Prefix {
				return pi.terms[k]
			}
			for term := range pi.terms {
				if strings.HasPrefix(term, k) {
					return true
				}
			}
			return false
		})
		if ok {
			hits = append(hits, iss)
		}
	}
	key := func(iss *Issue) int64 { return sortKeyForTest(iss, r.Sort) }
	slices.SortFunc(hits, func(a, b *Issue) int {
		c := cmpInt(key(a), key(b))
		if c == 0 {
			c = cmpInt(int64(a.ID), int64(b.ID))
		}
		if r.Desc {
			return -c
		}
		return c
	})
	out := []uint32{}
	for _, iss := range hits {
		out = append(out, iss.ID)
	}
	return out
}
