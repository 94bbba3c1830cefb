package store

import (
	"testing"
	"time"
)

// A project written by a build from before the message rule (the format-1
// fixture) has no grouping rules recorded: its first digest batch after the
// upgrade opens the 30-day transition window and saves when; a project
// created now has none.
func TestGroupingRulesOfOldProjects(t *testing.T) {
	t.Parallel()
	db := openTest(t, restoreFormat1(t))
	p, err := db.ProjectBySlug("app")
	if err != nil {
		t.Fatal(err)
	}
	if p.GroupingRules != 0 || !p.GroupingUpgradedAt.IsZero() {
		t.Fatalf("old project: rules %d upgraded %v", p.GroupingRules, p.GroupingUpgradedAt)
	}
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	var open bool
	err = db.Digest(func(tx *Tx) error {
		tp, err := tx.Project(p.ID)
		open = err == nil && tp.GroupingTransition(now)
		return err
	})
	if err != nil || !open {
		t.Fatalf("window open = %v, %v", open, err)
	}
	p, _ = db.Project(p.ID)
	if p.GroupingRules != CurrentGroupingRules || !p.GroupingUpgradedAt.Equal(now) {
		t.Errorf("after the first batch: rules %d upgraded %v", p.GroupingRules, p.GroupingUpgradedAt)
	}
	if !p.GroupingTransition(now.Add(GroupingTransitionPeriod - time.Second)) {
		t.Error("window closed before 30 days")
	}
	if p.GroupingTransition(now.Add(GroupingTransitionPeriod)) {
		t.Error("window open after 30 days")
	}
	np, err := db.CreateProject("New")
	if err != nil {
		t.Fatal(err)
	}
	if np.GroupingTransition(now) || !np.GroupingUpgradedAt.IsZero() {
		t.Errorf("a new project has a transition window")
	}
}
