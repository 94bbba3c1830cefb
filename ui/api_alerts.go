package ui

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tinysink/tinysink/store"
)

// The alert-backend part of the JSON API (/api/canonical/0/).

// Secrets (webhook URLs, bot tokens) are shown masked. A masked value sent
// back unchanged keeps the stored one, so a client may PUT what it read.
// The routes are in the table in apiroutes.go.

// apiBackend is an alert backend as the API shows it.
type apiBackend struct {
	ID          uint32            `json:"id"`
	Project     int               `json:"project"`
	Kind        string            `json:"kind"`
	Name        string            `json:"name"`
	Config      map[string]string `json:"config"`
	LastFailure *store.Failure    `json:"last_failure"`
	LastSuccess *time.Time        `json:"last_success"`
}

func apiBackendOf(b *store.AlertBackend) apiBackend {
	out := apiBackend{ID: b.ID, Project: b.Project, Kind: b.Kind, Name: b.Name, Config: b.MaskedConfig(), LastFailure: b.Scrubbed(b.LastFailure)}
	if !b.LastSuccess.IsZero() {
		t := b.LastSuccess.UTC()
		out.LastSuccess = &t
	}
	return out
}

// project returns the project named in the path.
func (a *API) pathProject(r *http.Request) (*store.Project, error) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		return nil, store.ErrNotFound
	}
	return a.projectFor(r, id)
}

// backend returns the backend named in the path, which must belong to the
// project named in it.
func (a *API) pathBackend(r *http.Request) (*store.AlertBackend, error) {
	p, err := a.pathProject(r)
	if err != nil {
		return nil, err
	}
	id, err := strconv.ParseUint(r.PathValue("alert_id"), 10, 32)
	if err != nil {
		return nil, store.ErrNotFound
	}
	b, err := a.db.AlertBackend(uint32(id))
	if err != nil {
		return nil, err
	}
	if b.Project != p.ID {
		return nil, store.ErrNotFound
	}
	return b, nil
}

// handleBackendList serves GET .../alerts/.
func (a *API) handleBackendList(w http.ResponseWriter, r *http.Request) error {
	p, err := a.pathProject(r)
	if err != nil {
		return err
	}
	bs, err := a.db.AlertBackends(p.ID)
	if err != nil {
		return err
	}
	results := make([]apiBackend, 0, len(bs))
	for i := range bs {
		results = append(results, apiBackendOf(&bs[i]))
	}
	writeJSON(w, http.StatusOK, struct {
		Next     *string      `json:"next"`
		Previous *string      `json:"previous"`
		Results  []apiBackend `json:"results"`
	}{Results: results})
	return nil
}

// handleBackendShow serves GET .../alerts/{alert_id}/.
func (a *API) handleBackendShow(w http.ResponseWriter, r *http.Request) error {
	b, err := a.pathBackend(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apiBackendOf(b))
	return nil
}

// backendRequest is the body of create, PATCH and PUT.
type backendRequest struct {
	Kind   *string         `json:"kind"`
	Name   *string         `json:"name"`
	Config map[string]any  `json:"config"`
	raw    map[string]bool // the top-level fields present
}

func decodeBackendRequest(w http.ResponseWriter, r *http.Request) (*backendRequest, error) {
	body := http.MaxBytesReader(w, r.Body, 64<<10)
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(body)
	if err := dec.Decode(&raw); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, errBadInput("the body must be a JSON object")
	}
	req := &backendRequest{raw: map[string]bool{}}
	for k, v := range raw {
		req.raw[k] = true
		var err error
		switch k {
		case "kind":
			err = json.Unmarshal(v, &req.Kind)
		case "name":
			err = json.Unmarshal(v, &req.Name)
		case "config":
			d := json.NewDecoder(strings.NewReader(string(v)))
			d.UseNumber()
			err = d.Decode(&req.Config)
		case "id", "project", "last_failure", "last_success":
			// Read-only fields of a GET reply sent back: ignored.
		default:
			return nil, errBadInput("unknown field %q", k)
		}
		if err != nil {
			return nil, errBadInput("field %q has the wrong type", k)
		}
	}
	return req, nil
}

