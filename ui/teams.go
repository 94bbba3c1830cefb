package ui

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/tinysink/tinysink/store"
)

// Teams (store/team.go): admins create teams and give them projects; a
// team's admins add and remove its members and set their roles.

type teamsPage struct {
	layout
	Teams []store.Team
	Name  string
	Error string
}

// handleTeams serves GET /teams/: the teams the user manages (admins: all).
func (u *UI) handleTeams(w http.ResponseWriter, r *http.Request) error {
	return u.renderTeams(w, r, http.StatusOK, "", "")
}

func (u *UI) renderTeams(w http.ResponseWriter, r *http.Request, status int, name, msg string) error {
	usr := currentUser(r)
	if !usr.ManagesAny() {
		return errForbidden("Only an admin or a team admin can see this.")
	}
	ts, err := u.db.Teams()
	if err != nil {
		return err
	}
	page := &teamsPage{layout: u.layout(r, "Teams"), Name: name, Error: msg}
	page.TopNav = "teams"
	for _, t := range ts {
		if usr.CanManageTeam(t.Name) {
			page.Teams = append(page.Teams, t)
		}
	}
	return u.renderStatus(w, status, "teams", page)
}

// handleTeamCreate serves POST /teams/ (admins) with name=.
func (u *UI) handleTeamCreate(w http.ResponseWriter, r *http.Request) error {
	name := strings.TrimSpace(r.PostFormValue("name"))
	_, err := u.db.CreateTeam(name)
	switch {
	case errors.Is(err, store.ErrExists):
		return u.renderTeams(w, r, http.StatusBadRequest, clean(name, 64, false), "That team exists already.")
	case store.IsValidation(err):
		return u.renderTeams(w, r, http.StatusBadRequest, clean(name, 64, false), "A team name has 1 to 64 characters and no slashes.")
	case err != nil:
		return err
	}
	return redirect(w, r, teamURL(name))
}

func teamURL(name string) string { return "/teams/" + url.PathEscape(name) + "/" }

type teamMemberRow struct {
	store.TeamMember
	Self bool
}

type teamPage struct {
	layout
	Team     store.Team
	Members  []teamMemberRow
	Others   []string // users who are not members
	Projects []projectCheck
	Saved    bool
	Error    string
}

// team returns the team named in the path when the user may manage it.
func (u *UI) team(r *http.Request) (*store.Team, error) {
	t, err := u.db.Team(r.PathValue("team"))
	if err != nil {
		return nil, err
	}
	if !currentUser(r).CanManageTeam(t.Name) {
		return nil, errNotFound
	}
	return t, nil
}

// handleTeam serves GET /teams/{team}/.
func (u *UI) handleTeam(w http.ResponseWriter, r *http.Request) error {
	t, err := u.team(r)
	if err != nil {
		return err
	}
	return u.renderTeam(w, r, http.StatusOK, t, "")
}

func (u *UI) renderTeam(w http.ResponseWriter, r *http.Request, status int, t *store.Team, msg string) error {
	users, err := u.db.Users()
	if err != nil {
		return err
	}
	ps, err := u.db.Projects()
	if err != nil {
		return err
	}
	me := currentUser(r)
	page := &teamPage{layout: u.layout(r, "Team "+t.Name), Team: *t, Saved: r.URL.Query().Has("saved"), Error: msg}
	page.TopNav = "teams"
	for _, m := range t.Members {
		page.Members = append(page.Members, teamMemberRow{TeamMember: m, Self: m.User == me.Name})
	}
	for _, usr := range users {
		if t.Role(usr.Name) == "" {
			page.Others = append(page.Others, usr.Name)
		}
	}
	for _, p := range ps {
		in := false
		for _, id := range t.Projects {
			in = in || id == p.ID
		}
		if in || me.Admin {
			page.Projects = append(page.Projects, projectCheck{ID: p.ID, Name: p.Name, Checked: in})
		}
	}
	return u.renderStatus(w, status, "team", page)
}

// handleTeamUpdate serves POST /teams/{team}/: op=member sets user='s role
// (role=member, admin, or empty to remove); op=projects (admins) replaces
// the team's projects; op=delete (admins, with confirm=yes) deletes it.
func (u *UI) handleTeamUpdate(w http.ResponseWriter, r *http.Request) error {
	t, err := u.team(r)
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return errBadInput("Bad form.")
	}
	me := currentUser(r)
	switch r.PostForm.Get("op") {
	case "member":
		user, role := r.PostForm.Get("user"), store.Role(r.PostForm.Get("role"))
		if user == me.Name && !me.Admin {
			return errBadInput("You cannot change your own role.")
		}
		err = u.db.SetTeamMember(t.Name, user, role)
	case "projects":
		if !me.Admin {
			return errForbidden("Only an admin can change a team's projects.")
		}
		err = u.db.SetTeamProjects(t.Name, formInts(r.PostForm["project"]))
	case "delete":
		if !me.Admin {
			return errForbidden("Only an admin can delete a team.")
		}
		if r.PostForm.Get("confirm") != "yes" {
			return errBadInput("Tick the box to confirm.")
		}
		if err := u.db.DeleteTeam(t.Name); err != nil {
			return err
		}
		return redirect(w, r, "/teams/")
	default:
		return errBadInput("Unknown operation.")
	}
	if store.IsValidation(err) {
		return u.renderTeam(w, r, http.StatusBadRequest, t, "Not saved: "+err.Error()+".")
	} else if err != nil {
		return err
	}
	return redirect(w, r, teamURL(t.Name)+"?saved")
}
