package store

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

const testIssuer = "https://id.example"

func TestOIDCLink(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir)
	db.CreateUser("ann", "password1", false)
	db.CreateUser("bob", "password1", false)
	if _, err := db.UserByOIDC(testIssuer, "s-ann"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("UserByOIDC before any link = %v", err)
	}
	if err := db.LinkOIDC("ann", testIssuer, "s-ann"); err != nil {
		t.Fatal(err)
	}
	if err := db.LinkOIDC("ann", testIssuer, "s-ann"); err != nil {
		t.Errorf("linking the same pair again = %v", err)
	}
	if u, err := db.UserByOIDC(testIssuer, "s-ann"); err != nil || u.Name != "ann" || u.OIDC == nil || u.OIDC.Subject != "s-ann" {
		t.Fatalf("UserByOIDC = %+v, %v", u, err)
	}
	// The same subject at another issuer is another identity.
	if _, err := db.UserByOIDC("https://other.example", "s-ann"); !errors.Is(err, ErrNotFound) {
		t.Errorf("UserByOIDC at another issuer = %v", err)
	}
	for _, tc := range []struct{ name, user, sub string }{
		{"a linked user cannot take another identity", "ann", "s-other"},
		{"a linked identity cannot move to another user", "bob", "s-ann"},
	} {
		if err := db.LinkOIDC(tc.user, testIssuer, tc.sub); !errors.Is(err, ErrLinked) {
			t.Errorf("%s: LinkOIDC(%s, %s) = %v, want ErrLinked", tc.name, tc.user, tc.sub, err)
		}
	}
	if err := db.LinkOIDC("bob", testIssuer, ""); !IsValidation(err) {
		t.Errorf("LinkOIDC with an empty subject = %v", err)
	}
	if err := db.LinkOIDC("nobody", testIssuer, "s-x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("LinkOIDC of an unknown user = %v", err)
	}
	// The link survives a reopen.
	db.Close()
	db = openTest(t, dir)
	if u, err := db.UserByOIDC(testIssuer, "s-ann"); err != nil || u.Name != "ann" {
		t.Fatalf("UserByOIDC after reopen = %+v, %v", u, err)
	}
	// Unlinking ends the sessions and frees both sides.
	tok, _ := db.CreateOIDCSession("ann", 3600e9, "header.claims.sig")
	if err := db.UnlinkOIDC("ann"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SessionUser(tok); !errors.Is(err, ErrNotFound) {
		t.Errorf("session after unlink = %v", err)
	}
	if _, err := db.UserByOIDC(testIssuer, "s-ann"); !errors.Is(err, ErrNotFound) {
		t.Errorf("UserByOIDC after unlink = %v", err)
	}
	if err := db.LinkOIDC("bob", testIssuer, "s-ann"); err != nil {
		t.Errorf("linking the freed identity to bob = %v", err)
	}
	// Deleting the user drops its link.
	if err := db.DeleteUser("bob", "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UserByOIDC(testIssuer, "s-ann"); !errors.Is(err, ErrNotFound) {
		t.Errorf("UserByOIDC after deleting the user = %v", err)
	}
	db.CreateUser("bob", "password1", false)
	if _, err := db.UserByOIDC(testIssuer, "s-ann"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a new user of the deleted one's name inherited its link: %v", err)
	}
	db.view(func(tx *kvTx) error {
		return tx.AscendKeys("oidcsub:*", func(k, v string) bool { t.Errorf("index entry left: %s = %s", k, v); return true })
	})
}

