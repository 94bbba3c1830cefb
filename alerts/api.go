package alerts

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tinysink/tinysink/store"
)

// The alert-backend part of the JSON API (/api/canonical/0/).

const apiAlerts = "/api/canonical/0/projects/{id}/alerts/"

// RegisterAPI adds the alert-backend routes to mux, each wrapped in auth:
//
//	GET    /api/canonical/0/projects/{id}/alerts/                  list
//	POST   /api/canonical/0/projects/{id}/alerts/                  create {"kind", "name", "config"}
//	GET    /api/canonical/0/projects/{id}/alerts/{alert_id}/       show
//	PATCH  /api/canonical/0/projects/{id}/alerts/{alert_id}/       change the fields given
//	PUT    /api/canonical/0/projects/{id}/alerts/{alert_id}/       replace kind, name and config
//	DELETE /api/canonical/0/projects/{id}/alerts/{alert_id}/       204
//	POST   /api/canonical/0/projects/{id}/alerts/{alert_id}/test/  send the test message now
//
// Secrets (webhook URLs, bot tokens) are shown masked. A masked value sent
// back unchanged keeps the stored one, so a client may PUT what it read.
func (s *Sender) RegisterAPI(mux *http.ServeMux, auth func(http.Handler) http.Handler) {
	route := func(pattern string, h apiHandler) { mux.Handle(pattern, auth(s.wrapAPI(h))) }
	route("GET "+apiAlerts+"{$}", s.handleBackendList)
	route("POST "+apiAlerts+"{$}", s.handleBackendCreate)
	route("GET "+apiAlerts+"{alert_id}/{$}", s.handleBackendShow)
	route("PATCH "+apiAlerts+"{alert_id}/{$}", s.handleBackendPatch)
	route("PUT "+apiAlerts+"{alert_id}/{$}", s.handleBackendPut)
	route("DELETE "+apiAlerts+"{alert_id}/{$}", s.handleBackendDelete)
	route("POST "+apiAlerts+"{alert_id}/test/{$}", s.handleBackendTest)
}

type apiHandler func(w http.ResponseWriter, r *http.Request) error

// badRequest is an error whose text is meant for the client.
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

func errBadRequest(format string, args ...any) error {
	return &badRequest{msg: fmt.Sprintf(format, args...)}
}

// wrapAPI writes a handler's error as JSON: 404 for unknown ids, 400 for
// invalid input, 500 (logged, text hidden) for the rest.
func (s *Sender) wrapAPI(h apiHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := func() (err error) {
			defer func() {
				if v := recover(); v != nil {
					err = fmt.Errorf("panic: %v", v)
				}
			}()
			return h(w, r)
		}()
		if err == nil {
			return
		}
		var br *badRequest
		var mbe *http.MaxBytesError
		switch {
		case errors.Is(err, store.ErrNotFound):
			writeJSON(w, http.StatusNotFound, map[string]string{"detail": "Not found."})
		case errors.As(err, &br):
			writeJSON(w, http.StatusBadRequest, map[string]string{"detail": br.msg})
		case errors.Is(err, store.ErrInvalidBackend):
			writeJSON(w, http.StatusBadRequest, map[string]string{"detail": strings.TrimPrefix(err.Error(), "store: ")})
		case errors.As(err, &mbe):
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"detail": "Request body too large."})
		default:
			s.log.Error("alerts api request failed", "path", r.URL.Path, "err", err)
			writeJSON(w, http.StatusInternalServerError, map[string]string{"detail": "Internal error."})
		}
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"detail":"Internal error."}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
	w.Write([]byte{'\n'})
}

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
	out := apiBackend{ID: b.ID, Project: b.Project, Kind: b.Kind, Name: b.Name, Config: maskConfig(b.Config)}
	if b.LastFailure != nil {
		f := *b.LastFailure
		scrub(&f, secrets(b))
		out.LastFailure = &f
	}
	if !b.LastSuccess.IsZero() {
		t := b.LastSuccess.UTC()
		out.LastSuccess = &t
	}
	return out
}

// project returns the project named in the path.
func (s *Sender) project(r *http.Request) (*store.Project, error) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		return nil, store.ErrNotFound
	}
	return s.db.Project(id)
}

