package store

import (
	"context"
	"fmt"
	"testing"
)

// TestSweepSearchLeftovers builds the keys an older build's deletes left
// (postings of a project that is gone, term lists and facts of issues that
// are gone), more of them than one read of the sweep looks at, between
// keys that must stay, and checks that the sweep deletes exactly the
// former, once per store.
func TestSweepSearchLeftovers(t *testing.T) {
	db := openTest(t, t.TempDir())
	gone, _ := db.CreateProject("gone")
	kept, _ := db.CreateProject("kept")
	const perProject = 1200 // more ifact: keys than sweepScan
	hash := func(i int) string { return fmt.Sprintf("h%d", i) }
	addEventsWith(t, db, gone.ID, 0, perProject, hash, nil)
	addEventsWith(t, db, kept.ID, perProject, perProject, hash, nil)
	ids := map[int][]uint32{}
	err := db.Digest(func(tx *Tx) error {
		for _, p := range []*Project{gone, kept} {
			from := 0
			if p == kept {
				from = perProject
			}
			for i := from; i < from+perProject; i++ {
				iss, err := tx.IssueForGrouping(p.ID, hash(i))
				if err != nil {
					return err
				}
				ids[p.ID] = append(ids[p.ID], iss.ID)
				if err := tx.IndexTag(iss, "release", "r1"); err != nil {
					return err
				}
				if err := tx.IndexText(iss, fmt.Sprintf("word%d shared", i%7)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// What an older build's delete of project "gone" left: its project
	// and issue keys went, its search keys stayed. Of project "kept", a
	// third of the issues went the same way. A project id of seven digits
	// sorts among the others' keys.
	var removedIssues []uint32
	removedIssues = append(removedIssues, ids[gone.ID]...)
	var keptIssues []uint32
	for i, id := range ids[kept.ID] {
		if i%3 == 0 {
			removedIssues = append(removedIssues, id)
		} else {
			keptIssues = append(keptIssues, id)
		}
	}
	err = db.update(func(tx *kvTx) error {
		keys := []string{projectKey(gone.ID), keySearchSweep}
		for _, id := range removedIssues {
			keys = append(keys, issueKey(id))
		}
		if err := tx.deleteKeys(keys); err != nil {
			return err
		}
		if _, _, err := tx.Set(searchTermPrefix(1000000, "x"), "1", nil); err != nil {
			return err
		}
		// A key of the family that names no project (sorting before
		// every posting) is left alone, and the sweep goes on past it.
		_, _, err := tx.Set("sterm:0", "1", nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	wantPostings := countKeys(db, searchTermPrefix(gone.ID, "")) + 1
	wantIssueKeys := 0
	for _, id := range removedIssues {
		wantIssueKeys += countKeys(db, issueTermsPrefix(id)) + countKeys(db, issueFactsKey(id))
	}
	keptPostings := countKeys(db, searchTermPrefix(kept.ID, ""))
	if wantPostings < 3 || wantIssueKeys < 2*len(removedIssues) || keptPostings == 0 {
		t.Fatalf("setup: %d postings, %d issue keys to sweep, %d to keep", wantPostings, wantIssueKeys, keptPostings)
	}

	n, err := db.SweepSearchLeftovers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != wantPostings+wantIssueKeys {
		t.Errorf("swept %d keys, want %d postings + %d issue keys", n, wantPostings, wantIssueKeys)
	}
	if left := countKeys(db, searchTermPrefix(gone.ID, "")) + countKeys(db, searchTermPrefix(1000000, "")); left != 0 {
		t.Errorf("%d postings of projects that are gone left", left)
	}
	for _, id := range removedIssues {
		if left := countKeys(db, issueTermsPrefix(id)) + countKeys(db, issueFactsKey(id)); left != 0 {
			t.Fatalf("issue %d: %d search keys left", id, left)
		}
	}
	db.view(func(tx *kvTx) error {
		if _, err := tx.Get("sterm:0"); err != nil {
			t.Errorf("a key naming no project: %v", err)
		}
		return nil
	})
	if got := countKeys(db, searchTermPrefix(kept.ID, "")); got != keptPostings {
		t.Errorf("project kept: %d postings, want %d", got, keptPostings)
	}
	for _, id := range keptIssues {
		if countKeys(db, issueTermsPrefix(id)) == 0 || countKeys(db, issueFactsKey(id)) != 1 {
			t.Fatalf("issue %d lost its term list or facts", id)
		}
	}
	// A page may stop early (the search's deadline) and say where the
	// next one goes on: all pages together hold every issue kept.
	found := 0
	for cursor := ""; ; {
		page, err := db.SearchIssues(kept.ID, "shared release:r1", cursor, 1000)
		if err != nil {
			t.Fatalf("search after the sweep: %v", err)
		}
		found += len(page.Issues)
		if page.Next == "" {
			break
		}
		if page.Next == cursor {
			t.Fatalf("search after the sweep: no progress past %q", cursor)
		}
		cursor = page.Next
	}
	if found != len(keptIssues) {
		t.Errorf("search after the sweep found %d issues, want %d", found, len(keptIssues))
	}

	// Once done, the sweep does not run again.
	db.update(func(tx *kvTx) error {
		_, _, err := tx.Set(searchTermPrefix(gone.ID, "late"), "1", nil)
		return err
	})
	if n, err := db.SweepSearchLeftovers(context.Background()); n != 0 || err != nil {
		t.Errorf("second sweep: %d keys, %v", n, err)
	}
	if countKeys(db, searchTermPrefix(gone.ID, "")) != 1 {
		t.Error("the second call swept")
	}
}

// TestSweepNewStoreAndCancel checks that a new store has nothing to sweep
// and that a sweep cut short is not recorded as done.
func TestSweepNewStoreAndCancel(t *testing.T) {
	db := openTest(t, t.TempDir())
	db.update(func(tx *kvTx) error {
		_, _, err := tx.Set(searchTermPrefix(42, "x"), "1", nil)
		return err
	})
	if n, err := db.SweepSearchLeftovers(context.Background()); n != 0 || err != nil {
		t.Fatalf("a new store swept %d keys, %v", n, err)
	}
	db.update(func(tx *kvTx) error {
		_, err := tx.Delete(keySearchSweep)
		return err
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := db.SweepSearchLeftovers(ctx); err == nil {
		t.Fatal("a cancelled sweep returned no error")
	}
	if n, err := db.SweepSearchLeftovers(context.Background()); n != 1 || err != nil {
		t.Fatalf("the sweep after a cancelled one: %d keys, %v; want 1", n, err)
	}
}
