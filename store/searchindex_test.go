package store

import (
	"fmt"
	"testing"
)

// TestSearchIndexBounded checks the per-issue budgets: the index of an
// issue stops growing after its first distinct values, and a deleted
// issue leaves nothing behind.
func TestSearchIndexBounded(t *testing.T) {
	db, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, _ := db.CreateProject("p")
	var iid uint32
	for batch := range 3 {
		err := db.Digest(func(tx *Tx) error {
			pr, _ := tx.Project(p.ID)
			iss, err := tx.IssueForGrouping(p.ID, "k")
			if err == ErrNotFound {
				iss = &Issue{CalculatedType: "E"}
				if err := tx.CreateIssue(pr, iss, "k", "k", "test"); err != nil {
					return err
				}
			}
			iid = iss.ID
			for i := range 100 {
				n := batch*100 + i
				for _, kv := range [][2]string{{"trace", fmt.Sprintf("t%d", n)}, {"release", fmt.Sprintf("r%d", n)}, {"level", "error"}} {
					if err := tx.IndexTag(iss, kv[0], kv[1]); err != nil {
						return err
					}
				}
				if err := tx.IndexText(iss, fmt.Sprintf("word%d common", n)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		prefix string
		want   int
	}{
		{searchTermPrefix(p.ID, "ttrace\x00"), maxUniqueTagValues},
		{searchTermPrefix(p.ID, "trelease\x00"), maxTagValues},
		{searchTermPrefix(p.ID, "tlevel\x00"), 1},
		{searchTermPrefix(p.ID, "w"), 301},
	} {
		if got := countKeys(db, tt.prefix); got != tt.want {
			t.Errorf("%q: %d postings, want %d", tt.prefix, got, tt.want)
		}
	}
	terms := 0
	db.view(func(tx *kvTx) error {
		readTerms(tx, iid, func(string) bool { terms++; return true })
		return nil
	})
	if want := maxUniqueTagValues + maxTagValues + 1 + 301; terms != want {
		t.Errorf("the issue packs %d terms, want %d", terms, want)
	}
	page, err := db.SearchIssues(p.ID, "release:r99 word299", "", 10)
	if err != nil || len(page.Issues) != 1 {
		t.Errorf("release:r99 word299: %v, %v", page, err)
	}
	if err := db.DeleteIssue(iid); err != nil {
		t.Fatal(err)
	}
	if n := countKeys(db, "sterm:") + countKeys(db, "iterm:"); n != 0 {
		t.Errorf("%d index keys left after the delete", n)
	}
}

// TestNewStoreNeedsNoSearchFill checks that a store created by this build
// starts with the search fill done: it holds no issue stored before the
// index, so the first start must not scan every issue for one.
func TestNewStoreNeedsNoSearchFill(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir)
	if f, err := db.SearchFillProgress(); err != nil || !f.Done {
		t.Fatalf("new store: fill %+v, %v", f, err)
	}
	if err := db.DropSearchIndex(); err != nil {
		t.Fatal(err)
	}
	db.Close()
	// Reopened, the format key is there: the dropped index stays to fill.
	db = openTest(t, dir)
	if f, err := db.SearchFillProgress(); err != nil || f.Done {
		t.Fatalf("reopened after the index was dropped: fill %+v, %v", f, err)
	}
}

// TestIndexRepeatsInABatch indexes an issue's tags and texts more than once
// in one batch, as its events repeat them, and across two issues: each
// issue is found by every one of its terms and by no other issue's.
func TestIndexRepeatsInABatch(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir())
	p, _ := db.CreateProject("p")
	ids := map[string]uint32{}
	err := db.Digest(func(tx *Tx) error {
		pr, _ := tx.Project(p.ID)
		for _, name := range []string{"a", "b"} {
			iss := &Issue{CalculatedType: "E"}
			if err := tx.CreateIssue(pr, iss, name, name, "test"); err != nil {
				return err
			}
			ids[name] = iss.ID
			for i := range 3 {
				for _, s := range []string{"shared words", fmt.Sprint("only", name, i)} {
					if err := tx.IndexText(iss, s); err != nil {
						return err
					}
				}
				for _, v := range []string{"prod", fmt.Sprint("v", name, i%2)} {
					if err := tx.IndexTag(iss, "region", v); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string][]string{
		"shared": {"a", "b"}, "onlya0": {"a"}, "onlya2": {"a"}, "onlyb1": {"b"},
		"region:prod": {"a", "b"}, "region:va1": {"a"}, "region:vb0": {"b"}, "region:vb1": {"b"},
	} {
		page, err := db.SearchIssues(p.ID, q, "", 10)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		got := map[uint32]bool{}
		for _, iss := range page.Issues {
			got[iss.ID] = true
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d issues, want %v", q, len(got), want)
		}
		for _, name := range want {
			if !got[ids[name]] {
				t.Errorf("%s: issue %s not found", q, name)
			}
		}
	}
}
