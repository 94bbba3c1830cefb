package ui

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tinysink/tinysink/store"
)

// The API's writing half: projects, issue actions and deletion, releases,
// and the endpoints sentry-cli calls for `releases new/finalize/list` and
// `deploys new`.

// decodeBody reads a JSON request body of at most 64 KiB into v.
func decodeBody(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10+1))
	if err != nil {
		return errBadInput("cannot read the request body")
	}
	if len(b) > 64<<10 {
		return errBadInput("the request body is over 64 KiB")
	}
	if len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errBadInput("invalid JSON: %v", err)
	}
	return nil
}

// handleProjectCreate serves POST /projects/ {"name": ...}.
func (a *API) handleProjectCreate(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	if strings.TrimSpace(in.Name) == "" {
		return errBadInput("name is required")
	}
	p, err := a.db.CreateProject(in.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, a.project(p))
	return nil
}

// projectPatch is what PATCH /projects/{id}/ may change; absent fields stay.
type projectPatch struct {
	Name              *string              `json:"name"`
	RetentionMax      *int                 `json:"retention_max_event_count"`
	SummaryDays       *int                 `json:"summary_retention_days"`
	AlertOnNewIssue   *bool                `json:"alert_on_new_issue"`
	AlertOnRegression *bool                `json:"alert_on_regression"`
	AlertOnUnmute     *bool                `json:"alert_on_unmute"`
	Quota             json.RawMessage      `json:"quota"` // object, or null to use the installation's defaults
	Scrub             *store.ScrubSettings `json:"scrubbing"`
}

// handleProjectUpdate serves PATCH /projects/{id}/.
func (a *API) handleProjectUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		return store.ErrNotFound
	}
	p, err := a.projectFor(r, id)
	if err != nil {
		return err
	}
	var in projectPatch
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	s := store.ProjectSettings{Name: p.Name, RetentionMax: p.RetentionMax, SummaryDays: p.SummaryDays, AlertOnNewIssue: p.AlertOnNewIssue,
		AlertOnRegression: p.AlertOnRegression, AlertOnUnmute: p.AlertOnUnmute}
	if in.Name != nil {
		s.Name = *in.Name
	}
	if in.RetentionMax != nil {
		s.RetentionMax = *in.RetentionMax
	}
	if in.SummaryDays != nil {
		s.SummaryDays = *in.SummaryDays
		if s.SummaryDays < 1 || s.SummaryDays > store.SummaryKeepDays {
			return errBadInput("summary_retention_days is 1 to %d", store.SummaryKeepDays)
		}
	}
	if in.AlertOnNewIssue != nil {
		s.AlertOnNewIssue = *in.AlertOnNewIssue
	}
	if in.AlertOnRegression != nil {
		s.AlertOnRegression = *in.AlertOnRegression
	}
	if in.AlertOnUnmute != nil {
		s.AlertOnUnmute = *in.AlertOnUnmute
	}
	if strings.TrimSpace(s.Name) == "" || len(s.Name) > 100 {
		return errBadInput("name has 1 to 100 characters")
	}
	if s.RetentionMax < 1 || s.RetentionMax > store.MaxRetention {
		return errBadInput("retention_max_event_count is 1 to %d", store.MaxRetention)
	}
	var quota *store.QuotaLimits
	if len(in.Quota) > 0 && string(in.Quota) != "null" {
		quota = &store.QuotaLimits{}
		if err := json.Unmarshal(in.Quota, quota); err != nil {
			return errBadInput("quota: %v", err)
		}
		if quota.FiveMin < 0 || quota.Hour < 0 || quota.Month < 0 {
			return errBadInput("quota limits are 0 (no limit) or more")
		}
	}
	if err := a.db.SetProjectSettings(id, s); err != nil {
		return err
	}
	if len(in.Quota) > 0 {
		if err := a.db.SetProjectQuota(id, quota); err != nil {
			return err
		}
	}
	if in.Scrub != nil {
		if err := a.db.SetProjectScrub(id, *in.Scrub); err != nil {
			return err
		}
	}
	if p, err = a.db.Project(id); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.project(p))
	return nil
}