// TestOIDCLinkOldUserRecord: a user record written before links existed
// (no "oidc" field) loads, links, and keeps all it had.
func TestOIDCLinkOldUserRecord(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir)
	p, _ := db.CreateProject("one")
	old := `{"name":"carl@example.com","password_hash":"$2a$04$abcdefghijklmnopqrstuu5xJr3Wv3Xj3xk7mQeGz7dBWYb0h9Y4e","admin":true,"active":true,"projects":[` +
		strconv.Itoa(p.ID) + `],"created_at":"2025-01-02T03:04:05Z"}`
	if err := db.update(func(tx *kvTx) error { _, _, err := tx.Set(userKey("carl@example.com"), old, nil); return err }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = openTest(t, dir)
	before, err := db.User("carl@example.com")
	if err != nil || before.OIDC != nil {
		t.Fatalf("old record: %+v, %v", before, err)
	}
	if err := db.LinkOIDC("carl@example.com", testIssuer, "c1"); err != nil {
		t.Fatal(err)
	}
	u, err := db.UserByOIDC(testIssuer, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if u.PasswordHash != before.PasswordHash || !u.Admin || !u.Active || len(u.Projects) != 1 || u.Projects[0] != p.ID || !u.CreatedAt.Equal(before.CreatedAt) {
		t.Errorf("linking lost data: before %+v, after %+v", before, u)
	}
}

func TestSessionIDToken(t *testing.T) {
	db := openTest(t, t.TempDir())
	db.CreateUser("ann", "password1", false)
	tok, err := db.CreateOIDCSession("ann", 3600e9, "h.c.s")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateOIDCSession("ann", 3600e9, string(make([]byte, MaxSessionIDToken+1))); err == nil {
		t.Error("an over-long ID token was kept")
	}
	s, err := db.EndSession(tok)
	if err != nil || s.IDToken != "h.c.s" || s.User != "ann" {
		t.Errorf("EndSession = %+v, %v", s, err)
	}
	if _, err := db.SessionUser(tok); !errors.Is(err, ErrNotFound) {
		t.Errorf("session after EndSession = %v", err)
	}
	if s, err := db.EndSession(tok); err != nil || s.User != "" {
		t.Errorf("EndSession of an ended session = %+v, %v", s, err)
	}
}

// TestDeleteUserUnassigns: deleting a user unassigns its issues in every
// project, drops the "assigned to" index entries, and says so in each
// issue's history.
func TestDeleteUserUnassigns(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir)
	p1, _ := db.CreateProject("one")
	p2, _ := db.CreateProject("two")
	addEvents(t, db, p1.ID, "a", 0, 1)
	addEvents(t, db, p1.ID, "b", 1, 1)
	addEvents(t, db, p2.ID, "c", 2, 1)
	db.CreateUser("root", "password1", true)
	db.CreateUser("ann", "password1", false)
	db.CreateUser("anna", "password1", false) // a name that starts with the other's
	i1, _, _ := db.Issues(IssueFilter{Project: p1.ID})
	i2, _, _ := db.Issues(IssueFilter{Project: p2.ID})
	if len(i1) != 2 || len(i2) != 1 {
		t.Fatalf("issues: %d, %d", len(i1), len(i2))
	}
	db.Assign(i1[0].ID, "ann", "root")
	db.Assign(i1[1].ID, "anna", "root")
	db.Assign(i2[0].ID, "ann", "root")
	if err := db.DeleteUser("ann", "root"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint32{i1[0].ID, i2[0].ID} {
		iss, err := db.Issue(id)
		if err != nil || iss.AssignedTo != "" {
			t.Errorf("issue %d after deleting its assignee: %+v, %v", id, iss, err)
		}
		h, _ := db.History(id)
		if n := len(h); n < 2 || h[n-1].Kind != HistoryAssigned || h[n-1].Assignee != "" || h[n-1].User != "root" || h[n-1].Comment != "The user ann was deleted." {
			t.Errorf("issue %d history = %+v, want an unassignment by root last", id, h)
		}
	}
	if iss, _ := db.Issue(i1[1].ID); iss.AssignedTo != "anna" {
		t.Errorf("anna's issue is assigned to %q", iss.AssignedTo)
	}
	db.Close()
	db = openTest(t, dir)
	for _, pid := range []int{p1.ID, p2.ID} {
		if got, _, err := db.Issues(IssueFilter{Project: pid, AssignedTo: "ann"}); err != nil || len(got) != 0 {
			t.Errorf("project %d, assigned to the deleted ann: %d, %v", pid, len(got), err)
		}
	}
	db.view(func(tx *kvTx) error {
		for _, pid := range []int{p1.ID, p2.ID} {
			tx.ascend(assignedPrefix(pid, "ann"), func(k, v string) bool { t.Errorf("index key left: %q", k); return true })
		}
		return nil
	})
	if got, _, _ := db.Issues(IssueFilter{Project: p1.ID, AssignedTo: "anna"}); len(got) != 1 {
		t.Errorf("assigned to anna: %d, want 1", len(got))
	}
	// A new user of the same name starts with nothing assigned.
	db.CreateUser("ann", "password1", false)
	if got, _, _ := db.Issues(IssueFilter{Project: p2.ID, AssignedTo: "ann"}); len(got) != 0 {
		t.Errorf("the new ann inherited %d issues", len(got))
	}
}

// TestDeleteProjectAttachments: deleting a project removes its
// attachments directory, and a start after a crash that left it (or the
// events directory) removes those of deleted projects only.
func TestDeleteProjectAttachments(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir)
	p1, _ := db.CreateProject("one")
	p2, _ := db.CreateProject("two")
	att := func(pid int) string { return filepath.Join(dir, "attachments", strconv.Itoa(pid)) }
	for _, pid := range []int{p1.ID, p2.ID} {
		ev := filepath.Join(att(pid), "0123456789abcdef0123456789abcdef")
		if err := os.MkdirAll(ev, 0o700); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(ev, "0"), []byte("dump"), 0o600)
	}
	if err := db.DeleteProject(p1.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(att(p1.ID)); !os.IsNotExist(err) {
		t.Errorf("attachments of the deleted project left: %v", err)
	}
	if _, err := os.Stat(att(p2.ID)); err != nil {
		t.Errorf("attachments of the other project: %v", err)
	}

	// A crash after the metadata went and before the files did: the
	// directories come back as they were, and Open removes them.
	p3, _ := db.CreateProject("three")
	if err := db.update(func(tx *kvTx) error { _, err := tx.Delete(projectKey(p3.ID)); return err }); err != nil {
		t.Fatal(err)
	}
	left := []string{att(p3.ID), filepath.Join(dir, "events", strconv.Itoa(p3.ID)), att(p1.ID)}
	for _, d := range left {
		os.MkdirAll(filepath.Join(d, "partly-removed"), 0o700)
	}
	// Not a deleted project's: an id never handed out, and other names.
	keep := []string{att(99), filepath.Join(dir, "attachments", "007"), filepath.Join(dir, "attachments", "notes")}
	for _, d := range keep {
		os.MkdirAll(d, 0o700)
	}
	db.Close()
	db = openTest(t, dir)
	for _, d := range left {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s left after a restart: %v", d, err)
		}
	}
	for _, d := range append(keep, att(p2.ID), db.projectDir(p2.ID)) {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s removed: %v", d, err)
		}
	}
	if ps, _ := db.Projects(); len(ps) != 1 || ps[0].ID != p2.ID {
		t.Errorf("projects after the restart: %+v", ps)
	}
}
