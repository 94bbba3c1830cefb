package ui

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/tinysink/tinysink/store"
)

// Alert backends (reference §8.3): each project's messaging services,
// listed on its settings page and changed by admins on a form per kind.
// Secrets (webhook URLs, bot tokens) are never shown in full: a page
// shows their masks, and an edit form leaves a secret empty to keep it.

// backendField is one config key of a kind of backend, as its form shows it.
type backendField struct {
	Key      string
	Label    string
	Help     string
	Type     string // the input type
	Optional bool
	Secret   bool
}

// backendKind is a kind of backend and its form.
type backendKind struct {
	Kind   string
	Label  string
	Fields []backendField
}

var webhookField = backendField{Key: "webhook_url", Label: "Webhook URL", Type: "url", Secret: true}

// backendKinds are the forms of the kinds store.BackendKinds names, in the
// order the settings page offers them.
var backendKinds = []backendKind{
	{store.BackendSlack, "Slack", []backendField{withHelp(webhookField, "An incoming webhook, https://hooks.slack.com/services/…")}},
	{store.BackendMattermost, "Mattermost", []backendField{
		withHelp(webhookField, "An incoming webhook, https://mattermost.example.com/hooks/…"),
		{Key: "channel", Label: "Channel", Type: "text", Optional: true, Help: "Posts to this channel instead of the webhook's own."},
	}},
	{store.BackendDiscord, "Discord", []backendField{withHelp(webhookField, "A channel webhook, https://discord.com/api/webhooks/…")}},
	{store.BackendTelegram, "Telegram", []backendField{
		{Key: "bot_token", Label: "Bot token", Type: "text", Secret: true, Help: "From @BotFather, like 123456:ABC-def_GHI."},
		{Key: "chat_id", Label: "Chat id", Type: "text", Help: "A number (negative for groups), or @channelname."},
		{Key: "message_thread_id", Label: "Topic id", Type: "text", Optional: true, Help: "The message_thread_id of a topic in a forum group."},
	}},
	{store.BackendWebhook, "Webhook", []backendField{withHelp(webhookField, "Receives the issue as JSON in a POST, with title, project_name, url and alert_reason.")}},
}

func withHelp(f backendField, help string) backendField {
	f.Help = help
	return f
}

// kindNamed returns the form of kind k.
func kindNamed(k string) (backendKind, bool) {
	for _, bk := range backendKinds {
		if bk.Kind == k {
			return bk, true
		}
	}
	return backendKind{}, false
}

// maskSecret shows enough of a secret to recognise it: a URL's scheme and
// host and the last four characters of the rest (a webhook URL's path is
// its secret); a bot token's bot id and last four characters.
func maskSecret(v string) string {
	if u, err := url.Parse(v); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		rest := u.RequestURI()
		if rest == "/" || rest == "" {
			return u.Scheme + "://" + u.Host + "/"
		}
		return u.Scheme + "://" + u.Host + "/…" + lastN(rest, 4)
	}
	if id, secret, ok := strings.Cut(v, ":"); ok && id != "" && strings.Trim(id, "0123456789") == "" {
		return id + ":…" + lastN(secret, 4)
	}
	return "…"
}

// lastN returns the last n bytes of s when s is at least 4n long, else "".
func lastN(s string, n int) string {
	if len(s) < 4*n {
		return ""
	}
	return s[len(s)-n:]
}

// scrubSecrets replaces the backend's secrets in s with their masks. The
// sender does so before it stores a failure; this repeats it for display,
// in case a secret reached the text another way.
func scrubSecrets(s string, b *store.AlertBackend) string {
	for _, f := range backendFields(b.Kind) {
		sec := b.Config[f.Key]
		if !f.Secret || sec == "" {
			continue
		}
		m := maskSecret(sec)
		s = strings.ReplaceAll(s, sec, m)
		if u, err := url.Parse(sec); err == nil && u.Host != "" {
			if rest := u.RequestURI(); len(rest) > 1 {
				s = strings.ReplaceAll(s, rest, "/…"+lastN(rest, 4))
			}
		}
		if _, tok, ok := strings.Cut(sec, ":"); ok && len(tok) >= 8 {
			s = strings.ReplaceAll(s, tok, "…")
		}
	}
	return s
}

