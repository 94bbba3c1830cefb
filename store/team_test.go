package store

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"
)

func TestTeams(t *testing.T) {
	db := openTest(t, t.TempDir())
	p1, _ := db.CreateProject("one")
	p2, _ := db.CreateProject("two")
	db.CreateUser("root", "password1", true)
	db.CreateUser("ann", "password1", false)
	db.CreateUser("bob", "password1", false)
	if _, err := db.CreateTeam("bad/name"); !IsValidation(err) {
		t.Errorf("CreateTeam(bad/name) = %v", err)
	}
	if _, err := db.CreateTeam("web"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateTeam("web"); !errors.Is(err, ErrExists) {
		t.Errorf("second CreateTeam = %v", err)
	}
	if err := db.SetTeamProjects("web", []int{p2.ID, 999}); err != nil {
		t.Fatal(err)
	}
	if err := db.SetTeamMember("web", "ann", RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if err := db.SetTeamMember("web", "bob", RoleMember); err != nil {
		t.Fatal(err)
	}
	if err := db.SetTeamMember("web", "nobody", RoleMember); !IsValidation(err) {
		t.Errorf("SetTeamMember(nobody) = %v", err)
	}
	if err := db.SetTeamMember("web", "bob", "owner"); !IsValidation(err) {
		t.Errorf("SetTeamMember(role owner) = %v", err)
	}
	ann, _ := db.User("ann")
	bob, _ := db.User("bob")
	if !ann.CanSee(p2.ID) || !ann.CanManage(p2.ID) || ann.CanSee(p1.ID) || !ann.CanManageTeam("web") {
		t.Errorf("team admin ann: see %v/%v manage %v", ann.CanSee(p1.ID), ann.CanSee(p2.ID), ann.CanManage(p2.ID))
	}
	if !bob.CanSee(p2.ID) || bob.CanManage(p2.ID) || bob.CanSee(p1.ID) || bob.CanManageTeam("web") {
		t.Errorf("member bob: see %v/%v manage %v", bob.CanSee(p1.ID), bob.CanSee(p2.ID), bob.CanManage(p2.ID))
	}
	// Team members get the team's alert emails.
	db.SetAlertAddress("bob", "bob@example.org")
	if rs, _ := db.AlertRecipients(p2.ID); len(rs) != 1 || rs[0].Address != "bob@example.org" {
		t.Errorf("recipients of the team's project = %+v", rs)
	}
	// The session's user carries the same.
	tok, _ := db.CreateSession("bob", time.Hour)
	if su, err := db.SessionUser(tok); err != nil || !su.CanSee(p2.ID) {
		t.Errorf("SessionUser(bob) = %v, %v", su, err)
	}
	// Stored users carry no derived fields: a direct grant is separate.
	if bob.Granted(p2.ID) {
		t.Error("a team project shows as a direct grant")
	}
	if err := db.SetTeamMember("web", "bob", ""); err != nil {
		t.Fatal(err)
	}
	if bob, _ = db.User("bob"); bob.CanSee(p2.ID) {
		t.Error("removed member still sees the team's project")
	}
	if err := db.DeleteUser("ann", "root"); err != nil {
		t.Fatal(err)
	}
	if tm, _ := db.Team("web"); len(tm.Members) != 0 {
		t.Errorf("deleted user still in team: %+v", tm.Members)
	}
	if err := db.DeleteTeam("web"); err != nil {
		t.Fatal(err)
	}
	if ts, _ := db.Teams(); len(ts) != 0 {
		t.Errorf("Teams after delete = %+v", ts)
	}
}

func TestUserAdminAndDelete(t *testing.T) {
	db := openTest(t, t.TempDir())
	db.CreateUser("root", "password1", true)
	db.CreateUser("bob", "password1", false)
	if err := db.SetUserAdmin("root", false); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("demote last admin = %v", err)
	}
	if err := db.DeleteUser("root", "root"); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("delete last admin = %v", err)
	}
	if err := db.SetUserAdmin("bob", true); err != nil {
		t.Fatal(err)
	}
	if err := db.SetUserAdmin("root", false); err != nil {
		t.Errorf("demote with another admin: %v", err)
	}
	db.SetAlertAddress("root", "root@example.org")
	tok, _ := db.CreateSession("root", time.Hour)
	if err := db.DeleteUser("root", "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.User("root"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted user: %v", err)
	}
	if _, err := db.SessionUser(tok); !errors.Is(err, ErrNotFound) {
		t.Error("deleted user's session lives on")
	}
	if a, _ := db.AlertAddress("root"); a != "" {
		t.Errorf("alert address survived: %q", a)
	}
	if err := db.DeleteUser("root", "root"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete = %v", err)
	}
}

