package store

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tidwall/buntdb"
)

// Alert configuration: the messaging backends a project's alerts go to,
// and each user's email-alert settings. The outbox that carries the alerts
// is in outbox.go.
// Their keys are in keys.go.

// The kinds of alert backend.
const (
	BackendSlack      = "slack"
	BackendMattermost = "mattermost"
	BackendDiscord    = "discord"
	BackendTelegram   = "telegram"
	BackendWebhook    = "webhook" // a generic JSON webhook
)

// BackendField is one config key of a kind of alert backend: the one
// schema the store validates, the UI's forms show and the API accepts.
type BackendField struct {
	Key      string // the config key, e.g. "webhook_url"
	Label    string // how a form names it
	Help     string // a form's hint
	Type     string // the form's input type: "url" or "text"
	Optional bool
	// Secret values are never shown in full: pages and API replies show
	// MaskSecret of them, and failure texts are scrubbed of them.
	Secret bool
}

// BackendKind is a kind of alert backend and its config keys.
type BackendKind struct {
	Kind   string
	Label  string
	Fields []BackendField
}

var webhookField = BackendField{Key: "webhook_url", Label: "Webhook URL", Type: "url", Secret: true}

func withHelp(f BackendField, help string) BackendField {
	f.Help = help
	return f
}

// backendKinds are the kinds of alert backend, in the order the settings
// page offers them.
var backendKinds = []BackendKind{
	{BackendSlack, "Slack", []BackendField{withHelp(webhookField, "An incoming webhook, https://hooks.slack.com/services/…")}},
	{BackendMattermost, "Mattermost", []BackendField{
		withHelp(webhookField, "An incoming webhook, https://mattermost.example.com/hooks/…"),
		{Key: "channel", Label: "Channel", Type: "text", Optional: true, Help: "Posts to this channel instead of the webhook's own."},
	}},
	{BackendDiscord, "Discord", []BackendField{withHelp(webhookField, "A channel webhook, https://discord.com/api/webhooks/…")}},
	{BackendTelegram, "Telegram", []BackendField{
		{Key: "bot_token", Label: "Bot token", Type: "text", Secret: true, Help: "From @BotFather, like 123456:ABC-def_GHI."},
		{Key: "chat_id", Label: "Chat id", Type: "text", Help: "A number (negative for groups), or @channelname."},
		{Key: "message_thread_id", Label: "Topic id", Type: "text", Optional: true, Help: "The message_thread_id of a topic in a forum group."},
	}},
	{BackendWebhook, "Webhook", []BackendField{withHelp(webhookField, "Receives the issue as JSON in a POST, with title, project_name, url and alert_reason.")}},
}

// AlertBackendKinds returns the kinds of alert backend with their config
// keys, in the order the settings page offers them. Callers must not
// change the result.
func AlertBackendKinds() []BackendKind { return backendKinds }

// AlertBackendKind returns the kind named k.
func AlertBackendKind(k string) (BackendKind, bool) {
	for _, bk := range backendKinds {
		if bk.Kind == k {
			return bk, true
		}
	}
	return BackendKind{}, false
}

// BackendKinds returns the names of the kinds of alert backend, sorted.
func BackendKinds() []string {
	kinds := make([]string, 0, len(backendKinds))
	for _, bk := range backendKinds {
		kinds = append(kinds, bk.Kind)
	}
	sort.Strings(kinds)
	return kinds
}

// ErrInvalidBackend is the Kind of the *ValidationError returned for an
// alert backend whose kind, name or config is not acceptable.
var ErrInvalidBackend = errors.New("store: invalid alert backend")

func invalidBackend(field, msg string) error {
	return &ValidationError{Kind: ErrInvalidBackend, Field: field, Msg: msg}
}

// Failure is what went wrong the last time a message could not be
// delivered.
type Failure struct {
	At time.Time `json:"at"`
	// Status is the HTTP status of the reply (0 when there was none).
	Status int `json:"status,omitempty"`
	// Body is the first 2,000 characters of the reply.
	Body   string `json:"body,omitempty"`
	IsJSON bool   `json:"is_json,omitempty"`
	// Error says what failed, for example a timeout or a refused address.
	Error string `json:"error,omitempty"`
}

