package ui

import (
	"errors"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode"

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
		open, err := u.db.IssueCount(ps[i].ID, store.StateOpen)
		if err != nil {
			return err
		}
		page.Projects = append(page.Projects, projectRow{
			Project: ps[i], OpenCount: int(open),
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
	// SDKs are the set-up snippets offered (setupSDKs) and SDK the
	// chosen one.
	SDKs  []string
	SDK   string
	Saved bool
	Error string

	// Quota has the project's own limits per window, with the
	// installation's defaults.
	Quota []quotaField
	// ExtraKeys are the project's extra scrubbing keys, one per line.
	ExtraKeys string
	// Forward is the forwarding section: the DSN and the forwarder's lag
	// and failures.
	Forward *forwardView

	Backends []backendView
	Kinds    []store.BackendKind
	CanTest  bool
	// Tested names the backend a test message just went to, and TestFailed
	// says whether it failed.
	Tested     string
	TestFailed bool
	// EmailAlerts and AlertAddress are the viewing user's email alerts for
	// the project.
	EmailAlerts  bool
	AlertAddress string
}

// quotaField is one window of the quota form.
type quotaField struct {
	Name   string // the form field, named as in the JSON API
	Window string // "5 minutes", "hour", "month"
	// Value is the project's own limit, "" when it has none.
	Value string
	// Default is the installation's limit, "" when unknown.
	Default string
}

// setupSDKs are the set-up snippets the settings page offers.
var setupSDKs = []string{"python", "javascript", "go", "php"}

// quotaWindows are the quota form's fields, in the order of
// store.QuotaLimits.
var quotaWindows = [3]struct{ name, window string }{
	{"per_5_minutes", "5 minutes"}, {"per_hour", "hour"}, {"per_month", "month"},
}

func quotaValues(q store.QuotaLimits) [3]int64 { return [3]int64{q.FiveMin, q.Hour, q.Month} }

// limitText formats a quota limit for reading: 0 is no limit.
func limitText(n int64) string {
	if n == 0 {
		return "no limit"
	}
	return count(n)
}

// settingsPage fills the settings page of project p.
func (u *UI) settingsPage(r *http.Request, p *store.Project) (*projectSettingsPage, error) {
	usr := currentUser(r)
	page := &projectSettingsPage{
		layout: u.layout(r, p.Name+" settings"), Project: *p, DSN: DSN(u.base, p), Saved: r.URL.Query().Has("saved"),
		ExtraKeys: strings.Join(p.Scrub.ExtraKeys, "\n"), Kinds: store.AlertBackendKinds(), CanTest: u.sendTest != nil && usr.CanManage(p.ID),
	}
	page.CopyScript = true
	page.Forward = u.forwardView(p.ForwardDSN)
	page.SDKs = setupSDKs
	page.SDK = r.URL.Query().Get("sdk")
	if !slices.Contains(setupSDKs, page.SDK) {
		page.SDK = setupSDKs[0]
	}
	for i, w := range quotaWindows {
		f := quotaField{Name: w.name, Window: w.window}
		if p.Quota != nil {
			f.Value = strconv.FormatInt(quotaValues(*p.Quota)[i], 10)
		}
		if u.quotaDef != nil {
			f.Default = limitText(quotaValues(*u.quotaDef)[i])
		}
		page.Quota = append(page.Quota, f)
	}
	bs, err := u.db.AlertBackends(p.ID)
	if err != nil {
		return nil, err
	}
	tested := r.URL.Query().Get("tested")
	for i := range bs {
		v := viewBackend(&bs[i])
		if tested != "" && tested == strconv.FormatUint(uint64(v.ID), 10) {
			page.Tested, page.TestFailed = v.Name, v.Failure != nil
		}
		page.Backends = append(page.Backends, v)
	}
	if page.EmailAlerts, err = u.db.EmailAlerts(usr.Name, p.ID); err != nil {
		return nil, err
	}
	if page.AlertAddress, err = u.db.AlertAddress(usr.Name); err != nil {
		return nil, err
	}
	return page, nil
}

// handleProjectSettings serves GET /projects/{pid}/settings/: the DSN with
// SDK set-up snippets, the settings, quota, scrubbing and alert backends;
// forms for admins.
func (u *UI) handleProjectSettings(w http.ResponseWriter, r *http.Request) error {
	p, err := u.project(r)
	if err != nil {
		return err
	}
	page, err := u.settingsPage(r, p)
	if err != nil {
		return err
	}
	return u.render(w, "project_settings", page)
}

// settingsError renders the settings page with msg and status 400.
func (u *UI) settingsError(w http.ResponseWriter, r *http.Request, p *store.Project, msg string) error {
	page, err := u.settingsPage(r, p)
	if err != nil {
		return err
	}
	page.Error = msg
	return u.renderStatus(w, http.StatusBadRequest, "project_settings", page)
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
	days := p.SummaryDays
	if v := strings.TrimSpace(r.PostFormValue("summary_days")); v != "" {
		if days, err = strconv.Atoi(v); err != nil || days < 1 {
			days = -1
		}
	}
	s := store.ProjectSettings{
		Name: r.PostFormValue("name"), RetentionMax: ret, SummaryDays: days,
		AlertOnNewIssue: r.PostFormValue("alert_new") != "", AlertOnRegression: r.PostFormValue("alert_regression") != "",
		AlertOnUnmute: r.PostFormValue("alert_unmute") != "",
	}
	if err := u.db.SetProjectSettings(p.ID, s); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return err
		}
		return u.settingsError(w, r, p, "Not saved: a name has 1 to 100 characters, retention is 1 to "+strconv.Itoa(store.MaxRetention)+" events and summaries are kept 1 to "+strconv.Itoa(store.SummaryKeepDays)+" days.")
	}
	return redirect(w, r, settingsURL(p, "saved", ""))
}