// apiIssueActions maps the API's action names to the store's.
var apiIssueActions = map[string]store.Action{
	"resolve": store.ActionResolve,
	"reopen":  store.ActionReopen,
	"mute":    store.ActionMute,
	"unmute":  store.ActionUnmute,
}

// handleIssueAction serves POST /issues/{id}/{action}/.
func (a *API) handleIssueAction(w http.ResponseWriter, r *http.Request) error {
	p, iss, err := a.issue(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	act, err := a.actionFor(r, p, iss)
	if err != nil {
		return err
	}
	iss, err = a.db.ApplyAction(iss.ID, act, "", "")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, iss.View(p))
	return nil
}

// actionFor reads the action of an issue-action request.
func (a *API) actionFor(r *http.Request, p *store.Project, iss *store.Issue) (store.Action, error) {
	name := r.PathValue("action")
	if act, ok := apiIssueActions[name]; ok {
		return act, nil
	}
	if act, ok, err := a.lifecycleAction(name, r, p, iss); ok || err != nil {
		return act, err
	}
	return "", store.ErrNotFound
}

// handleIssueDelete serves DELETE /issues/{id}/.
func (a *API) handleIssueDelete(w http.ResponseWriter, r *http.Request) error {
	_, iss, err := a.issue(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := a.db.DeleteIssue(iss.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type apiRelease struct {
	Project       int       `json:"project"`
	Version       string    `json:"version"`
	DateReleased  time.Time `json:"date_released"`
	releaseHealth           // over the last 14 days (health.go)
}

func apiReleaseOf(r *store.Release) apiRelease {
	return apiRelease{Project: r.Project, Version: r.Version, DateReleased: r.DateReleased.UTC()}
}

// handleReleaseList serves GET /releases/?project=ID.
func (a *API) handleReleaseList(w http.ResponseWriter, r *http.Request) error {
	pid, err := strconv.Atoi(r.URL.Query().Get("project"))
	if err != nil {
		return errBadInput("the project parameter is required")
	}
	if _, err := a.projectFor(r, pid); err != nil {
		return err
	}
	rs, err := a.db.Releases(pid)
	if err != nil {
		return err
	}
	health, err := releaseHealths(a.db, pid)
	if err != nil {
		return err
	}
	out := make([]apiRelease, 0, len(rs))
	for i := range rs {
		ar := apiReleaseOf(&rs[i])
		ar.releaseHealth = health[rs[i].Version]
		out = append(out, ar)
	}
	writeJSON(w, http.StatusOK, page{Results: out})
	return nil
}

// handleReleaseCreate serves POST /releases/ {project, version, timestamp?}.
func (a *API) handleReleaseCreate(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Project   int       `json:"project"`
		Version   string    `json:"version"`
		Timestamp time.Time `json:"timestamp"`
	}
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	if _, err := a.projectFor(r, in.Project); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errBadInput("no project %d", in.Project)
		}
		return err
	}
	rel, created, err := a.db.CreateRelease(in.Project, in.Version, in.Timestamp, a.ReleaseEpoch)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, apiReleaseOf(rel))
	return nil
}

// handleReleaseShow serves GET /releases/{project}/{version}/.
func (a *API) handleReleaseShow(w http.ResponseWriter, r *http.Request) error {
	pid, err := strconv.Atoi(r.PathValue("project"))
	if err != nil {
		return store.ErrNotFound
	}
	if err := allowProject(r, pid); err != nil {
		return err
	}
	rel, err := a.db.Release(pid, r.PathValue("version"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apiReleaseOf(rel))
	return nil
}

// handleCLIAuth serves GET /api/0/ (sentry-cli's token check).
func (a *API) handleCLIAuth(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]any{"version": "0", "auth": map[string]any{"scopes": []string{"org:ci", "project:releases"}}, "user": nil})
	return nil
}