func TestInvites(t *testing.T) {
	db := openTest(t, t.TempDir())
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	p, _ := db.CreateProject("one")
	db.CreateUser("root", "password1", true)
	db.CreateTeam("web")
	tok, inv, err := db.CreateInvite("root", false, []int{p.ID, 999}, "web", time.Hour)
	if err != nil || len(tok) != 64 || len(inv.ID) != 16 {
		t.Fatalf("CreateInvite = %q, %+v, %v", tok, inv, err)
	}
	if invs, _ := db.Invites(); len(invs) != 1 || invs[0].ID != inv.ID {
		t.Errorf("Invites = %+v", invs)
	}
	if _, err := db.AcceptInvite(tok, "root", "password2"); !errors.Is(err, ErrExists) {
		t.Errorf("accept with a taken name = %v", err)
	}
	if _, err := db.AcceptInvite(tok, "ann", "short"); !IsValidation(err) {
		t.Errorf("accept with a short password = %v", err)
	}
	u, err := db.AcceptInvite(tok, "ann", "password2")
	if err != nil || u.Admin || len(u.Projects) != 1 {
		t.Fatalf("AcceptInvite = %+v, %v", u, err)
	}
	if tm, _ := db.Team("web"); tm.Role("ann") != RoleMember {
		t.Errorf("invitee's team role = %q", tm.Role("ann"))
	}
	if _, err := db.AcceptInvite(tok, "eve", "password2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second use = %v", err)
	}
	if _, err := db.CheckPassword("ann", "password2"); err != nil {
		t.Errorf("invitee cannot log in: %v", err)
	}
	// Expiry.
	tok2, inv2, _ := db.CreateInvite("root", true, nil, "", time.Hour)
	now = now.Add(2 * time.Hour)
	if _, err := db.Invite(tok2); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired Invite = %v", err)
	}
	if _, err := db.AcceptInvite(tok2, "eve", "password2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired accept = %v", err)
	}
	now = now.Add(-2 * time.Hour)
	if err := db.RevokeInvite(inv2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Invite(tok2); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoked Invite = %v", err)
	}
}

func TestPasswordReset(t *testing.T) {
	db := openTest(t, t.TempDir())
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	db.CreateUser("bob", "password1", false)
	if _, err := db.CreatePasswordReset("nobody", time.Hour); !errors.Is(err, ErrNotFound) {
		t.Errorf("reset for nobody = %v", err)
	}
	tok, err := db.CreatePasswordReset("bob", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sess, _ := db.CreateSession("bob", 24*time.Hour)
	if name, err := db.PasswordResetUser(tok); name != "bob" || err != nil {
		t.Errorf("PasswordResetUser = %q, %v", name, err)
	}
	if name, err := db.ResetPassword(tok, "password9"); name != "bob" || err != nil {
		t.Fatalf("ResetPassword = %q, %v", name, err)
	}
	if _, err := db.CheckPassword("bob", "password9"); err != nil {
		t.Error("new password does not work")
	}
	if _, err := db.SessionUser(sess); err == nil {
		t.Error("reset kept the old session")
	}
	if _, err := db.ResetPassword(tok, "password8"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second use = %v", err)
	}
	tok, _ = db.CreatePasswordReset("bob", time.Hour)
	now = now.Add(time.Hour)
	if _, err := db.ResetPassword(tok, "password8"); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired reset = %v", err)
	}
}