// handleProjectQuotaSave serves POST /projects/{pid}/quota/ with
// per_5_minutes, per_hour and per_month: all empty go back to the
// installation defaults; otherwise an empty one takes the installation
// default as it is now, and 0 is no limit.
func (u *UI) handleProjectQuotaSave(w http.ResponseWriter, r *http.Request) error {
	p, err := u.project(r)
	if err != nil {
		return err
	}
	var in [3]string
	set := false
	for i, qw := range quotaWindows {
		in[i] = strings.TrimSpace(r.PostFormValue(qw.name))
		set = set || in[i] != ""
	}
	var q *store.QuotaLimits
	if set {
		var n [3]int64
		for i, v := range in {
			if v == "" {
				if u.quotaDef == nil {
					return u.settingsError(w, r, p, "Not saved: fill in all three limits, or none for the installation defaults.")
				}
				n[i] = quotaValues(*u.quotaDef)[i]
				continue
			}
			x, err := strconv.ParseInt(v, 10, 64)
			if err != nil || x < 0 {
				return u.settingsError(w, r, p, "Not saved: a limit is a whole number of events, 0 for no limit.")
			}
			n[i] = x
		}
		q = &store.QuotaLimits{FiveMin: n[0], Hour: n[1], Month: n[2]}
	}
	if err := u.db.SetProjectQuota(p.ID, q); err != nil {
		return err
	}
	return redirect(w, r, settingsURL(p, "saved", "quota"))
}

// Bounds on a project's extra scrubbing keys.
const (
	maxScrubKeys   = 50
	maxScrubKeyLen = 100
)

// parseScrubKeys reads extra scrubbing keys, one per line or separated by
// commas; it drops empty ones and repeats (in any case).
func parseScrubKeys(s string) ([]string, bool) {
	var out []string
	seen := map[string]bool{}
	for _, k := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' }) {
		k = strings.TrimSpace(k)
		if k == "" || seen[strings.ToLower(k)] {
			continue
		}
		if len(k) > maxScrubKeyLen || strings.IndexFunc(k, unicode.IsControl) >= 0 {
			return nil, false
		}
		seen[strings.ToLower(k)] = true
		out = append(out, k)
	}
	return out, len(out) <= maxScrubKeys
}

// handleProjectScrubSave serves POST /projects/{pid}/scrubbing/ with the
// checkboxes scrub and ip and the text extra_keys.
func (u *UI) handleProjectScrubSave(w http.ResponseWriter, r *http.Request) error {
	p, err := u.project(r)
	if err != nil {
		return err
	}
	keys, ok := parseScrubKeys(r.PostFormValue("extra_keys"))
	if !ok {
		return u.settingsError(w, r, p, "Not saved: at most "+strconv.Itoa(maxScrubKeys)+" extra keys, each up to "+strconv.Itoa(maxScrubKeyLen)+" characters.")
	}
	s := store.ScrubSettings{Off: r.PostFormValue("scrub") == "", IP: r.PostFormValue("ip") != "", ExtraKeys: keys}
	if err := u.db.SetProjectScrub(p.ID, s); err != nil {
		return err
	}
	return redirect(w, r, settingsURL(p, "saved", "scrubbing"))
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

// handleProjectMembers serves GET /projects/{pid}/members/ (project
// managers: admins and the team admins of the project).
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

// handleProjectDeleteForm serves GET /projects/{pid}/delete/ (admins): the
// confirmation.
func (u *UI) handleProjectDeleteForm(w http.ResponseWriter, r *http.Request) error {
	p, err := u.project(r)
	if err != nil {
		return err
	}
	return u.render(w, "confirm_delete", &confirmPage{layout: u.layout(r, "Delete "+p.Name), What: "project", Name: p.Name,
		Action: "/projects/" + strconv.Itoa(p.ID) + "/delete/", Cancel: "/projects/" + strconv.Itoa(p.ID) + "/settings/",
		Detail: "This deletes the project with its " + plural(p.StoredEventCount, "stored event") +
			", its issues, releases, uploads, alert services and the tokens limited to it. Its DSN stops working. It cannot be undone."})
}

// handleProjectDelete serves POST /projects/{pid}/delete/ with confirm=yes.
func (u *UI) handleProjectDelete(w http.ResponseWriter, r *http.Request) error {
	p, err := u.project(r)
	if err != nil {
		return err
	}
	if r.PostFormValue("confirm") != "yes" {
		return errBadInput("Tick the box to confirm.")
	}
	if err := u.db.DeleteProject(p.ID); err != nil {
		return err
	}
	u.log.Info("project deleted", "project_id", p.ID, "by", currentUser(r).Name)
	return redirect(w, r, "/projects/")
}
