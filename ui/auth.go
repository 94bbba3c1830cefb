package ui

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tinysink/tinysink/store"
)

const sessionCookie = "tinysink_session"

type userKey struct{}

// currentUser returns the logged-in user that requireLogin put in the
// request's context.
func currentUser(r *http.Request) *store.User {
	u, _ := r.Context().Value(userKey{}).(*store.User)
	return u
}

// requireLogin lets a request through only with a valid session. Without
// one, a GET is redirected to the login page and anything else is refused.
func (u *UI) requireLogin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		usr := u.sessionUser(r)
		if usr == nil {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, "/accounts/login/?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			u.writeError(w, r, &userError{status: http.StatusUnauthorized, msg: "Log in first."})
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, usr)))
	})
}

// requireAdmin refuses users who are not admins; it runs after requireLogin.
func requireAdmin(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if usr := currentUser(r); usr == nil || !usr.Admin {
			return errForbidden("Only an admin can do this.")
		}
		return h(w, r)
	}
}

func (u *UI) sessionUser(r *http.Request) *store.User {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	usr, err := u.db.SessionUser(c.Value)
	if err != nil {
		return nil
	}
	return usr
}

func (u *UI) setSessionCookie(w http.ResponseWriter, tok string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: tok, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: u.secure, SameSite: http.SameSiteLaxMode,
	})
}

type loginPage struct {
	layout
	Name  string
	Next  string
	Error string
}

// handleLoginForm serves GET /accounts/login/.
func (u *UI) handleLoginForm(w http.ResponseWriter, r *http.Request) error {
	if u.sessionUser(r) != nil {
		return redirect(w, r, localPath(r.URL.Query().Get("next")))
	}
	return u.render(w, "login", &loginPage{layout: u.layout(r, "Log in"), Next: r.URL.Query().Get("next")})
}

// handleLogin serves POST /accounts/login/.
func (u *UI) handleLogin(w http.ResponseWriter, r *http.Request) error {
	name := strings.TrimSpace(r.PostFormValue("name"))
	password := r.PostFormValue("password")
	next := r.PostFormValue("next")
	page := &loginPage{layout: u.layout(r, "Log in"), Name: name, Next: next}
	ip := u.clientIP(r)
	if !u.limits.allow(ip, name, u.now()) {
		page.Error = "Too many login attempts. Wait a few minutes and try again."
		w.Header().Set("Retry-After", "300")
		return u.renderStatus(w, http.StatusTooManyRequests, "login", page)
	}
	usr, err := u.db.CheckPassword(name, password)
	if errors.Is(err, store.ErrNotFound) {
		page.Error = "Wrong user name or password."
		return u.renderStatus(w, http.StatusUnauthorized, "login", page)
	} else if err != nil {
		return err
	}
	tok, err := u.db.CreateSession(usr.Name, u.ttl)
	if err != nil {
		return err
	}
	u.limits.success(ip, name)
	u.setSessionCookie(w, tok, int(u.ttl/time.Second))
	return redirect(w, r, localPath(next))
}

// handleLogout serves POST /accounts/logout/.
func (u *UI) handleLogout(w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if err := u.db.DeleteSession(c.Value); err != nil {
			return err
		}
	}
	u.setSessionCookie(w, "", -1)
	return redirect(w, r, "/accounts/login/")
}

type passwordPage struct {
	layout
	Error string
	Done  bool
}

// handlePasswordForm serves GET /accounts/password/.
func (u *UI) handlePasswordForm(w http.ResponseWriter, r *http.Request) error {
	return u.render(w, "password", &passwordPage{layout: u.layout(r, "Change password"), Done: r.URL.Query().Has("done")})
}

