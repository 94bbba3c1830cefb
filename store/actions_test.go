package store

import (
	"errors"
	"strings"
	"testing"
)

func TestActionValidity(t *testing.T) {
	t.Parallel()
	open := Issue{}
	muted := Issue{IsMuted: true}
	resolved := Issue{IsResolved: true}
	for _, tt := range []struct {
		a     Action
		state Issue
		want  bool
	}{
		{ActionResolve, open, true}, {ActionResolve, muted, true}, {ActionResolve, resolved, false},
		{ActionReopen, open, false}, {ActionReopen, muted, false}, {ActionReopen, resolved, true},
		{ActionMute, open, true}, {ActionMute, muted, false}, {ActionMute, resolved, false},
		{ActionUnmute, open, false}, {ActionUnmute, muted, true}, {ActionUnmute, resolved, false},
		{"resolved_next", open, false}, {"delete-everything", open, false},
	} {
		if got := tt.a.Allowed(&tt.state); got != tt.want {
			t.Errorf("%s allowed on %+v = %v, want %v", tt.a, tt.state, got, tt.want)
		}
	}
}

func TestApplyActionAndHistory(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir())
	p, _ := db.CreateProject("p")
	addEvents(t, db, p.ID, "a", 0, 1)
	addEvents(t, db, p.ID, "b", 1, 1)
	issues, _, _ := db.Issues(IssueFilter{Project: p.ID})
	a, b := issues[0].ID, issues[1].ID

	iss, err := db.ApplyAction(a, ActionMute, "ann", "noisy")
	if err != nil || !iss.IsMuted {
		t.Fatalf("mute: %v, %+v", err, iss)
	}
	if _, err := db.ApplyAction(a, ActionMute, "ann", ""); !errors.Is(err, ErrInvalidAction) {
		t.Errorf("second mute = %v, want ErrInvalidAction", err)
	}
	iss, err = db.ApplyAction(a, ActionResolve, "ann", "")
	if err != nil || !iss.IsResolved || iss.IsMuted {
		t.Fatalf("resolve must unmute: %v, %+v", err, iss)
	}
	if _, err := db.ApplyAction(a, ActionMute, "ann", ""); !errors.Is(err, ErrInvalidAction) {
		t.Errorf("mute resolved = %v, want ErrInvalidAction", err)
	}
	if _, err := db.ApplyAction(a, ActionReopen, "bob", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ApplyAction(999, ActionResolve, "bob", ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown issue = %v", err)
	}
	if err := db.AddComment(a, "bob", "  looked at it \x00 "); err != nil {
		t.Fatal(err)
	}
	if err := db.AddComment(a, "bob", "   "); err == nil {
		t.Error("empty comment accepted")
	}
	if err := db.AddComment(a, "bob", strings.Repeat("é", MaxCommentLen)); err != nil {
		t.Fatal(err)
	}

	h, err := db.History(a)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range h {
		kinds = append(kinds, e.Kind+"/"+e.User)
	}
	if got, want := strings.Join(kinds, " "), "muted/ann resolved/ann reopened/bob comment/bob comment/bob"; got != want {
		t.Errorf("history = %s, want %s", got, want)
	}
	if h[0].Comment != "noisy" {
		t.Errorf("mute comment = %q", h[0].Comment)
	}
	if c := h[4].Comment; len(c) > MaxCommentLen || !strings.HasPrefix(c, "éé") {
		t.Errorf("long comment not cut on a character: %d bytes", len(c))
	}

	unapplied, err := db.ApplyActions([]uint32{a, b}, ActionMute, "ann")
	if err != nil || len(unapplied) != 0 {
		t.Fatalf("bulk mute = %v, %v", unapplied, err)
	}
	unapplied, err = db.ApplyActions([]uint32{a, b}, ActionUnmute, "ann")
	if err != nil || len(unapplied) != 0 {
		t.Fatalf("bulk unmute = %v, %v", unapplied, err)
	}
	db.ApplyAction(b, ActionResolve, "ann", "")
	unapplied, err = db.ApplyActions([]uint32{a, b}, ActionMute, "ann")
	if err != nil || len(unapplied) != 1 || unapplied[0] != b {
		t.Errorf("bulk mute with a resolved issue = %v, %v; want [%d]", unapplied, err, b)
	}
	if _, err := db.ApplyActions([]uint32{a, 999}, ActionUnmute, "ann"); !errors.Is(err, ErrNotFound) {
		t.Errorf("bulk with unknown id = %v", err)
	}
	if iss, _ := db.Issue(a); !iss.IsMuted {
		t.Error("failed bulk action was partly committed")
	}
	if h, _ := db.History(b); len(h) != 3 {
		t.Errorf("history of b has %d entries, want 3", len(h))
	}
}

func TestGroupings(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir())
	p, _ := db.CreateProject("p")
	addEvents(t, db, p.ID, "a", 0, 2)
	addEvents(t, db, p.ID, "b", 2, 1)
	issues, _, _ := db.Issues(IssueFilter{Project: p.ID})
	gs, err := db.Groupings(&issues[1])
	if err != nil || len(gs) != 1 || gs[0].Key != "b" || gs[0].Mechanism != "test" {
		t.Errorf("Groupings = %+v, %v", gs, err)
	}
}

