package ui

import (
	"net/http"

	"github.com/tinysink/tinysink/store"
)

// lifecycleAction handles the release- and time-based actions
// (resolve-next, resolve-latest, mute-for, mute-until); ok is false for a
// name it does not know.
func (a *API) lifecycleAction(name string, r *http.Request, p *store.Project, iss *store.Issue) (store.Action, bool, error) {
	return "", false, nil
}
