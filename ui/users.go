package ui

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

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
	Teams    []store.Team
	Invites  []store.Invite
	Name     string
	Error    string
	Saved    bool
	// InviteLink is a new invite's link, shown once.
	InviteLink string
}

// handleUserList serves GET /users/ (admins only): every user, with the
// forms to add one, grant projects and deactivate.
func (u *UI) handleUserList(w http.ResponseWriter, r *http.Request) error {
	return u.renderUsers(w, r, http.StatusOK, "", "")
}

func (u *UI) renderUsers(w http.ResponseWriter, r *http.Request, status int, name, msg string) error {
	page, err := u.usersPage(r, name, msg)
	if err != nil {
		return err
	}
	return u.renderStatus(w, status, "users", page)
}

func (u *UI) usersPage(r *http.Request, name, msg string) (*userListPage, error) {
	users, err := u.db.Users()
	if err != nil {
		return nil, err
	}
	ps, err := u.db.Projects()
	if err != nil {
		return nil, err
	}
	me := currentUser(r)
	page := &userListPage{layout: u.layout(r, "Users"), Projects: ps, Name: name, Error: msg, Saved: r.URL.Query().Has("saved")}
	if page.Teams, err = u.db.Teams(); err != nil {
		return nil, err
	}
	if page.Invites, err = u.db.Invites(); err != nil {
		return nil, err
	}
	page.TopNav = "users"
	for _, usr := range users {
		row := userRow{User: usr, Self: usr.Name == me.Name}
		for _, p := range ps {
			row.Projects = append(row.Projects, projectCheck{ID: p.ID, Name: p.Name, Checked: usr.Granted(p.ID)})
		}
		page.Users = append(page.Users, row)
	}
	return page, nil
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
// user's projects; op=deactivate and op=activate switch the account;
// op=promote and op=demote make it an admin or not; op=password sets its
// password (from password=), which logs it out everywhere.
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
	case "promote", "demote":
		if name == currentUser(r).Name {
			return errBadInput("You cannot change your own admin role.")
		}
		err = u.db.SetUserAdmin(name, r.PostForm.Get("op") == "promote")
	case "unlink-oidc":
		err = u.db.UnlinkOIDC(name)
	case "password":
		pw := r.PostForm.Get("password")
		if len(pw) < store.MinPasswordLen {
			return u.renderUsers(w, r, http.StatusBadRequest, "", "Not saved: a password has at least 8 characters.")
		}
		err = u.db.SetPassword(name, pw)
	default:
		return errBadInput("Unknown operation.")
	}
	if errors.Is(err, store.ErrLastAdmin) {
		return u.renderUsers(w, r, http.StatusConflict, "", "Not saved: there must stay at least one active admin.")
	}
	if err != nil {
		return err
	}
	return redirect(w, r, "/users/?saved")
}

type confirmPage struct {
	layout
	What   string // "user" or "project"
	Name   string
	Action string // where the form posts
	Cancel string
	Detail string
}

// handleUserDeleteForm serves GET /users/{name}/delete/: the confirmation.
func (u *UI) handleUserDeleteForm(w http.ResponseWriter, r *http.Request) error {
	usr, err := u.db.User(r.PathValue("name"))
	if err != nil {
		return err
	}
	return u.render(w, "confirm_delete", &confirmPage{layout: u.layout(r, "Delete "+usr.Name), What: "user", Name: usr.Name,
		Action: "/users/" + url.PathEscape(usr.Name) + "/delete/", Cancel: "/users/",
		Detail: "This deletes the account with its sessions, alert settings, team memberships and login-provider link, and unassigns its issues. It cannot be undone."})
}

// handleUserDelete serves POST /users/{name}/delete/ with confirm=yes.
func (u *UI) handleUserDelete(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if r.PostFormValue("confirm") != "yes" {
		return errBadInput("Tick the box to confirm.")
	}
	if name == currentUser(r).Name {
		return errBadInput("You cannot delete yourself.")
	}
	err := u.db.DeleteUser(name, currentUser(r).Name)
	if errors.Is(err, store.ErrLastAdmin) {
		return u.renderUsers(w, r, http.StatusConflict, "", "Not deleted: there must stay at least one active admin.")
	}
	if err != nil {
		return err
	}
	return redirect(w, r, "/users/?saved")
}

// inviteTTL is how long an invite link works.
const inviteTTL = 7 * 24 * time.Hour

// handleInviteCreate serves POST /users/invites/: a one-time link that
// creates an account (admin=1 an admin; project= the projects it sees;
// team= a team it joins). The link is shown once, on the page.
func (u *UI) handleInviteCreate(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return errBadInput("Bad form.")
	}
	tok, _, err := u.db.CreateInvite(currentUser(r).Name, r.PostForm.Get("admin") == "1",
		formInts(r.PostForm["project"]), r.PostForm.Get("team"), inviteTTL)
	if store.IsValidation(err) {
		return u.renderUsers(w, r, http.StatusBadRequest, "", "No invite made: that team does not exist.")
	} else if err != nil {
		return err
	}
	page, err := u.usersPage(r, "", "")
	if err != nil {
		return err
	}
	page.InviteLink = u.base + "/accounts/invite/" + tok + "/"
	return u.render(w, "users", page)
}

// handleInviteRevoke serves POST /users/invites/{id}/revoke/.
func (u *UI) handleInviteRevoke(w http.ResponseWriter, r *http.Request) error {
	if err := u.db.RevokeInvite(r.PathValue("id")); err != nil {
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
