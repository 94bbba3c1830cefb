package ui

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/tinysink/tinysink/store"
)

// Alert backends (reference §8.3): each project's messaging services,
// listed on its settings page and changed by admins on a form per kind.
// Secrets (webhook URLs, bot tokens) are never shown in full: a page
// shows their masks, and an edit form leaves a secret empty to keep it.

// backendView is a backend as the settings page shows it: secrets masked,
// everything cleaned.
type backendView struct {
	ID        uint32
	Name      string
	Kind      string
	KindLabel string
	Config    []kv
	Failure   *failureView
	Success   string // when the last message was accepted, or ""
}

type failureView struct {
	At     string
	Status int
	Error  string
	Body   string // the first 2,000 characters of the reply
}

func viewBackend(b *store.AlertBackend) backendView {
	bk, _ := store.AlertBackendKind(b.Kind)
	v := backendView{ID: b.ID, Name: clean(b.Name, store.MaxBackendName, false), Kind: b.Kind, KindLabel: bk.Label}
	if v.KindLabel == "" {
		v.KindLabel = clean(b.Kind, maxKey, false)
	}
	for _, f := range bk.Fields {
		val, ok := b.Config[f.Key]
		if !ok {
			continue
		}
		if f.Secret {
			val = store.MaskSecret(val)
		}
		v.Config = append(v.Config, kv{Key: f.Label, Value: clean(val, maxText, false)})
	}
	if f := b.LastFailure; f != nil {
		v.Failure = &failureView{
			At: when(f.At), Status: f.Status,
			Error: clean(b.ScrubSecrets(f.Error), maxText, false),
			Body:  clean(b.ScrubSecrets(f.Body), 2000, true),
		}
	}
	if !b.LastSuccess.IsZero() {
		v.Success = when(b.LastSuccess)
	}
	return v
}

// projectBackend returns the project named by {pid} and its backend named
// by {bid}.
func (u *UI) projectBackend(r *http.Request) (*store.Project, *store.AlertBackend, error) {
	p, err := u.project(r)
	if err != nil {
		return nil, nil, err
	}
	id, err := strconv.ParseUint(r.PathValue("bid"), 10, 32)
	if err != nil {
		return nil, nil, errNotFound
	}
	b, err := u.db.AlertBackend(uint32(id))
	if errors.Is(err, store.ErrNotFound) || err == nil && b.Project != p.ID {
		return nil, nil, errNotFound
	}
	return p, b, err
}

// formField is one input of the backend form.
type formField struct {
	store.BackendField
	Value string
	// Current is the mask of the stored secret, on the edit form.
	Current string
}

type backendFormPage struct {
	layout
	Project store.Project
	Kind    store.BackendKind
	ID      uint32 // 0 on the form for a new backend
	Name    string
	Fields  []formField
	Error   string
	Action  string // where the form posts
}

// formAction is where the form for backend id (0 for a new one) of
// project pid posts.
func formAction(pid int, id uint32) string {
	base := "/projects/" + strconv.Itoa(pid) + "/alerts/"
	if id == 0 {
		return base + "new/"
	}
	return base + strconv.FormatUint(uint64(id), 10) + "/"
}

func (u *UI) backendForm(r *http.Request, p *store.Project, bk store.BackendKind, b *store.AlertBackend) *backendFormPage {
	page := &backendFormPage{layout: u.layout(r, "New "+bk.Label+" backend"), Project: *p, Kind: bk}
	if b != nil && b.ID != 0 {
		page.Title = "Edit " + clean(b.Name, store.MaxBackendName, false)
		page.ID = b.ID
	}
	if b != nil {
		page.Name = b.Name
	}
	for _, f := range bk.Fields {
		ff := formField{BackendField: f}
		if b != nil {
			if f.Secret {
				if v := b.Config[f.Key]; v != "" && b.ID != 0 {
					ff.Current = store.MaskSecret(v)
				}
			} else {
				ff.Value = b.Config[f.Key]
			}
		}
		page.Fields = append(page.Fields, ff)
	}
	page.Action = formAction(p.ID, page.ID)
	return page
}

// handleBackendNewForm serves GET /projects/{pid}/alerts/new/?kind= (project
// managers).
func (u *UI) handleBackendNewForm(w http.ResponseWriter, r *http.Request) error {
	p, err := u.project(r)
	if err != nil {
		return err
	}
	bk, ok := store.AlertBackendKind(r.URL.Query().Get("kind"))
	if !ok {
		return errBadInput("Unknown kind of alert backend.")
	}
	return u.render(w, "alert_backend", u.backendForm(r, p, bk, nil))
}

// handleBackendEditForm serves GET /projects/{pid}/alerts/{bid}/ (project
// managers).
func (u *UI) handleBackendEditForm(w http.ResponseWriter, r *http.Request) error {
	p, b, err := u.projectBackend(r)
	if err != nil {
		return err
	}
	bk, ok := store.AlertBackendKind(b.Kind)
	if !ok {
		return errBadInput("This backend's kind is unknown; delete it through the API.")
	}
	return u.render(w, "alert_backend", u.backendForm(r, p, bk, b))
}