// handlePassword serves POST /accounts/password/: change one's own password
// (which ends every session), then log in again with a fresh session.
func (u *UI) handlePassword(w http.ResponseWriter, r *http.Request) error {
	usr := currentUser(r)
	page := &passwordPage{layout: u.layout(r, "Change password")}
	old, pw, pw2 := r.PostFormValue("old"), r.PostFormValue("new"), r.PostFormValue("new2")
	if !u.limits.allow(u.clientIP(r), usr.Name, u.now()) {
		page.Error = "Too many attempts. Wait a few minutes and try again."
		return u.renderStatus(w, http.StatusTooManyRequests, "password", page)
	}
	switch {
	case pw != pw2:
		page.Error = "The new passwords differ."
	case len(pw) < store.MinPasswordLen:
		page.Error = "The new password is too short (at least 8 characters)."
	}
	if page.Error == "" {
		if _, err := u.db.CheckPassword(usr.Name, old); err != nil {
			page.Error = "The current password is wrong."
		}
	}
	if page.Error != "" {
		return u.renderStatus(w, http.StatusBadRequest, "password", page)
	}
	if err := u.db.SetPassword(usr.Name, pw); err != nil {
		return err
	}
	tok, err := u.db.CreateSession(usr.Name, u.ttl)
	if err != nil {
		return err
	}
	u.setSessionCookie(w, tok, int(u.ttl/time.Second))
	return redirect(w, r, "/accounts/password/?done")
}

func (u *UI) renderStatus(w http.ResponseWriter, status int, name string, data any) error {
	var buf strings.Builder
	if err := u.execute(&buf, name, data); err != nil {
		return err
	}
	writeHTML(w, status, []byte(buf.String()))
	return nil
}

// localPath returns p when it is a path on this site, and "/projects/"
// otherwise, so that ?next= cannot send a user elsewhere.
func localPath(p string) string {
	if p == "" || p[0] != '/' || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n\t") {
		return "/projects/"
	}
	if pu, err := url.Parse(p); err != nil || pu.Scheme != "" || pu.Host != "" {
		return "/projects/"
	}
	return p
}

func (u *UI) clientIP(r *http.Request) string {
	if u.trustProxy {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			parts := strings.Split(xff, ",")
			return strings.TrimSpace(parts[len(parts)-1])
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Login attempts are limited per client address and per account name, in
// a fixed window. Each map holds at most maxLimitEntries; when full, expired
// entries go first, then the entry with the fewest attempts, so a flood of
// fresh names or addresses cannot push out the ones under attack.
const (
	loginWindow     = 10 * time.Minute
	maxPerIP        = 20
	maxPerAccount   = 10
	maxLimitEntries = 4096
)

type loginLimiter struct {
	mu   sync.Mutex // guards ip and name
	ip   map[string]*attempts
	name map[string]*attempts
}

type attempts struct {
	n     int
	start time.Time
}

func newLoginLimiter() *loginLimiter {
	return &loginLimiter{ip: map[string]*attempts{}, name: map[string]*attempts{}}
}

// allow counts an attempt from ip on account name and reports whether it
// may go ahead.
func (l *loginLimiter) allow(ip, name string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := hit(l.ip, ip, now)
	b := hit(l.name, strings.ToLower(name), now)
	return a <= maxPerIP && b <= maxPerAccount
}

// success forgets the attempts on an account after a good login, and does
// not count the login against the address (many people may share one).
func (l *loginLimiter) success(ip, name string) {
	l.mu.Lock()
	delete(l.name, strings.ToLower(name))
	if a, ok := l.ip[ip]; ok && a.n > 0 {
		a.n--
	}
	l.mu.Unlock()
}

func hit(m map[string]*attempts, key string, now time.Time) int {
	a, ok := m[key]
	if ok && now.Sub(a.start) >= loginWindow {
		a.n, a.start = 0, now
	}
	if !ok {
		if len(m) >= maxLimitEntries {
			evict(m, now)
		}
		a = &attempts{start: now}
		m[key] = a
	}
	a.n++
	return a.n
}

func evict(m map[string]*attempts, now time.Time) {
	for k, a := range m {
		if now.Sub(a.start) >= loginWindow {
			delete(m, k)
		}
	}
	if len(m) < maxLimitEntries {
		return
	}
	var minKey string
	minN := -1
	for k, a := range m {
		if minN < 0 || a.n < minN {
			minKey, minN = k, a.n
		}
	}
	delete(m, minKey)
}