// AlertBackend is a messaging service that receives a project's alerts.
type AlertBackend struct {
	ID      uint32            `json:"id"`
	Project int               `json:"project"`
	Kind    string            `json:"kind"`
	Name    string            `json:"name"`
	Config  map[string]string `json:"config"`
	// LastFailure is the last failed delivery, cleared by a success.
	LastFailure *Failure  `json:"last_failure,omitempty"`
	LastSuccess time.Time `json:"last_success,omitzero"`
}

// MaxBackendName is the longest backend name, in characters.
const MaxBackendName = 100

// ValidateAlertBackend checks b's kind and config and tidies its name (an
// empty name becomes the kind). It returns a *ValidationError of Kind
// ErrInvalidBackend that says what is wrong.
func ValidateAlertBackend(b *AlertBackend) error {
	bk, ok := AlertBackendKind(b.Kind)
	if !ok {
		return invalidBackend("kind", "must be one of "+strings.Join(BackendKinds(), ", "))
	}
	b.Name = strings.TrimSpace(b.Name)
	if b.Name == "" {
		b.Name = b.Kind
	}
	if utf8.RuneCountInString(b.Name) > MaxBackendName || hasControl(b.Name) {
		return invalidBackend("", fmt.Sprintf("a name has at most %d characters and no control characters", MaxBackendName))
	}
	known := map[string]bool{}
	for _, f := range bk.Fields {
		k := f.Key
		known[k] = true
		v := strings.TrimSpace(b.Config[k])
		if v == "" {
			if !f.Optional {
				return invalidBackend("config."+k, "is required for "+b.Kind)
			}
			delete(b.Config, k)
			continue
		}
		b.Config[k] = v
		if err := checkConfigValue(k, v); err != nil {
			return invalidBackend("config."+k, err.Error())
		}
	}
	for k := range b.Config {
		if !known[k] {
			return invalidBackend("config."+k, "is not a setting of "+b.Kind)
		}
	}
	return nil
}

func checkConfigValue(key, v string) error {
	switch key {
	case "webhook_url":
		return checkWebhookURL(v)
	case "bot_token":
		// <bot id>:<secret>; it becomes part of a URL path, so nothing else.
		id, secret, ok := strings.Cut(v, ":")
		if !ok || !allDigits(id) || secret == "" || strings.IndexFunc(secret, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
		}) >= 0 {
			return errors.New("must look like 123456:ABC-def_GHI")
		}
	case "chat_id":
		if s, ok := strings.CutPrefix(v, "@"); ok {
			if len(s) < 4 || len(s) > 64 || strings.IndexFunc(s, func(r rune) bool {
				return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_')
			}) >= 0 {
				return errors.New("must be a number or @channelname")
			}
		} else if !allDigits(strings.TrimPrefix(v, "-")) || len(v) > 24 {
			return errors.New("must be a number or @channelname")
		}
	case "message_thread_id":
		if n, err := strconv.ParseInt(v, 10, 64); err != nil || n <= 0 {
			return errors.New("must be a positive number")
		}
	case "channel":
		if len(v) > 64 || hasControl(v) || strings.ContainsAny(v, " \"") {
			return errors.New("must be a channel name")
		}
	}
	return nil
}

// checkWebhookURL accepts an absolute http or https URL of printable ASCII
// with a host.
func checkWebhookURL(v string) error {
	if len(v) > 2000 {
		return errors.New("is longer than 2000 characters")
	}
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] >= 0x7f || v[i] == '\\' {
			return errors.New("must be a URL without spaces or non-ASCII characters")
		}
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Opaque != "" {
		return errors.New("must be an http:// or https:// URL")
	}
	return nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func hasControl(s string) bool { return strings.IndexFunc(s, unicode.IsControl) >= 0 }

// AlertBackends returns the project's alert backends, ordered by id.
func (db *DB) AlertBackends(project int) ([]AlertBackend, error) {
	out := []AlertBackend{}
	err := db.view(func(tx *kvTx) error {
		var err error
		out, err = alertBackends(tx, project)
		return err
	})
	return out, err
}

