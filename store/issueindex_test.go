package store

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// makeIssues creates n issues in project pid in batches, with last-seen
// times and event counts drawn from r, and returns their ids.
func makeIssues(t testing.TB, db *DB, pid, n int, r *rand.Rand) []uint32 {
	t.Helper()
	var ids []uint32
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for done := 0; done < n; {
		err := db.Digest(func(tx *Tx) error {
			p, err := tx.Project(pid)
			if err != nil {
				return err
			}
			for i := 0; i < 500 && done < n; i++ {
				h := fmt.Sprintf("h%d", done)
				iss := &Issue{
					CalculatedType: "E", CalculatedValue: h,
					FirstSeen:          base,
					LastSeen:           base.Add(time.Duration(r.IntN(1000)) * time.Minute),
					DigestedEventCount: int64(1 + r.IntN(50)),
				}
				if err := tx.CreateIssue(p, iss, h, h, "test"); err != nil {
					return err
				}
				ids = append(ids, iss.ID)
				done++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// brute is the reference: every issue of the project, filtered and
// ordered the way Issues documents.
func brute(t *testing.T, db *DB, pid int, f IssueFilter) []uint32 {
	t.Helper()
	return bruteOf(allIssues(db, pid), f)
}

// allIssues reads every issue row of project pid.
func allIssues(db *DB, pid int) []Issue {
	var all []Issue
	db.view(func(tx *kvTx) error {
		tx.ascend("issue:", func(k, v string) bool {
			var iss Issue
			if jsonUnmarshal(v, &iss) == nil && iss.ProjectID == pid {
				all = append(all, iss)
			}
			return true
		})
		return nil
	})
	return all
}

// bruteOf is brute over the issues all.
func bruteOf(all []Issue, f IssueFilter) []uint32 {
	state := f.State
	if state == "" {
		state = StateAll
	}
	var out []Issue
	for _, iss := range all {
		if slices.Contains(iss.states(), state) && (f.Match == nil || f.Match(&iss)) {
			out = append(out, iss)
		}
	}
	key := func(i *Issue) int64 { return sortKeyForTest(i, f.Sort) }
	slices.SortFunc(out, func(a, b Issue) int {
		c := func(x, y *Issue) int {
			if kx, ky := key(x), key(y); kx != ky {
				if kx < ky {
					return -1
				}
				return 1
			}
			return int(x.ID) - int(y.ID)
		}
		if f.Desc {
			return c(&b, &a)
		}
		return c(&a, &b)
	})
	var ids []uint32
	for _, iss := range out {
		ids = append(ids, iss.ID)
	}
	return ids
}

func idsOf(is []Issue) []uint32 {
	var out []uint32
	for _, i := range is {
		out = append(out, i.ID)
	}
	return out
}

// Every sort, state and direction reads the same pages as sorting all
// issues would, before and after actions change the issues' states, and the
// state counts agree.
func TestIssuesPagedByIndex(t *testing.T) {
	t.Parallel() // a store of its own; runs beside TestKillDuringTreeWrites
	db := openTest(t, t.TempDir())
	p, _ := db.CreateProject("app")
	r := rand.New(rand.NewPCG(1, 2))
	ids := makeIssues(t, db, p.ID, 700, r)
	other, _ := db.CreateProject("other")
	makeIssues(t, db, other.ID, 50, r)

	check := func(stage string) {
		t.Helper()
		all := allIssues(db, p.ID)
		for _, sort := range []IssueSort{SortDigestOrder, SortLastSeen, SortEventCount} {
			for _, st := range []IssueState{StateAll, StateOpen, StateUnresolved, StateMuted, StateResolved} {
				for _, desc := range []bool{false, true} {
					f := IssueFilter{Project: p.ID, Sort: sort, State: st, Desc: desc}
					want := bruteOf(all, f)
					if n, _ := db.IssueCount(p.ID, st); n != int64(len(want)) {
						t.Errorf("%s: IssueCount(%s) = %d, want %d", stage, st, n, len(want))
					}
					for _, off := range []int{0, 1, 99, len(want) - 3, len(want) + 5} {
						if off < 0 {
							continue
						}
						f.Offset, f.Limit = off, 100
						got, more, err := db.Issues(f)
						if err != nil {
							t.Fatal(err)
						}
						end := min(len(want), off+100)
						var w []uint32
						if off < len(want) {
							w = want[off:end]
						}
						if !slices.Equal(idsOf(got), w) || more != (end < len(want)) {
							t.Fatalf("%s: Issues(%+v) = %v (more %v), want %v", stage, f, idsOf(got), more, w)
						}
					}
				}
			}
		}
	}
	check("fresh")
	if _, err := db.ApplyActions(ids[:200], ActionResolve, "ann"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ApplyActions(ids[150:300], ActionMute, "ann"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ApplyActions(ids[100:120], ActionReopen, "ann"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ApplyActions(ids[500:520], ActionResolveNext, "ann"); err != nil {
		t.Fatal(err)
	}
	check("after actions")

	// A filter on the issue itself counts offsets over what it keeps.
	f := IssueFilter{Project: p.ID, Sort: SortLastSeen, Desc: true, State: StateOpen,
		Match: func(i *Issue) bool { return strings.HasSuffix(i.CalculatedValue, "7") }}
	want := brute(t, db, p.ID, f)
	f.Offset, f.Limit = 5, 10
	got, _, _ := db.Issues(f)
	if !slices.Equal(idsOf(got), want[5:15]) {
		t.Errorf("matched page = %v, want %v", idsOf(got), want[5:15])
	}

	// Deleting issues takes them out of every index and count.
	for _, id := range ids[600:610] {
		if err := db.DeleteIssue(id); err != nil {
			t.Fatal(err)
		}
	}
	check("after deletes")

	// A new release resolves the "next release" issues through their index.
	if _, _, err := db.CreateRelease(p.ID, "2.0", time.Time{}, func([]Release, string, time.Time) (int, bool) { return 0, true }); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.IssueCount(p.ID, StateResolved); n != 200-20+20 {
		t.Errorf("resolved after release = %d", n)
	}
	iss, _ := db.Issue(ids[505])
	if iss.IsResolvedByNextRelease || !slices.Contains(iss.FixedAt, "2.0") {
		t.Errorf("issue resolved in the next release after 2.0 = %+v", iss)
	}
	check("after release")
}

// Groupings are found through the issue's reverse keys, and deleting an
// issue removes its groupings, tags, history and counters.
func TestIssueKeysGoWithTheIssue(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir())
	p, _ := db.CreateProject("app")
	addEvents(t, db, p.ID, "a", 0, 3)
	addEvents(t, db, p.ID, "b", 10, 3)
	iss, _ := db.IssueByRef("APP-1")
	gs, err := db.Groupings(iss)
	if err != nil || len(gs) != 1 || gs[0].Key != "a" {
		t.Fatalf("Groupings = %+v, %v", gs, err)
	}
	db.AddComment(iss.ID, "ann", "looked at it")
	db.Digest(func(tx *Tx) error { return tx.CountHour(IssueSubject(iss.ID), db.Now(), 3) })
	if err := db.DeleteIssue(iss.ID); err != nil {
		t.Fatal(err)
	}
	var left []string
	db.view(func(tx *kvTx) error {
		for _, prefix := range []string{"issue:", "igrp:", "grouping:", "itag:", "itagn:", "history:", "hourly:", "ils:", "iec:", "pissue:"} {
			tx.ascend(prefix, func(k, v string) bool {
				if strings.Contains(k, pad10(iss.ID)) || strings.Contains(k, IssueSubject(iss.ID)+"\x00") ||
					strings.HasSuffix(k, ":"+IssueSubject(iss.ID)) || strings.HasPrefix(k, "grouping:") && strings.Contains(v, fmt.Sprintf(`"issue":%d,`, iss.ID)) {
					left = append(left, k)
				}
				return true
			})
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("keys left after deleting issue %d: %q", iss.ID, left)
	}
	if n, _ := db.IssueCount(p.ID, StateAll); n != 1 {
		t.Errorf("issues after delete = %d, want 1", n)
	}
}

// sortKeyForTest is an issue's key in a list sorted by s, as the tests'
// brute-force references compute it.
func sortKeyForTest(iss *Issue, s IssueSort) int64 {
	switch s {
	case SortLastSeen:
		return iss.LastSeen.UnixMilli()
	case SortEventCount:
		return iss.DigestedEventCount
	}
	return int64(iss.DigestOrder)
}