func TestAssignAndFilter(t *testing.T) {
	db := openTest(t, t.TempDir())
	p, _ := db.CreateProject("p")
	addEvents(t, db, p.ID, "a", 0, 1)
	addEvents(t, db, p.ID, "b", 1, 1)
	issues, _, _ := db.Issues(IssueFilter{Project: p.ID})
	a := issues[0].ID
	if iss, err := db.Assign(a, "ann", "bob"); err != nil || iss.AssignedTo != "ann" {
		t.Fatalf("assign: %v, %+v", err, iss)
	}
	if _, err := db.Assign(a, "ann", "bob"); err != nil {
		t.Fatal(err)
	}
	for _, sort := range []IssueSort{SortDigestOrder, SortLastSeen, SortEventCount} {
		got, _, err := db.Issues(IssueFilter{Project: p.ID, Sort: sort, AssignedTo: "ann"})
		if err != nil || len(got) != 1 || got[0].ID != a {
			t.Errorf("sort %s: assigned to ann = %v, %v; want only %d", sort, got, err, a)
		}
	}
	if got, _, _ := db.Issues(IssueFilter{Project: p.ID, AssignedTo: "bob"}); len(got) != 0 {
		t.Errorf("assigned to bob: %d issues, want 0", len(got))
	}
	h, _ := db.History(a)
	n := 0
	for _, e := range h {
		if e.Kind == HistoryAssigned {
			n++
			if e.Assignee != "ann" || e.User != "bob" {
				t.Errorf("history entry %+v", e)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d assignment entries, want 1 (assigning again changes nothing)", n)
	}
	// Both assigned: sorted as asked, filtered by state.
	b := issues[1].ID
	db.Assign(b, "ann", "bob")
	db.ApplyAction(b, ActionMute, "bob", "")
	got, _, _ := db.Issues(IssueFilter{Project: p.ID, AssignedTo: "ann", Sort: SortDigestOrder, Desc: true})
	if len(got) != 2 || got[0].DigestOrder < got[1].DigestOrder {
		t.Errorf("newest first: %v", got)
	}
	if got, more, _ := db.Issues(IssueFilter{Project: p.ID, AssignedTo: "ann", Limit: 1}); len(got) != 1 || !more {
		t.Errorf("a page of 1: %d issues, more %v", len(got), more)
	}
	if got, _, _ := db.Issues(IssueFilter{Project: p.ID, AssignedTo: "ann", State: StateOpen}); len(got) != 1 || got[0].ID != a {
		t.Errorf("open and assigned to ann: %v, want only %d", got, a)
	}
	if iss, err := db.Assign(a, "", "bob"); err != nil || iss.AssignedTo != "" {
		t.Fatalf("unassign: %v, %+v", err, iss)
	}
	if _, err := db.Assign(b, "cat", "bob"); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := db.Issues(IssueFilter{Project: p.ID, AssignedTo: "ann"}); len(got) != 0 {
		t.Errorf("after unassigning and reassigning, ann still has %d issues", len(got))
	}
	if _, err := db.Assign(99999, "ann", "bob"); !errors.Is(err, ErrNotFound) {
		t.Errorf("assign a missing issue: %v, want ErrNotFound", err)
	}
}

func TestEditAndDeleteComment(t *testing.T) {
	db := openTest(t, t.TempDir())
	p, _ := db.CreateProject("p")
	addEvents(t, db, p.ID, "a", 0, 1)
	issues, _, _ := db.Issues(IssueFilter{Project: p.ID})
	id := issues[0].ID
	if err := db.AddComment(id, "ann", "first"); err != nil {
		t.Fatal(err)
	}
	comment := func() *HistoryEntry {
		h, _ := db.History(id)
		for i := range h {
			if h[i].Kind == HistoryComment {
				return &h[i]
			}
		}
		return nil
	}
	c := comment()
	yes := func(*HistoryEntry) error { return nil }
	no := errors.New("not yours")
	if err := db.EditComment(id, c.Ref(), func(*HistoryEntry) error { return no }, "x"); err != no {
		t.Errorf("edit refused by may: %v", err)
	}
	if err := db.EditComment(id, c.Ref(), yes, "  "); !errors.Is(err, ErrInvalid) {
		t.Errorf("edit to blank: %v, want ErrInvalid", err)
	}
	if err := db.EditComment(id, c.Ref(), yes, "second"); err != nil {
		t.Fatal(err)
	}
	if c2 := comment(); c2.Comment != "second" || c2.Edited.IsZero() || c2.User != "ann" || c2.Ref() != c.Ref() {
		t.Errorf("after edit: %+v", c2)
	}
	// Only comments: the first-seen entry cannot be edited or deleted.
	h, _ := db.History(id)
	for _, e := range h {
		if e.Kind != HistoryComment {
			if err := db.DeleteComment(id, e.Ref(), yes); !errors.Is(err, ErrNotFound) {
				t.Errorf("delete a %s entry: %v, want ErrNotFound", e.Kind, err)
			}
		}
	}
	if err := db.DeleteComment(id, c.Ref(), yes); err != nil {
		t.Fatal(err)
	}
	if comment() != nil {
		t.Error("the comment is still there")
	}
	if err := db.DeleteComment(id, c.Ref(), yes); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete twice: %v, want ErrNotFound", err)
	}
}
