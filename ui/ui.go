package ui

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tinysink/tinysink/digest/minidump/symstore"
	"github.com/tinysink/tinysink/digest/sourcemap"
	"github.com/tinysink/tinysink/store"
	"github.com/tinysink/tinysink/store/attach"
	"github.com/tinysink/tinysink/store/disk"
)

// Config is what the web UI needs.
type Config struct {
	DB *store.DB
	// Attachments, when set, lists an event's attachments on its page,
	// downloadable.
	Attachments *attach.Store
	// Symbols, when set, lets a minidump event's page say which of its
	// missing symbols have been uploaded since.
	Symbols *symstore.Store
	// BaseURL is where the installation is reached, for example
	// "https://errors.example.com". It builds DSNs, and an https URL makes
	// the session cookie Secure.
	BaseURL string
	Log     *slog.Logger
	// SessionTTL is how long a login lasts; default 14 days.
	SessionTTL time.Duration
	// TrustProxy takes the client address for login rate limits from the
	// last X-Forwarded-For entry instead of the connection.
	TrustProxy bool
	// NoPasswordLogin switches the login form off; users then log in
	// through ProxyAuth or OIDC.
	NoPasswordLogin bool
	// ProxyAuth, when set, logs in the user a trusted reverse proxy names
	// in a header.
	ProxyAuth *ProxyAuth
	// OIDC, when set, offers login with an OpenID Connect provider.
	OIDC *OIDC
	// Now returns the current time; tests replace it. Default time.Now.
	Now func() time.Time
	// SendTest sends an alert backend's test message through the alert
	// sender and records the outcome on the backend (alerts.Sender.SendTest).
	// Nil hides the "Send test message" button.
	SendTest func(ctx context.Context, backend uint32) (*store.Failure, error)
	// QuotaDefaults are the installation's default per-project limits,
	// shown next to a project's quota override; nil shows them as
	// "installation default" and makes a partial override an error.
	QuotaDefaults *store.QuotaLimits
	// Status returns more to show on /debug/budget/ (for example spool and
	// digest figures), rendered as indented JSON. Nil shows nothing more.
	Status func() any
	// Problems returns what is wrong with the installation right now (disk
	// nearly full, digest stalled, store not writable), shown as a banner on
	// every page to logged-in users. Nil or empty shows none.
	Problems func() []string
	// SourceMaps applies uploaded source maps to the events shown; nil
	// makes one over DB.
	SourceMaps *sourcemap.Mapper
	// Forwarding, when set, shows forwarding's lag and failures on the
	// project settings pages; the per-project forward DSN is editable
	// either way.
	Forwarding *Forwarding
	// SendMail sends a plain-text email at once (alerts.SMTP.SendText),
	// for password-reset links. Nil means no mail server is configured:
	// pages then say that no email is sent.
	SendMail func(ctx context.Context, to, subject, body string) error
}

// UI serves the server-rendered web pages. Its templates are parsed on the
// first request that renders one.
type UI struct {
	pageSizes  pageSizes // each page's last size (renderPage)
	db         *store.DB
	base       string
	log        *slog.Logger
	ttl        time.Duration
	secure     bool
	trustProxy bool
	password   bool       // the login form is on
	proxy      *ProxyAuth // nil: no proxy header login
	oidc       *oidcClient
	now        func() time.Time
	limits     *loginLimiter
	cop        *http.CrossOriginProtection
	sendTest   func(ctx context.Context, backend uint32) (*store.Failure, error)
	quotaDef   *store.QuotaLimits
	status     func() any
	problems   func() []string
	attach     *attach.Store
	symbols    *symstore.Store
	maps       *sourcemap.Mapper
	forward    *Forwarding
	sendMail   func(ctx context.Context, to, subject, body string) error
}

