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