func alertBackends(tx *kvTx, project int) ([]AlertBackend, error) {
	out := []AlertBackend{}
	var ierr error
	err := tx.AscendKeys(alertBackendPattern, func(k, v string) bool {
		var b AlertBackend
		if ierr = jsonUnmarshal(v, &b); ierr != nil {
			return false
		}
		if b.Project == project {
			out = append(out, b)
		}
		return true
	})
	return out, errors.Join(err, ierr)
}

// AlertBackend returns the alert backend with the given id.
func (db *DB) AlertBackend(id uint32) (*AlertBackend, error) {
	var b AlertBackend
	if err := db.view(func(tx *kvTx) error { return getJSON(tx, alertBackendKey(id), &b) }); err != nil {
		return nil, err
	}
	return &b, nil
}

// CreateAlertBackend validates b and stores it as a new backend of
// b.Project, setting b.ID. It returns ErrNotFound when the project does not
// exist.
func (db *DB) CreateAlertBackend(b *AlertBackend) error {
	if b.Config == nil {
		b.Config = map[string]string{}
	}
	if err := ValidateAlertBackend(b); err != nil {
		return err
	}
	b.LastFailure, b.LastSuccess = nil, time.Time{}
	return db.update(func(tx *kvTx) error {
		if _, err := tx.Get(projectKey(b.Project)); errors.Is(err, buntdb.ErrNotFound) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		id, err := nextSeq(tx, "alertbackend")
		if err != nil {
			return err
		}
		if id > uint64(^uint32(0)) {
			return errors.New("store: alert backend ids exhausted")
		}
		b.ID = uint32(id)
		return setJSON(tx, alertBackendKey(b.ID), b)
	})
}

// UpdateAlertBackend validates b and replaces the kind, name and config of
// the stored backend b.ID (its project, last failure and last success stay).
// Deliveries to it that wait for a retry are tried again at once, since
// the change may be the fix. b is updated to what was stored.
func (db *DB) UpdateAlertBackend(b *AlertBackend) error {
	if b.Config == nil {
		b.Config = map[string]string{}
	}
	if err := ValidateAlertBackend(b); err != nil {
		return err
	}
	now := db.Now()
	return db.update(func(tx *kvTx) error {
		var cur AlertBackend
		if err := getJSON(tx, alertBackendKey(b.ID), &cur); err != nil {
			return err
		}
		cur.Kind, cur.Name, cur.Config = b.Kind, b.Name, b.Config
		if err := setJSON(tx, alertBackendKey(b.ID), &cur); err != nil {
			return err
		}
		*b = cur
		return rescheduleDeliveries(tx, b.ID, now)
	})
}

// DeleteAlertBackend deletes the backend and the deliveries waiting for
// it.
func (db *DB) DeleteAlertBackend(id uint32) error {
	return db.update(func(tx *kvTx) error {
		if _, err := tx.Delete(alertBackendKey(id)); errors.Is(err, buntdb.ErrNotFound) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		return deleteDeliveries(tx, id)
	})
}

// RecordBackendResult notes the outcome of a message sent to the backend
// outside the outbox (a test message): f == nil is a success at at.
func (db *DB) RecordBackendResult(id uint32, f *Failure, at time.Time) error {
	return db.update(func(tx *kvTx) error { return recordBackendResult(tx, id, f, at) })
}

func recordBackendResult(tx *kvTx, id uint32, f *Failure, at time.Time) error {
	var b AlertBackend
	if err := getJSON(tx, alertBackendKey(id), &b); errors.Is(err, ErrNotFound) {
		return nil // deleted meanwhile
	} else if err != nil {
		return err
	}
	if f == nil {
		b.LastFailure = nil
		b.LastSuccess = at.UTC()
	} else {
		ff := *f
		ff.At = ff.At.UTC()
		b.LastFailure = &ff
	}
	return setJSON(tx, alertBackendKey(id), &b)
}

