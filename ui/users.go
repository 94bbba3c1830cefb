package ui

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/tinysink/tinysink/store"
)

type userRow struct {
	User     store.User
	Projects []projectCheck
	Self     bool
}

type projectCheck struct {
	ID      int
	Name    string
	Checked bool
}

type userListPage struct {
	layout
	Users    []userRow
	Projects []store.Project
	Name     string
	Error    string
	Saved    bool
}

// handleUserList serves GET /users/ (admins only): every user, with the
// forms to add one, grant projects and deactivate.
func (u *UI) handleUserList(w http.ResponseWriter, r *http.Request) error {
	return u.renderUsers(w, r, http.StatusOK, "", "")
}

func (u *UI) renderUsers(w http.ResponseWriter, r *http.Request, status int, name, msg string) error {
	users, err := u.db.Users()
	if err != nil {
		return err
	}
	ps, err := u.db.Projects()
	if err != nil {
		return err
	}
	me := currentUser(r)
	page := &userListPage{layout: u.layout(r, "Users"), Projects: ps, Name: name, Error: msg, Saved: r.URL.Query().Has("saved")}
	page.TopNav = "users"
	for _, usr := range users {
		row := userRow{User: usr, Self: usr.Name == me.Name}
		for _, p := range ps {
			row.Projects = append(row.Projects, projectCheck{ID: p.ID, Name: p.Name, Checked: usr.CanSee(p.ID)})
		}
		page.Users = append(page.Users, row)
	}
	return u.renderStatus(w, status, "users", page)
}

// validUserName accepts 1 to 64 letters, digits and the characters
// . _ @ + - (an e-mail address works).
func validUserName(s string) bool { return store.ValidUserName(s) }

// handleUserCreate serves POST /users/: add a user with a password and
// the checked projects.
func (u *UI) handleUserCreate(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return errBadInput("Bad form.")
	}
	name := strings.TrimSpace(r.PostForm.Get("name"))
	pw := r.PostForm.Get("password")
	switch {
	case !validUserName(name):
		return u.renderUsers(w, r, http.StatusBadRequest, name, "A user name has 1 to 64 letters, digits and . _ @ + - characters.")
	case len(pw) < store.MinPasswordLen:
		return u.renderUsers(w, r, http.StatusBadRequest, name, "A password has at least 8 characters.")
	}
	if _, err := u.db.CreateUser(name, pw, false); errors.Is(err, store.ErrExists) {
		return u.renderUsers(w, r, http.StatusBadRequest, name, "That user exists already.")
	} else if err != nil {
		return err
	}
	if err := u.db.SetUserProjects(name, formInts(r.PostForm["project"])); err != nil {
		return err
	}
	return redirect(w, r, "/users/?saved")
}

// handleUserUpdate serves POST /users/{name}/: op=projects replaces the
// user's projects; op=deactivate and op=activate switch the account.
func (u *UI) handleUserUpdate(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if _, err := u.db.User(name); err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return errBadInput("Bad form.")
	}
	var err error
	switch r.PostForm.Get("op") {
	case "projects":
		err = u.db.SetUserProjects(name, formInts(r.PostForm["project"]))
	case "deactivate":
		if name == currentUser(r).Name {
			return errBadInput("You cannot deactivate yourself.")
		}
		err = u.db.SetUserActive(name, false)
	case "activate":
		err = u.db.SetUserActive(name, true)
	default:
		return errBadInput("Unknown operation.")
	}
	if err != nil {
		return err
	}
	return redirect(w, r, "/users/?saved")
}

func formInts(ss []string) []int {
	var out []int
	for _, s := range ss {
		if n, err := strconv.Atoi(s); err == nil {
			out = append(out, n)
		}
	}
	return out
}