func TestDeleteProject(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir)
	p1, _ := db.CreateProject("one")
	p2, _ := db.CreateProject("two")
	addEvents(t, db, p1.ID, "a", 0, 5)
	addEvents(t, db, p2.ID, "b", 5, 5)
	// Both issues are in the search index: postings, packed terms, facts.
	var iids []uint32
	err := db.Digest(func(tx *Tx) error {
		for _, g := range []struct {
			pid  int
			hash string
		}{{p1.ID, "a"}, {p2.ID, "b"}} {
			iss, err := tx.IssueForGrouping(g.pid, g.hash)
			if err != nil {
				return err
			}
			iids = append(iids, iss.ID)
			if err := tx.IndexTag(iss, "release", "r1"); err != nil {
				return err
			}
			if err := tx.IndexText(iss, "shared words"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db.CreateUser("bob", "password1", false)
	db.SetUserProjects("bob", []int{p1.ID, p2.ID})
	db.CreateTeam("web")
	db.SetTeamProjects("web", []int{p1.ID})
	db.CreateTokenWith("ci", []Scope{ScopeRead}, int64(p1.ID))
	db.CreateTokenWith("all", []Scope{ScopeRead}, 0)
	if err := db.DeleteProject(p1.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Project(p1.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Project after delete = %v", err)
	}
	if _, ok := db.ProjectKey(p1.ID); ok {
		t.Error("the deleted project's DSN key still works")
	}
	if _, err := os.Stat(db.projectDir(p1.ID)); !os.IsNotExist(err) {
		t.Errorf("events directory left: %v", err)
	}
	if bob, _ := db.User("bob"); len(bob.Projects) != 1 || bob.Projects[0] != p2.ID {
		t.Errorf("bob's grants = %v", bob.Projects)
	}
	if tm, _ := db.Team("web"); len(tm.Projects) != 0 {
		t.Errorf("team's projects = %v", tm.Projects)
	}
	if toks, _ := db.ListTokens(); len(toks) != 1 || toks[0].Name != "all" {
		t.Errorf("tokens = %+v", toks)
	}
	left, issues := 0, 0
	db.view(func(tx *kvTx) error {
		tx.ascend("issue:", func(k, v string) bool { issues++; return true })
		for _, pre := range []string{"pissue:000001:", "ils:000001:", "iec:000001:", "icnt:000001:", "grouping:000001:"} {
			tx.ascend(pre, func(k, v string) bool { left++; return true })
		}
		return nil
	})
	if left != 0 || issues != 1 {
		t.Errorf("%d index keys of the deleted project left; %d issues, want 1", left, issues)
	}
	// Nor its search index; the other project's stays.
	search := func(pid int, iid uint32) (postings, terms, facts int) {
		return countKeys(db, searchTermPrefix(pid, "")), countKeys(db, issueTermsPrefix(iid)), countKeys(db, issueFactsKey(iid))
	}
	if p, tm, f := search(p1.ID, iids[0]); p+tm+f != 0 {
		t.Errorf("the deleted project's search index left: %d postings, %d term lists, %d facts", p, tm, f)
	}
	if p, tm, f := search(p2.ID, iids[1]); p != 3 || tm != 1 || f != 1 {
		t.Errorf("the other project's search index: %d postings, %d term lists, %d facts, want 3, 1, 1", p, tm, f)
	}
	if page, err := db.SearchIssues(p2.ID, "shared release:r1", "", 10); err != nil || len(page.Issues) != 1 {
		t.Errorf("the other project's search: %v, %v", page, err)
	}
	// The other project is whole, and survives a reopen.
	if iss, _, err := db.Issues(IssueFilter{Project: p2.ID, Limit: 10}); err != nil || len(iss) != 1 {
		t.Errorf("other project's issues = %d, %v", len(iss), err)
	}
	db.Close()
	db2 := openTest(t, dir)
	if ps, _ := db2.Projects(); len(ps) != 1 || ps[0].ID != p2.ID {
		t.Errorf("projects after reopen = %+v", ps)
	}
}

// TestDeleteProjectInChunks deletes a project of 300 issues, each with
// tags, history, groupings and search terms, in transactions of about 50
// keys: every key of the project's issues goes, across the chunks, and
// another project's stay.
func TestDeleteProjectInChunks(t *testing.T) {
	old := deleteChunk
	deleteChunk = 50
	t.Cleanup(func() { deleteChunk = old })
	db := openTest(t, t.TempDir())
	p, _ := db.CreateProject("big")
	other, _ := db.CreateProject("other")
	addEventsWith(t, db, p.ID, 0, 600, func(i int) string { return fmt.Sprint("g", i%300) }, nil)
	addEvents(t, db, other.ID, "o", 600, 3)
	var ids []uint32
	err := db.Digest(func(tx *Tx) error {
		for _, pid := range []int{p.ID, other.ID} {
			var list []uint32
			tx.kv.ascend(projectIssuePrefix(pid), func(k, v string) bool {
				list = append(list, parseID(v))
				return true
			})
			for _, id := range list {
				iss, err := tx.Issue(id)
				if err != nil {
					return err
				}
				ids = append(ids, id)
				for j := range 5 {
					if err := tx.CountTag(iss, "browser", fmt.Sprint("b", j)); err != nil {
						return err
					}
				}
				if err := tx.IndexText(iss, fmt.Sprint("word", id, " shared")); err != nil {
					return err
				}
				if err := tx.AddHistory(id, HistoryEntry{Kind: "note"}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 301 {
		t.Fatalf("%d issues, want 301", len(ids))
	}
	// Every per-issue family, counted over the whole tree and over the
	// other project's issue alone.
	oid := ids[len(ids)-1]
	families := []struct{ all, other string }{
		{"issue:", issueKey(oid)}, {"ifact:", issueFactsKey(oid)}, {"igrp:", issueGroupingPrefix(oid)},
		{"itag:", issueTagPrefix(oid)}, {"itagn:", issueTagCountPrefix(oid)}, {"history:", historyPrefix(oid)},
		{"iterm:", issueTermsPrefix(oid)}, {"sterm:", searchTermPrefix(other.ID, "")},
		{"pissue:", projectIssuePrefix(other.ID)}, {"grouping:", fmt.Sprintf("grouping:%06d:", other.ID)},
	}
	want := map[string]int{}
	for _, f := range families {
		want[f.all] = countKeys(db, f.other)
		if countKeys(db, f.all) <= want[f.all] {
			t.Fatalf("%s: the deleted project has no keys to delete", f.all)
		}
	}
	if err := db.DeleteProject(p.ID); err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if n := countKeys(db, f.all); n != want[f.all] || want[f.all] == 0 {
			t.Errorf("%s: %d keys left, want the other project's %d", f.all, n, want[f.all])
		}
	}
	if _, err := db.Project(p.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("the project is still there: %v", err)
	}
	if _, ok := db.ProjectKey(p.ID); ok {
		t.Error("the deleted project's DSN key still works")
	}
	if page, err := db.SearchIssues(other.ID, "shared", "", 10); err != nil || len(page.Issues) != 1 {
		t.Errorf("the other project's search: %v, %v", page, err)
	}
}