// SetEmailAlerts turns the user's alert emails for the project on or off.
// Email alerts are on unless turned off.
func (db *DB) SetEmailAlerts(user string, project int, on bool) error {
	return db.update(func(tx *kvTx) error {
		if _, err := tx.Get(userKey(user)); errors.Is(err, buntdb.ErrNotFound) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		if _, err := tx.Get(projectKey(project)); errors.Is(err, buntdb.ErrNotFound) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		k := alertOptOutKey(project, user)
		if on {
			if _, err := tx.Delete(k); err != nil && !errors.Is(err, buntdb.ErrNotFound) {
				return err
			}
			return nil
		}
		_, _, err := tx.Set(k, "1", nil)
		return err
	})
}

// EmailAlerts reports whether the user gets alert emails for the project
// (when the user is a member with an address).
func (db *DB) EmailAlerts(user string, project int) (bool, error) {
	on := true
	err := db.view(func(tx *kvTx) error {
		_, err := tx.Get(alertOptOutKey(project, user))
		if err == nil {
			on = false
			return nil
		}
		if errors.Is(err, buntdb.ErrNotFound) {
			return nil
		}
		return err
	})
	return on, err
}

// SetAlertAddress sets the address the user's alert emails go to; ""
// goes back to the user name, which is used when it is an address.
func (db *DB) SetAlertAddress(user, addr string) error {
	addr = strings.TrimSpace(addr)
	if addr != "" && !isAddress(addr) {
		return fmt.Errorf("store: %q is not an email address", addr)
	}
	return db.update(func(tx *kvTx) error {
		if _, err := tx.Get(userKey(user)); errors.Is(err, buntdb.ErrNotFound) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		if addr == "" {
			if _, err := tx.Delete(alertAddrKey(user)); err != nil && !errors.Is(err, buntdb.ErrNotFound) {
				return err
			}
			return nil
		}
		_, _, err := tx.Set(alertAddrKey(user), addr, nil)
		return err
	})
}

// AlertAddress returns where the user's alert emails go: the address set
// with SetAlertAddress, else the user name when it is an address, else "".
func (db *DB) AlertAddress(user string) (string, error) {
	var addr string
	err := db.view(func(tx *kvTx) error {
		var err error
		addr, err = alertAddress(tx, user)
		return err
	})
	return addr, err
}

func alertAddress(tx *kvTx, user string) (string, error) {
	a, err := tx.Get(alertAddrKey(user))
	if err == nil {
		return a, nil
	}
	if !errors.Is(err, buntdb.ErrNotFound) {
		return "", err
	}
	if isAddress(user) {
		return user, nil
	}
	return "", nil
}

// isAddress reports whether s is a bare email address (no display name).
func isAddress(s string) bool {
	if len(s) > 254 || hasControl(s) {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && a.Name == ""
}

// Recipient is a user who gets a project's alert emails.
type Recipient struct {
	User    string `json:"user"`
	Address string `json:"address"`
}

// AlertRecipients returns who gets the project's alert emails: active
// users who can see the project (admins see every project), have an
// address, and have not turned them off; one per address.
func (db *DB) AlertRecipients(project int) ([]Recipient, error) {
	var out []Recipient
	err := db.view(func(tx *kvTx) error {
		var err error
		out, err = alertRecipients(tx, project)
		return err
	})
	return out, err
}

func alertRecipients(tx *kvTx, project int) ([]Recipient, error) {
	var users []User
	ts, ierr := teams(tx)
	if ierr != nil {
		return nil, ierr
	}
	err := tx.AscendKeys(userPattern, func(k, v string) bool {
		var u User
		if ierr = jsonUnmarshal(v, &u); ierr != nil {
			return false
		}
		u.fillTeams(ts) // team members get their teams' alerts
		if u.Active && u.CanSee(project) {
			users = append(users, u)
		}
		return true
	})
	if err = errors.Join(err, ierr); err != nil {
		return nil, err
	}
	out := []Recipient{}
	seen := map[string]bool{}
	for _, u := range users {
		if _, err := tx.Get(alertOptOutKey(project, u.Name)); err == nil {
			continue
		} else if !errors.Is(err, buntdb.ErrNotFound) {
			return nil, err
		}
		addr, err := alertAddress(tx, u.Name)
		if err != nil {
			return nil, err
		}
		if addr == "" || seen[strings.ToLower(addr)] {
			continue
		}
		seen[strings.ToLower(addr)] = true
		out = append(out, Recipient{User: u.Name, Address: addr})
	}
	return out, nil
}