// cliRelease is a release as Sentry's web API shows it.
type cliRelease struct {
	Version      string       `json:"version"`
	ShortVersion string       `json:"shortVersion"`
	Ref          *string      `json:"ref"`
	URL          *string      `json:"url"`
	DateCreated  time.Time    `json:"dateCreated"`
	DateReleased *time.Time   `json:"dateReleased"`
	DateStarted  *time.Time   `json:"dateStarted"`
	Projects     []cliProject `json:"projects"`
	NewGroups    int          `json:"newGroups"`
	LastEvent    *time.Time   `json:"lastEvent"`
	FirstEvent   *time.Time   `json:"firstEvent"`
	Authors      []any        `json:"authors"`
	CommitCount  int          `json:"commitCount"`
	DeployCount  int          `json:"deployCount"`
	LastDeploy   any          `json:"lastDeploy"`
}

type cliProject struct {
	Slug string `json:"slug"`
	Name string `json:"name"`
}

// cliProjects resolves sentry-cli's project slugs (or numeric ids), which
// the request's token must be allowed to touch.
func (a *API) cliProjects(r *http.Request, refs []string) ([]*store.Project, error) {
	var out []*store.Project
	for _, ref := range refs {
		p, err := a.db.ProjectBySlug(ref)
		if errors.Is(err, store.ErrNotFound) {
			if id, aerr := strconv.Atoi(ref); aerr == nil {
				p, err = a.db.Project(id)
			}
		}
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, errBadInput("unknown project %q", ref)
			}
			return nil, err
		}
		if err := allowProject(r, p.ID); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, errBadInput("projects is required")
	}
	return out, nil
}

func (a *API) cliReleaseOf(version string, ps []*store.Project) (cliRelease, error) {
	out := cliRelease{Version: version, ShortVersion: version, Authors: []any{}, Projects: []cliProject{}}
	for _, p := range ps {
		rel, err := a.db.Release(p.ID, version)
		if err != nil {
			continue
		}
		if out.DateCreated.IsZero() || rel.DateReleased.Before(out.DateCreated) {
			out.DateCreated = rel.DateReleased.UTC()
		}
		if f := rel.DateFinalized; !f.IsZero() && (out.DateReleased == nil || f.Before(*out.DateReleased)) {
			f = f.UTC()
			out.DateReleased = &f
		}
		out.Projects = append(out.Projects, cliProject{Slug: p.Slug, Name: p.Name})
		ds, _ := a.db.Deploys(p.ID, version)
		out.DeployCount += len(ds)
	}
	if len(out.Projects) == 0 {
		return out, store.ErrNotFound
	}
	// dateReleased stays null until `releases finalize`, as in Sentry.
	return out, nil
}

// finalize marks the release finalized in each of ps (a PUT or POST with
// dateReleased, as `releases finalize` and `releases new --finalize` send).
func (a *API) finalize(version string, ps []*store.Project, at *time.Time) error {
	if at == nil {
		return nil
	}
	for _, p := range ps {
		if err := a.db.FinalizeRelease(p.ID, version, *at); err != nil {
			return err
		}
	}
	return nil
}

// handleCLIReleaseNew serves POST /api/0/organizations/{org}/releases/
// (`sentry-cli releases new`).
func (a *API) handleCLIReleaseNew(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Version     string         `json:"version"`
		Projects    cliProjectRefs `json:"projects"`
		DateStarted *time.Time     `json:"dateStarted"`
		DateRelease *time.Time     `json:"dateReleased"`
	}
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	ps, err := a.cliProjects(r, in.Projects)
	if err != nil {
		return err
	}
	var at time.Time
	if in.DateRelease != nil {
		at = *in.DateRelease
	}
	anyNew := false
	for _, p := range ps {
		_, created, err := a.db.CreateRelease(p.ID, in.Version, at, a.ReleaseEpoch)
		if err != nil {
			return err
		}
		anyNew = anyNew || created
	}
	if err := a.finalize(in.Version, ps, in.DateRelease); err != nil {
		return err
	}
	out, err := a.cliReleaseOf(in.Version, ps)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if anyNew {
		status = http.StatusCreated
	}
	writeJSON(w, status, out)
	return nil
}

// releaseProjects returns the projects that have the release, of those the
// request's token may touch.
func (a *API) releaseProjects(r *http.Request, version string) ([]*store.Project, error) {
	ps, err := a.db.Projects()
	if err != nil {
		return nil, err
	}
	var out []*store.Project
	for i := range ps {
		if allowProject(r, ps[i].ID) != nil {
			continue
		}
		if _, err := a.db.Release(ps[i].ID, version); err == nil {
			out = append(out, &ps[i])
		}
	}
	if len(out) == 0 {
		return nil, store.ErrNotFound
	}
	return out, nil
}

