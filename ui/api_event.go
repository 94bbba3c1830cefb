package ui

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/tinysink/tinysink/digest/rawevent"
	"github.com/tinysink/tinysink/store"
)

// event resolves GET events/{id}/[?project=ID]: the event_id is unique
// within a project only, so the project parameter names which one. Without
// it the event_id must be stored in one project alone: when two projects
// hold it, the request is refused (400, naming them) rather than answered
// with either.
func (a *API) event(r *http.Request) (*store.Event, []byte, error) {
	id, ok := rawevent.ParseID(r.PathValue("id"))
	if !ok {
		return nil, nil, store.ErrNotFound
	}
	if ref := r.URL.Query().Get("project"); ref != "" {
		pid, err := strconv.Atoi(ref)
		if err != nil {
			return nil, nil, errBadInput("project must be a project id")
		}
		if err := allowProject(r, pid); err != nil {
			return nil, nil, err
		}
		ev, body, err := a.db.ProjectEvent(pid, id)
		if err != nil {
			return nil, nil, err
		}
		return ev, a.maps.Apply(pid, body), nil
	}
	ps, err := a.db.Projects()
	if err != nil {
		return nil, nil, err
	}
	var found []int
	var ev *store.Event
	var body []byte
	for i := range ps {
		if allowProject(r, ps[i].ID) != nil {
			continue
		}
		e, b, err := a.db.ProjectEvent(ps[i].ID, id)
		if err == store.ErrNotFound {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		found = append(found, ps[i].ID)
		ev, body = e, b
	}
	switch len(found) {
	case 0:
		return nil, nil, store.ErrNotFound
	case 1:
		return ev, a.maps.Apply(found[0], body), nil
	}
	ids := make([]string, len(found))
	for i, pid := range found {
		ids[i] = strconv.Itoa(pid)
	}
	return nil, nil, errBadInput("%s", fmt.Sprintf("event %s is stored in projects %s: name one with ?project=ID", r.PathValue("id"), strings.Join(ids, ", ")))
}