// backendFromForm reads the form into a backend of kind bk; a secret left
// empty keeps the one in cur (nil for a new backend).
func backendFromForm(r *http.Request, bk store.BackendKind, cur *store.AlertBackend) *store.AlertBackend {
	b := &store.AlertBackend{Kind: bk.Kind, Name: r.PostFormValue("name"), Config: map[string]string{}}
	for _, f := range bk.Fields {
		v := strings.TrimSpace(r.PostFormValue(f.Key))
		if v == "" && f.Secret && cur != nil {
			v = cur.Config[f.Key]
		}
		if v != "" {
			b.Config[f.Key] = v
		}
	}
	return b
}

// backendSaveError renders the form again with the store's reason for
// refusing the backend; other errors are returned.
func (u *UI) backendSaveError(w http.ResponseWriter, r *http.Request, p *store.Project, bk store.BackendKind, b *store.AlertBackend, err error) error {
	if !store.IsValidation(err) {
		return err
	}
	// Secrets typed into a refused form are not sent back to the browser.
	shown := &store.AlertBackend{ID: b.ID, Name: b.Name, Config: map[string]string{}}
	for _, f := range bk.Fields {
		if !f.Secret {
			shown.Config[f.Key] = b.Config[f.Key]
		}
	}
	page := u.backendForm(r, p, bk, shown)
	if b.ID != 0 {
		if cur, cerr := u.db.AlertBackend(b.ID); cerr == nil {
			for i := range page.Fields {
				if page.Fields[i].Secret && cur.Config[page.Fields[i].Key] != "" {
					page.Fields[i].Current = store.MaskSecret(cur.Config[page.Fields[i].Key])
				}
			}
		}
	}
	page.Error = "Not saved: " + clean(err.Error(), maxText, false) + "."
	return u.renderStatus(w, http.StatusBadRequest, "alert_backend", page)
}

func settingsURL(p *store.Project, query, anchor string) string {
	s := "/projects/" + strconv.Itoa(p.ID) + "/settings/"
	if query != "" {
		s += "?" + query
	}
	if anchor != "" {
		s += "#" + anchor
	}
	return s
}

// handleBackendCreate serves POST /projects/{pid}/alerts/new/ (project managers).
func (u *UI) handleBackendCreate(w http.ResponseWriter, r *http.Request) error {
	p, err := u.project(r)
	if err != nil {
		return err
	}
	bk, ok := store.AlertBackendKind(r.PostFormValue("kind"))
	if !ok {
		return errBadInput("Unknown kind of alert backend.")
	}
	b := backendFromForm(r, bk, nil)
	b.Project = p.ID
	if err := u.db.CreateAlertBackend(b); err != nil {
		return u.backendSaveError(w, r, p, bk, b, err)
	}
	return redirect(w, r, settingsURL(p, "saved", "backend-"+strconv.FormatUint(uint64(b.ID), 10)))
}

// handleBackendUpdate serves POST /projects/{pid}/alerts/{bid}/ (project
// managers): the name and config change, the kind stays.
func (u *UI) handleBackendUpdate(w http.ResponseWriter, r *http.Request) error {
	p, cur, err := u.projectBackend(r)
	if err != nil {
		return err
	}
	bk, ok := store.AlertBackendKind(cur.Kind)
	if !ok {
		return errBadInput("This backend's kind is unknown; delete it through the API.")
	}
	b := backendFromForm(r, bk, cur)
	b.ID, b.Project = cur.ID, cur.Project
	if err := u.db.UpdateAlertBackend(b); err != nil {
		return u.backendSaveError(w, r, p, bk, b, err)
	}
	return redirect(w, r, settingsURL(p, "saved", "backend-"+strconv.FormatUint(uint64(b.ID), 10)))
}

// handleBackendDelete serves POST /projects/{pid}/alerts/{bid}/delete/
// (project managers), which needs confirm=yes (a checkbox on the edit form).
func (u *UI) handleBackendDelete(w http.ResponseWriter, r *http.Request) error {
	p, b, err := u.projectBackend(r)
	if err != nil {
		return err
	}
	if r.PostFormValue("confirm") != "yes" {
		return errBadInput("Tick the box to confirm the deletion.")
	}
	if err := u.db.DeleteAlertBackend(b.ID); err != nil {
		return err
	}
	return redirect(w, r, settingsURL(p, "saved", "alerts"))
}

// handleBackendTest serves POST /projects/{pid}/alerts/{bid}/test/ (project
// managers): the alert sender sends the test message now and records the
// outcome on the backend, which the settings page then shows.
func (u *UI) handleBackendTest(w http.ResponseWriter, r *http.Request) error {
	p, b, err := u.projectBackend(r)
	if err != nil {
		return err
	}
	if u.sendTest == nil {
		return errBadInput("This server cannot send test messages.")
	}
	if _, err := u.sendTest(r.Context(), b.ID); err != nil {
		return err
	}
	id := strconv.FormatUint(uint64(b.ID), 10)
	return redirect(w, r, settingsURL(p, "tested="+id, "backend-"+id))
}