// handleCLIReleaseUpdate serves PUT /api/0/organizations/{org}/releases/{version}/
// (`sentry-cli releases finalize`): the release exists afterwards in every
// project named.
func (a *API) handleCLIReleaseUpdate(w http.ResponseWriter, r *http.Request) error {
	version := r.PathValue("version")
	var in struct {
		Projects    cliProjectRefs `json:"projects"`
		DateRelease *time.Time     `json:"dateReleased"`
	}
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	var ps []*store.Project
	var err error
	if len(in.Projects) > 0 {
		if ps, err = a.cliProjects(r, in.Projects); err != nil {
			return err
		}
		var at time.Time
		if in.DateRelease != nil {
			at = *in.DateRelease
		}
		for _, p := range ps {
			if _, _, err := a.db.CreateRelease(p.ID, version, at, a.ReleaseEpoch); err != nil {
				return err
			}
		}
	} else if ps, err = a.releaseProjects(r, version); err != nil {
		return err
	}
	if err := a.finalize(version, ps, in.DateRelease); err != nil {
		return err
	}
	out, err := a.cliReleaseOf(version, ps)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleCLIReleaseShow serves GET /api/0/organizations/{org}/releases/{version}/.
func (a *API) handleCLIReleaseShow(w http.ResponseWriter, r *http.Request) error {
	version := r.PathValue("version")
	ps, err := a.releaseProjects(r, version)
	if err != nil {
		return err
	}
	out, err := a.cliReleaseOf(version, ps)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleCLIDeployNew serves POST /api/0/organizations/{org}/releases/{version}/deploys/
// (`sentry-cli deploys new`).
func (a *API) handleCLIDeployNew(w http.ResponseWriter, r *http.Request) error {
	version := r.PathValue("version")
	var in struct {
		Environment  string         `json:"environment"`
		Name         string         `json:"name"`
		URL          string         `json:"url"`
		DateStarted  *time.Time     `json:"dateStarted"`
		DateFinished *time.Time     `json:"dateFinished"`
		Projects     cliProjectRefs `json:"projects"`
	}
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	if in.Environment == "" {
		return errBadInput("environment is required")
	}
	var ps []*store.Project
	var err error
	if len(in.Projects) > 0 {
		ps, err = a.cliProjects(r, in.Projects)
	} else {
		ps, err = a.releaseProjects(r, version)
	}
	if err != nil {
		return err
	}
	d := store.Deploy{Version: version, Environment: in.Environment, Name: in.Name, URL: in.URL, DateFinished: time.Now().UTC()}
	if in.DateStarted != nil {
		d.DateStarted = in.DateStarted.UTC()
	}
	if in.DateFinished != nil {
		d.DateFinished = in.DateFinished.UTC()
	}
	for _, p := range ps {
		d.Project = p.ID
		if err := a.db.AddDeploy(&d); err != nil {
			return err
		}
	}
	out := map[string]any{"id": fmt.Sprint(time.Now().UnixNano()), "environment": d.Environment, "name": d.Name, "url": d.URL,
		"dateStarted": d.DateStarted, "dateFinished": d.DateFinished}
	if d.DateStarted.IsZero() {
		out["dateStarted"] = nil
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// handleCLIReleaseList serves GET /api/0/projects/{org}/{project}/releases/
// (`sentry-cli releases list`).
func (a *API) handleCLIReleaseList(w http.ResponseWriter, r *http.Request) error {
	ps, err := a.cliProjects(r, []string{r.PathValue("project")})
	if err != nil {
		return store.ErrNotFound
	}
	rs, err := a.db.Releases(ps[0].ID)
	if err != nil {
		return err
	}
	out := make([]cliRelease, 0, len(rs))
	for _, rel := range rs {
		c, err := a.cliReleaseOf(rel.Version, ps)
		if err != nil {
			continue
		}
		out = append(out, c)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
