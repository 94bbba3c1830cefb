package ui

import (
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"github.com/tinysink/tinysink/store"
)

// project returns the project named by the {pid} path value, when the
// user may see it.
func (u *UI) project(r *http.Request) (*store.Project, error) {
	pid, err := strconv.Atoi(r.PathValue("pid"))
	if err != nil {
		return nil, errNotFound
	}
	if usr := currentUser(r); usr == nil || !usr.CanSee(pid) {
		return nil, errNotFound
	}
	p, err := u.db.Project(pid)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNotFound
	}
	return p, err
}

type projectRow struct {
	Project   store.Project
	OpenCount int
	Spark     template.HTML
}

type projectListPage struct {
	layout
	Projects []projectRow
}

// handleProjectList serves GET /projects/: the projects the user may see,
// with their open-issue counts and a 24-hour sparkline.
func (u *UI) handleProjectList(w http.ResponseWriter, r *http.Request) error {
	usr := currentUser(r)
	ps, err := u.db.Projects()
	if err != nil {
		return err
	}
	page := &projectListPage{layout: u.layout(r, "Projects")}
	page.TopNav = "projects"
	for i := range ps {
		if !usr.CanSee(ps[i].ID) {
			continue
		}
		issues, _, err := u.db.Issues(store.IssueFilter{Project: ps[i].ID, Limit: maxIssueScan})
		if err != nil {
			return err
		}
		open := 0
		for j := range issues {
			if !issues[j].IsResolved && !issues[j].IsMuted {
				open++
			}
		}
		page.Projects = append(page.Projects, projectRow{
			Project: ps[i], OpenCount: open,
			Spark: sparkline(u.hourly24(store.ProjectSubject(ps[i].ID)), 96, 20, "events in the last 24 hours"),
		})
	}
	return u.render(w, "projects", page)
}

type projectNewPage struct {
	layout
	Name  string
	Error string
}

// handleProjectNewForm serves GET /projects/new/.
func (u *UI) handleProjectNewForm(w http.ResponseWriter, r *http.Request) error {
	return u.render(w, "project_new", &projectNewPage{layout: u.layout(r, "New project")})
}

// handleProjectCreate serves POST /projects/new/.
func (u *UI) handleProjectCreate(w http.ResponseWriter, r *http.Request) error {
	name := strings.TrimSpace(r.PostFormValue("name"))
	page := &projectNewPage{layout: u.layout(r, "New project"), Name: name}
	if name == "" || len(name) > 100 || store.Slugify(name) == "" {
		page.Error = "A name has 1 to 100 characters, with at least one letter or digit."
		return u.renderStatus(w, http.StatusBadRequest, "project_new", page)
	}
	p, err := u.db.CreateProject(name)
	if errors.Is(err, store.ErrExists) {
		page.Error = "A project with that name exists already."
		return u.renderStatus(w, http.StatusBadRequest, "project_new", page)
	} else if err != nil {
		return err
	}
	return redirect(w, r, "/projects/"+strconv.Itoa(p.ID)+"/settings/")
}

type projectSettingsPage struct {
	layout
	Project store.Project
	DSN     string
	// SDK is the chosen set-up snippet: python, javascript, go or php.
	SDK   string
	Saved bool
	Error string
}

// SDKs lists the set-up snippets the settings page offers.
func (projectSettingsPage) SDKs() []string { return []string{"python", "javascript", "go", "php"} }

// handleProjectSettings serves GET /projects/{pid}/settings/: the DSN with
// SDK set-up snippets for every member; the form for admins.
func (u *UI) handleProjectSettings(w http.ResponseWriter, r *http.Request) error {
	p, err := u.project(r)
	if err != nil {
		return err
	}
	page := &projectSettingsPage{layout: u.layout(r, p.Name+" settings"), Project: *p, DSN: DSN(u.base, p), Saved: r.URL.Query().Has("saved")}
	page.CopyScript = true
	page.SDK = r.URL.Query().Get("sdk")
	switch page.SDK {
	case "python", "javascript", "go", "php":
	default:
		page.SDK = "python"
	}
	return u.render(w, "project_settings", page)
}

// handleProjectSave serves POST /projects/{pid}/settings/.
func (u *UI) handleProjectSave(w http.ResponseWriter, r *http.Request) error {
	p, err := u.project(r)
	if err != nil {
		return err
	}
	ret, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue("retention")))
	if err != nil {
		ret = -1
	}
	s := store.ProjectSettings{
		Name: r.PostFormValue("name"), RetentionMax: ret,
		AlertOnNewIssue: r.PostFormValue("alert_new") != "", AlertOnRegression: r.PostFormValue("alert_regression") != "",
		AlertOnUnmute: r.PostFormValue("alert_unmute") != "",
	}
	if err := u.db.SetProjectSettings(p.ID, s); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return err
		}
		page := &projectSettingsPage{layout: u.layout(r, p.Name+" settings"), Project: *p, DSN: DSN(u.base, p), SDK: "python",
			Error: "Not saved: a name has 1 to 100 characters and retention is 1 to " + strconv.Itoa(store.MaxRetention) + " events."}
		return u.renderStatus(w, http.StatusBadRequest, "project_settings", page)
	}
	return redirect(w, r, "/projects/"+strconv.Itoa(p.ID)+"/settings/?saved")
}

type memberRow struct {
	Name    string
	Admin   bool
	Active  bool
	Granted bool
}

type projectMembersPage struct {
	layout
	Project store.Project
	Members []memberRow
	Saved   bool
}

// handleProjectMembers serves GET /projects/{pid}/members/ (admins only).
func (u *UI) handleProjectMembers(w http.ResponseWriter, r *http.Request) error {
	p, err := u.project(r)
	if err != nil {
		return err
	}
	users, err := u.db.Users()
	if err != nil {
		return err
	}
	page := &projectMembersPage{layout: u.layout(r, p.Name+" members"), Project: *p, Saved: r.URL.Query().Has("saved")}
	for i := range users {
		page.Members = append(page.Members, memberRow{
			Name: users[i].Name, Admin: users[i].Admin, Active: users[i].Active, Granted: users[i].CanSee(p.ID),
		})
	}
	return u.render(w, "project_members", page)
}

// handleProjectMembersSave serves POST /projects/{pid}/members/: the
// checked users get the project, the others lose it.
func (u *UI) handleProjectMembersSave(w http.ResponseWriter, r *http.Request) error {
	p, err := u.project(r)
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return errBadInput("Bad form.")
	}
	granted := map[string]bool{}
	for _, n := range r.PostForm["member"] {
		granted[n] = true
	}
	users, err := u.db.Users()
	if err != nil {
		return err
	}
	for _, usr := range users {
		if usr.Admin || granted[usr.Name] == usr.CanSee(p.ID) {
			continue
		}
		var next []int
		for _, pid := range usr.Projects {
			if pid != p.ID {
				next = append(next, pid)
			}
		}
		if granted[usr.Name] {
			next = append(next, p.ID)
		}
		if err := u.db.SetUserProjects(usr.Name, next); err != nil {
			return err
		}
	}
	return redirect(w, r, "/projects/"+strconv.Itoa(p.ID)+"/members/?saved")
}