// backend returns the backend named in the path, which must belong to the
// project named in it.
func (s *Sender) backend(r *http.Request) (*store.AlertBackend, error) {
	p, err := s.project(r)
	if err != nil {
		return nil, err
	}
	id, err := strconv.ParseUint(r.PathValue("alert_id"), 10, 32)
	if err != nil {
		return nil, store.ErrNotFound
	}
	b, err := s.db.AlertBackend(uint32(id))
	if err != nil {
		return nil, err
	}
	if b.Project != p.ID {
		return nil, store.ErrNotFound
	}
	return b, nil
}

// handleBackendList serves GET .../alerts/.
func (s *Sender) handleBackendList(w http.ResponseWriter, r *http.Request) error {
	p, err := s.project(r)
	if err != nil {
		return err
	}
	bs, err := s.db.AlertBackends(p.ID)
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
func (s *Sender) handleBackendShow(w http.ResponseWriter, r *http.Request) error {
	b, err := s.backend(r)
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
		return nil, errBadRequest("the body must be a JSON object")
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
			return nil, errBadRequest("unknown field %q", k)
		}
		if err != nil {
			return nil, errBadRequest("field %q has the wrong type", k)
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
			return errBadRequest("config.%s must be a string", k)
		}
		if old, ok := stored[k]; ok && secretKeys[k] && s == maskSecret(old) {
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
func (s *Sender) handleBackendCreate(w http.ResponseWriter, r *http.Request) error {
	p, err := s.project(r)
	if err != nil {
		return err
	}
	req, err := decodeBackendRequest(w, r)
	if err != nil {
		return err
	}
	if req.Kind == nil {
		return errBadRequest("kind is required")
	}
	b := &store.AlertBackend{Project: p.ID, Kind: *req.Kind, Config: map[string]string{}}
	if req.Name != nil {
		b.Name = *req.Name
	}
	if err := mergeConfig(b.Config, nil, req.Config); err != nil {
		return err
	}
	if err := s.db.CreateAlertBackend(b); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, apiBackendOf(b))
	return nil
}

// handleBackendPatch serves PATCH .../alerts/{alert_id}/: the fields given
// change; config keys merge into the stored config (a changed kind starts
// from an empty one).
func (s *Sender) handleBackendPatch(w http.ResponseWriter, r *http.Request) error {
	return s.updateBackend(w, r, false)
}

// handleBackendPut serves PUT .../alerts/{alert_id}/: kind and config
// replace the stored ones.
func (s *Sender) handleBackendPut(w http.ResponseWriter, r *http.Request) error {
	return s.updateBackend(w, r, true)
}

func (s *Sender) updateBackend(w http.ResponseWriter, r *http.Request, replace bool) error {
	cur, err := s.backend(r)
	if err != nil {
		return err
	}
	req, err := decodeBackendRequest(w, r)
	if err != nil {
		return err
	}
	if replace && (req.Kind == nil || !req.raw["config"]) {
		return errBadRequest("PUT needs kind and config")
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
	if err := s.db.UpdateAlertBackend(b); err != nil {
		return err
	}
	s.Poke() // deliveries waiting for this backend are due now
	writeJSON(w, http.StatusOK, apiBackendOf(b))
	return nil
}

// handleBackendDelete serves DELETE .../alerts/{alert_id}/.
func (s *Sender) handleBackendDelete(w http.ResponseWriter, r *http.Request) error {
	b, err := s.backend(r)
	if err != nil {
		return err
	}
	if err := s.db.DeleteAlertBackend(b.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleBackendTest serves POST .../alerts/{alert_id}/test/: it sends the
// test message and replies {"ok": true} or {"ok": false, "failure": {...}}.
func (s *Sender) handleBackendTest(w http.ResponseWriter, r *http.Request) error {
	b, err := s.backend(r)
	if err != nil {
		return err
	}
	f, err := s.SendTest(r.Context(), b.ID)
	if err != nil {
		return err
	}
	if f != nil {
		scrub(f, secrets(b))
	}
	writeJSON(w, http.StatusOK, struct {
		OK      bool           `json:"ok"`
		Failure *store.Failure `json:"failure,omitempty"`
	}{f == nil, f})
	return nil
}
