package ui

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/tinysink/tinysink/store"
)

// lifecycleAction handles the release- and time-based actions of
// POST /issues/{id}/{action}/: resolve-next, resolve-latest (the project's
// latest release), resolve-release {"version"}, mute-for
// {"period_name", "nr_of_periods"} and mute-until {"period_name",
// "nr_of_periods", "gte_threshold"}. ok is false for a name it does not
// know.
func (a *API) lifecycleAction(name string, r *http.Request, p *store.Project, iss *store.Issue) (store.Action, bool, error) {
	switch name {
	case "resolve-next":
		return store.ActionResolveNext, true, nil
	case "resolve-latest":
		latest, err := latestRelease(a.db, p.ID)
		if err != nil {
			return "", true, err
		}
		if latest == "" {
			return "", true, errBadInput("the project has no releases yet")
		}
		return store.ResolveInRelease(latest), true, nil
	case "resolve-release":
		var in struct {
			Version string `json:"version"`
		}
		if err := decodeBody(r, &in); err != nil {
			return "", true, err
		}
		if _, err := a.db.Release(p.ID, in.Version); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return "", true, errBadInput("no release %q in this project", in.Version)
			}
			return "", true, err
		}
		return store.ResolveInRelease(in.Version), true, nil
	case "mute-for", "mute-until":
		var in struct {
			Period    string `json:"period_name"`
			N         int    `json:"nr_of_periods"`
			Threshold int64  `json:"gte_threshold"`
		}
		if err := decodeBody(r, &in); err != nil {
			return "", true, err
		}
		if !store.ValidPeriod(in.Period) {
			return "", true, errBadInput("period_name must be one of minute, hour, day, week, month, year")
		}
		if in.N < 1 || in.N > 1000 {
			return "", true, errBadInput("nr_of_periods must be 1 to 1000")
		}
		if name == "mute-for" {
			return store.MuteFor(in.Period, in.N), true, nil
		}
		if in.Threshold < 1 {
			return "", true, errBadInput("gte_threshold must be at least 1")
		}
		return store.MuteUntil(in.Period, in.N, in.Threshold), true, nil
	}
	return "", false, nil
}

// handleCommentCreate serves POST /issue-comments/ {"issue", "comment"}.
func (a *API) handleCommentCreate(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Issue   string `json:"issue"`
		Comment string `json:"comment"`
	}
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	if strings.TrimSpace(in.Comment) == "" {
		return errBadInput("comment is required")
	}
	_, iss, err := a.issue(r, in.Issue)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errBadInput("no issue %q", in.Issue)
		}
		return err
	}
	if err := a.db.AddComment(iss.ID, "", in.Comment); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"issue": in.Issue, "comment": in.Comment, "created_at": time.Now().UTC()})
	return nil
}
