package store

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestAccounts(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir())
	p1, _ := db.CreateProject("one")
	p2, _ := db.CreateProject("two")
	db.CreateUser("root", "password1", true)
	db.CreateUser("bob", "password1", false)

	users, err := db.Users()
	if err != nil || len(users) != 2 || users[0].Name != "bob" || users[1].Name != "root" {
		t.Fatalf("Users = %+v, %v", users, err)
	}
	if err := db.SetUserProjects("bob", []int{p2.ID, 999, p2.ID}); err != nil {
		t.Fatal(err)
	}
	bob, _ := db.User("bob")
	if !reflect.DeepEqual(bob.Projects, []int{p2.ID}) {
		t.Errorf("Projects = %v, want [%d]", bob.Projects, p2.ID)
	}
	if bob.CanSee(p1.ID) || !bob.CanSee(p2.ID) {
		t.Errorf("bob.CanSee(%d, %d) wrong", p1.ID, p2.ID)
	}
	if root, _ := db.User("root"); !root.CanSee(p1.ID) {
		t.Error("admin cannot see a project")
	}

	tok, _ := db.CreateSession("bob", time.Hour)
	if err := db.SetPassword("bob", "short"); err == nil {
		t.Error("SetPassword accepted a short password")
	}
	if err := db.SetPassword("bob", "newpassword"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CheckPassword("bob", "password1"); err == nil {
		t.Error("old password still works")
	}
	if _, err := db.CheckPassword("bob", "newpassword"); err != nil {
		t.Errorf("new password: %v", err)
	}
	if _, err := db.SessionUser(tok); !errors.Is(err, ErrNotFound) {
		t.Error("password change kept the session")
	}
	if err := db.SetUserActive("bob", false); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CheckPassword("bob", "newpassword"); err == nil {
		t.Error("deactivated user can log in")
	}
	if err := db.SetPassword("nobody", "whatever12"); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetPassword(unknown) = %v", err)
	}
}

func TestProjectSettings(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir())
	p, _ := db.CreateProject("Shop")
	err := db.SetProjectSettings(p.ID, ProjectSettings{Name: " Shop 2 ", RetentionMax: 500, AlertOnUnmute: true})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := db.Project(p.ID)
	if got.Name != "Shop 2" || got.Slug != "shop" || got.RetentionMax != 500 || got.AlertOnNewIssue || got.AlertOnRegression || !got.AlertOnUnmute || got.Key != p.Key {
		t.Errorf("project after settings = %+v", got)
	}
	for _, bad := range []ProjectSettings{{Name: "", RetentionMax: 1}, {Name: "x", RetentionMax: 0}, {Name: "x", RetentionMax: MaxRetention + 1}} {
		if err := db.SetProjectSettings(p.ID, bad); err == nil {
			t.Errorf("SetProjectSettings(%+v) accepted", bad)
		}
	}
	if err := db.SetProjectSettings(999, ProjectSettings{Name: "x", RetentionMax: 1}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown project: %v", err)
	}
}