func backendFields(kind string) []backendField {
	bk, _ := kindNamed(kind)
	return bk.Fields
}

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
	bk, _ := kindNamed(b.Kind)
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
			val = maskSecret(val)
		}
		v.Config = append(v.Config, kv{Key: f.Label, Value: clean(val, maxText, false)})
	}
	if f := b.LastFailure; f != nil {
		v.Failure = &failureView{
			At: when(f.At), Status: f.Status,
			Error: clean(scrubSecrets(f.Error, b), maxText, false),
			Body:  clean(scrubSecrets(f.Body, b), 2000, true),
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
	backendField
	Value string
	// Current is the mask of the stored secret, on the edit form.
	Current string
}

type backendFormPage struct {
	layout
	Project store.Project
	Kind    backendKind
	ID      uint32 // 0 on the form for a new backend
	Name    string
	Fields  []formField
	Error   string
}

// Action is where the form posts.
func (p *backendFormPage) Action() string {
	base := "/projects/" + strconv.Itoa(p.Project.ID) + "/alerts/"
	if p.ID == 0 {
		return base + "new/"
	}
	return base + strconv.FormatUint(uint64(p.ID), 10) + "/"
}

func (u *UI) backendForm(r *http.Request, p *store.Project, bk backendKind, b *store.AlertBackend) *backendFormPage {
	page := &backendFormPage{layout: u.layout(r, "New "+bk.Label+" backend"), Project: *p, Kind: bk}
	if b != nil && b.ID != 0 {
		page.Title = "Edit " + clean(b.Name, store.MaxBackendName, false)
		page.ID = b.ID
	}
	if b != nil {
		page.Name = b.Name
	}
	for _, f := range bk.Fields {
		ff := formField{backendField: f}
		if b != nil {
			if f.Secret {
				if v := b.Config[f.Key]; v != "" && b.ID != 0 {
					ff.Current = maskSecret(v)
				}
			} else {
				ff.Value = b.Config[f.Key]
			}
		}
		page.Fields = append(page.Fields, ff)
	}
	return page
}

// handleBackendNewForm serves GET /projects/{pid}/alerts/new/?kind= (admins
// only).
func (u *UI) handleBackendNewForm(w http.ResponseWriter, r *http.Request) error {
	p, err := u.project(r)
	if err != nil {
		return err
	}
	bk, ok := kindNamed(r.URL.Query().Get("kind"))
	if !ok {
		return errBadInput("Unknown kind of alert backend.")
	}
	return u.render(w, "alert_backend", u.backendForm(r, p, bk, nil))
}

// handleBackendEditForm serves GET /projects/{pid}/alerts/{bid}/ (admins
// only).
func (u *UI) handleBackendEditForm(w http.ResponseWriter, r *http.Request) error {
	p, b, err := u.projectBackend(r)
	if err != nil {
		return err
	}
	bk, ok := kindNamed(b.Kind)
	if !ok {
		return errBadInput("This backend's kind is unknown; delete it through the API.")
	}
	return u.render(w, "alert_backend", u.backendForm(r, p, bk, b))
}

// backendFromForm reads the form into a backend of kind bk; a secret left
// empty keeps the one in cur (nil for a new backend).
func backendFromForm(r *http.Request, bk backendKind, cur *store.AlertBackend) *store.AlertBackend {
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
func (u *UI) backendSaveError(w http.ResponseWriter, r *http.Request, p *store.Project, bk backendKind, b *store.AlertBackend, err error) error {
	if !errors.Is(err, store.ErrInvalidBackend) {
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
					page.Fields[i].Current = maskSecret(cur.Config[page.Fields[i].Key])
				}
			}
		}
	}
	msg := strings.TrimPrefix(err.Error(), "store: invalid alert backend: ")
	page.Error = "Not saved: " + clean(msg, maxText, false) + "."
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

// handleBackendCreate serves POST /projects/{pid}/alerts/new/ (admins only).
func (u *UI) handleBackendCreate(w http.ResponseWriter, r *http.Request) error {
	p, err := u.project(r)
	if err != nil {
		return err
	}
	bk, ok := kindNamed(r.PostFormValue("kind"))
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

// handleBackendUpdate serves POST /projects/{pid}/alerts/{bid}/ (admins
// only): the name and config change, the kind stays.
func (u *UI) handleBackendUpdate(w http.ResponseWriter, r *http.Request) error {
	p, cur, err := u.projectBackend(r)
	if err != nil {
		return err
	}
	bk, ok := kindNamed(cur.Kind)
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
// (admins only), which needs confirm=yes (a checkbox on the edit form).
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

// handleBackendTest serves POST /projects/{pid}/alerts/{bid}/test/ (admins
// only): the alert sender sends the test message now and records the
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