// mergeConfig applies the requested config to cfg: strings and numbers
// set a key, "" or null removes it, and a value equal to the mask of the
// stored one keeps the stored one.
func mergeConfig(cfg, stored map[string]string, req map[string]any) error {
	for k, v := range req {
		var s string
		switch v := v.(type) {
		case nil:
		case string:
			s = v
		case json.Number:
			s = v.String()
		default:
			return errBadInput("config.%s must be a string", k)
		}
		if old, ok := stored[k]; ok && store.IsSecretKey(k) && s == store.MaskSecret(old) {
			s = old
		}
		if s == "" {
			delete(cfg, k)
			continue
		}
		cfg[k] = s
	}
	return nil
}

// handleBackendCreate serves POST .../alerts/.
func (a *API) handleBackendCreate(w http.ResponseWriter, r *http.Request) error {
	p, err := a.pathProject(r)
	if err != nil {
		return err
	}
	req, err := decodeBackendRequest(w, r)
	if err != nil {
		return err
	}
	if req.Kind == nil {
		return errBadInput("kind is required")
	}
	b := &store.AlertBackend{Project: p.ID, Kind: *req.Kind, Config: map[string]string{}}
	if req.Name != nil {
		b.Name = *req.Name
	}
	if err := mergeConfig(b.Config, nil, req.Config); err != nil {
		return err
	}
	if err := a.db.CreateAlertBackend(b); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, apiBackendOf(b))
	return nil
}

// handleBackendPatch serves PATCH .../alerts/{alert_id}/: the fields given
// change; config keys merge into the stored config (a changed kind starts
// from an empty one).
func (a *API) handleBackendPatch(w http.ResponseWriter, r *http.Request) error {
	return a.updateBackend(w, r, false)
}

// handleBackendPut serves PUT .../alerts/{alert_id}/: kind and config
// replace the stored ones.
func (a *API) handleBackendPut(w http.ResponseWriter, r *http.Request) error {
	return a.updateBackend(w, r, true)
}

func (a *API) updateBackend(w http.ResponseWriter, r *http.Request, replace bool) error {
	cur, err := a.pathBackend(r)
	if err != nil {
		return err
	}
	req, err := decodeBackendRequest(w, r)
	if err != nil {
		return err
	}
	if replace && (req.Kind == nil || !req.raw["config"]) {
		return errBadInput("PUT needs kind and config")
	}
	b := &store.AlertBackend{ID: cur.ID, Project: cur.Project, Kind: cur.Kind, Name: cur.Name, Config: map[string]string{}}
	if req.Kind != nil {
		b.Kind = *req.Kind
	}
	if req.Name != nil {
		b.Name = *req.Name
	}
	if !replace && b.Kind == cur.Kind {
		for k, v := range cur.Config {
			b.Config[k] = v
		}
	}
	if err := mergeConfig(b.Config, cur.Config, req.Config); err != nil {
		return err
	}
	if err := a.db.UpdateAlertBackend(b); err != nil {
		return err
	}
	if a.Poke != nil {
		a.Poke() // deliveries waiting for this backend are due now
	}
	writeJSON(w, http.StatusOK, apiBackendOf(b))
	return nil
}

// handleBackendDelete serves DELETE .../alerts/{alert_id}/.
func (a *API) handleBackendDelete(w http.ResponseWriter, r *http.Request) error {
	b, err := a.pathBackend(r)
	if err != nil {
		return err
	}
	if err := a.db.DeleteAlertBackend(b.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleBackendTest serves POST .../alerts/{alert_id}/test/: it sends the
// test message and replies {"ok": true} or {"ok": false, "failure": {...}}.
func (a *API) handleBackendTest(w http.ResponseWriter, r *http.Request) error {
	b, err := a.pathBackend(r)
	if err != nil {
		return err
	}
	if a.SendTest == nil {
		return errBadInput("this server cannot send test messages")
	}
	f, err := a.SendTest(r.Context(), b.ID)
	if err != nil {
		return err
	}
	f = b.Scrubbed(f)
	writeJSON(w, http.StatusOK, struct {
		OK      bool           `json:"ok"`
		Failure *store.Failure `json:"failure,omitempty"`
	}{f == nil, f})
	return nil
}