// New returns the web UI over cfg.DB.
func New(cfg Config) *UI {
	u := &UI{
		db: cfg.DB, base: strings.TrimRight(cfg.BaseURL, "/"), log: cfg.Log, ttl: cfg.SessionTTL,
		trustProxy: cfg.TrustProxy, now: cfg.Now, limits: newLoginLimiter(),
		cop:      http.NewCrossOriginProtection(),
		sendTest: cfg.SendTest, quotaDef: cfg.QuotaDefaults, status: cfg.Status, problems: cfg.Problems,
		attach: cfg.Attachments, symbols: cfg.Symbols,
		maps: cfg.SourceMaps, forward: cfg.Forwarding, sendMail: cfg.SendMail,
		password: !cfg.NoPasswordLogin, proxy: cfg.ProxyAuth,
	}
	if cfg.OIDC != nil {
		u.oidc = newOIDCClient(*cfg.OIDC)
	}
	if u.maps == nil {
		u.maps = sourcemap.NewMapper(cfg.DB)
	}
	if u.log == nil {
		u.log = slog.Default()
	}
	if u.ttl <= 0 {
		u.ttl = 14 * 24 * time.Hour
	}
	if u.now == nil {
		u.now = time.Now
	}
	if bu, err := url.Parse(u.base); err == nil && bu.Scheme == "https" {
		u.secure = true
	}
	u.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.writeError(w, r, errForbidden("This form was sent from another site and was refused."))
	}))
	return u
}

// handlerFunc is a UI handler; its error becomes the error page.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// userError is an error whose text is meant for the user, with a status.
type userError struct {
	status int
	msg    string
}

func (e *userError) Error() string { return e.msg }

func errBadInput(format string, args ...any) error {
	return &userError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

func errForbidden(msg string) error { return &userError{status: http.StatusForbidden, msg: msg} }

// errNotFound hides a project or issue the user may not see, the same way
// as one that does not exist.
var errNotFound = &userError{status: http.StatusNotFound, msg: "Not found."}

// wrap adapts h: an error maps to a status and the error page; only 5xx
// errors are logged, and only errors built on purpose reach the page.
func (u *UI) wrap(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			u.writeError(w, r, err)
		}
	})
}

func (u *UI) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := http.StatusInternalServerError, "Something went wrong on our side; the error is logged."
	var ue *userError
	switch {
	case errors.Is(err, store.ErrNotFound):
		status, msg = http.StatusNotFound, "Not found."
	case errors.Is(err, store.ErrInvalidAction):
		status, msg = http.StatusConflict, "That action is not possible in the issue's current state."
	case errors.As(err, &ue):
		status, msg = ue.status, ue.msg
	case disk.IsFull(err):
		status, msg = http.StatusInsufficientStorage, errDiskFullMsg
		u.log.Warn("ui write refused: the disk is full", "method", r.Method, "path", r.URL.Path, "err", err)
	default:
		u.log.Error("ui request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	p := errorPage{layout: u.layout(r, http.StatusText(status)), Status: status, Message: msg}
	b, terr := u.renderPage("error", &p)
	if terr != nil {
		u.log.Error("ui error page failed", "err", terr)
		securityHeaders(w)
		http.Error(w, msg, status)
		return
	}
	writeHTML(w, status, b)
}

type errorPage struct {
	layout
	Status  int
	Message string
}

// render executes page name with data into a buffer, then writes it with
// status 200.
func (u *UI) render(w http.ResponseWriter, name string, data any) error {
	b, err := u.renderPage(name, data)
	if err != nil {
		return err
	}
	writeHTML(w, http.StatusOK, b)
	return nil
}

// contentSecurityPolicy allows no inline script, no inline style and no
// foreign origin: event data that slipped through escaping still cannot
// run.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
}

func writeHTML(w http.ResponseWriter, status int, b []byte) {
	securityHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b)
}

// redirect answers a form post or a moved page with 303 See Other.
func redirect(w http.ResponseWriter, r *http.Request, to string) error {
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// layout is the data every page shares.
type layout struct {
	Title      string
	User       *store.User
	CSSVersion string
	// TopNav marks the active top navigation entry.
	TopNav string
	// CopyScript loads the copy-button script (the only script).
	CopyScript bool
	// ListScript loads the issue list's script (select all, buttons
	// enabled by the selection).
	ListScript bool
	// Problems are shown as a banner above the page.
	Problems []string
	// NoMail says that no mail server is configured: no email is sent.
	NoMail bool
}

func (u *UI) layout(r *http.Request, title string) layout {
	l := layout{Title: title, CSSVersion: staticVersion(), NoMail: u.sendMail == nil}
	if usr, ok := r.Context().Value(userKey{}).(*store.User); ok {
		l.User = usr
		if u.problems != nil {
			l.Problems = u.problems()
		}
	}
	return l
}
