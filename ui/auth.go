package ui

import (
	"container/list"
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
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
		usr, err := u.requestUser(r)
		if err != nil {
			var le *loginError
			if errors.As(err, &le) {
				err = errForbidden(le.msg)
			}
			u.writeError(w, r, err)
			return
		}
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

// requireManager refuses users who may not manage the project {pid} of the
// path (store.User.CanManage); it runs after requireLogin.
func requireManager(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		pid, err := strconv.Atoi(r.PathValue("pid"))
		if usr := currentUser(r); usr == nil || err != nil || !usr.CanManage(pid) {
			return errForbidden("Only an admin of this project can do this.")
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
	Name    string
	Next    string
	Error   string
	Methods loginMethods
	// LoggedOut names the OpenID Connect provider the user was just
	// logged out of too; "" otherwise.
	LoggedOut string
}

// handleLoginForm serves GET /accounts/login/.
func (u *UI) handleLoginForm(w http.ResponseWriter, r *http.Request) error {
	if usr, err := u.requestUser(r); usr != nil {
		return redirect(w, r, localPath(r.URL.Query().Get("next")))
	} else if err != nil {
		var le *loginError
		if !errors.As(err, &le) {
			return err
		}
		return u.loginFailed(w, r, http.StatusForbidden, le.msg)
	}
	page := &loginPage{layout: u.layout(r, "Log in"), Next: r.URL.Query().Get("next"), Methods: u.loginMethods()}
	if st := r.URL.Query().Get("state"); st != "" && u.oidc != nil && u.oidc.loggedOutState(st, u.now()) {
		page.LoggedOut = page.Methods.OIDC
	}
	return u.render(w, "login", page)
}

// handleLogin serves POST /accounts/login/.
func (u *UI) handleLogin(w http.ResponseWriter, r *http.Request) error {
	name := strings.TrimSpace(r.PostFormValue("name"))
	password := r.PostFormValue("password")
	next := r.PostFormValue("next")
	page := &loginPage{layout: u.layout(r, "Log in"), Name: name, Next: next, Methods: u.loginMethods()}
	if !u.password {
		page.Error = "Password login is switched off here."
		return u.renderStatus(w, http.StatusForbidden, "login", page)
	}
	ip := u.clientIP(r)
	if wait := u.limits.wait(ip, name, u.now()); wait > 0 {
		page.Error = "Too many login attempts. Wait a few minutes and try again."
		return u.tooMany(w, wait, "login", page)
	}
	usr, err := u.db.CheckPassword(name, password)
	if errors.Is(err, store.ErrNotFound) {
		u.limits.failed(ip, name, u.now())
		page.Error = "Wrong user name or password."
		return u.renderStatus(w, http.StatusUnauthorized, "login", page)
	} else if err != nil {
		return err
	}
	tok, err := u.db.CreateSession(usr.Name, u.ttl)
	if err != nil {
		return err
	}
	u.setSessionCookie(w, tok, int(u.ttl/time.Second))
	return redirect(w, r, localPath(next))
}

// handleLogout serves POST /accounts/logout/: it ends the session and,
// for a session logged in through an OpenID Connect provider that has an
// end_session_endpoint, sends the browser there (a page that moves on at
// once) to end the provider's session too, with the login's ID token as
// id_token_hint; the provider sends it back to the login page.
func (u *UI) handleLogout(w http.ResponseWriter, r *http.Request) error {
	var idToken string
	if c, err := r.Cookie(sessionCookie); err == nil {
		s, err := u.db.EndSession(c.Value)
		if err != nil {
			return err
		}
		idToken = s.IDToken
	}
	u.setSessionCookie(w, "", -1)
	if idToken != "" && u.oidc != nil {
		// Logged in through the provider: end its session too, when it
		// offers a way, and come back to the login page.
		to, err := u.oidc.endSessionURL(r.Context(), idToken, u.base+"/accounts/login/", u.now())
		if err != nil {
			u.log.Warn("oidc logout at the provider skipped", "err", err)
		}
		if to != "" {
			// Not a redirect: the page's CSP (form-action 'self') stops a
			// form post from being redirected to another origin. The
			// Refresh header moves on at once; the link is for a browser
			// that ignores it.
			w.Header().Set("Refresh", "0; url="+to)
			return u.render(w, "logout", &logoutPage{layout: u.layout(r, "Logged out"), Provider: u.loginMethods().OIDC, To: to})
		}
	}
	return redirect(w, r, "/accounts/login/")
}

// logoutPage sends the browser on to the provider's end_session_endpoint.
type logoutPage struct {
	layout
	Provider string // the provider's host
	To       string // the end_session_endpoint URL with its parameters
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
	ip := u.clientIP(r)
	if wait := u.limits.wait(ip, usr.Name, u.now()); wait > 0 {
		page.Error = "Too many attempts. Wait a few minutes and try again."
		return u.tooMany(w, wait, "password", page)
	}
	switch {
	case pw != pw2:
		page.Error = "The new passwords differ."
	case len(pw) < store.MinPasswordLen:
		page.Error = "The new password is too short (at least 8 characters)."
	}
	if page.Error == "" {
		if _, err := u.db.CheckPassword(usr.Name, old); err != nil {
			u.limits.failed(ip, usr.Name, u.now())
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

// tooMany answers 429 with a Retry-After of wait, rounded up to a second.
func (u *UI) tooMany(w http.ResponseWriter, wait time.Duration, name string, data any) error {
	w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	return u.renderStatus(w, http.StatusTooManyRequests, name, data)
}

func (u *UI) renderStatus(w http.ResponseWriter, status int, name string, data any) error {
	b, err := u.renderPage(name, data)
	if err != nil {
		return err
	}
	writeHTML(w, status, b)
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

// clientIP returns the address login attempts are counted against: the
// connection's address, or with TrustProxy the last X-Forwarded-For entry
// (the one our own proxy appended).
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

// Login attempts are limited in two ways, and only wrong passwords count
// (a good login costs nothing):
//
//   - Per source address (an IPv6 address counts by its /64): after
//     addrFreeFails wrong passwords the address waits addrBaseWait before
//     its next attempt is even checked, and each further wrong password
//     doubles the wait, up to addrMaxWait. This is what stops one attacker,
//     and it never touches anyone on another address.
//   - Per account, across addresses: after acctFreeFails wrong passwords
//     the account backs off, acctBaseWait doubling up to acctMaxWait per
//     further wrong password. While it does, only attempts from addresses
//     that are themselves failing (addrCleanFails or more wrong passwords)
//     are refused. An address with no recent failures is always checked,
//     so the real user, on their own address, logs in with the right
//     password however long the attack goes on; an attacker spreading
//     guesses over addresses gets at most one guess per acctMaxWait from
//     addresses already used, and fewer than addrCleanFails from each
//     fresh one.
//
// A failure record is forgotten failForget after its last failure once
// its wait is over. Each table keeps at most maxLimitEntries records and
// drops the least recently failed first, so memory stays bounded.
const (
	addrFreeFails  = 10
	addrBaseWait   = time.Minute
	addrMaxWait    = time.Hour
	addrCleanFails = 2
	acctFreeFails  = 10
	acctBaseWait   = 2 * time.Second
	acctMaxWait    = time.Minute
	failForget     = time.Hour

	maxLimitEntries = 4096
)

// loginLimiter holds the two failure tables.
type loginLimiter struct {
	mu   sync.Mutex // guards addr and acct
	addr *failTable
	acct *failTable
}

func newLoginLimiter() *loginLimiter {
	return &loginLimiter{addr: newFailTable(maxLimitEntries), acct: newFailTable(maxLimitEntries)}
}

// wait returns how long an attempt from ip on account name must wait
// before its password may be checked; 0 means check it now.
func (l *loginLimiter) wait(ip, name string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.addr.get(addrKey(ip), now)
	if a != nil && now.Before(a.until) {
		return a.until.Sub(now)
	}
	if a == nil || a.fails < addrCleanFails {
		return 0 // a clean address is always heard
	}
	if c := l.acct.get(strings.ToLower(name), now); c != nil && now.Before(c.until) {
		return c.until.Sub(now)
	}
	return 0
}

// failed records a wrong password from ip on account name.
func (l *loginLimiter) failed(ip, name string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.addr.fail(addrKey(ip), now, addrFreeFails, addrBaseWait, addrMaxWait)
	l.acct.fail(strings.ToLower(name), now, acctFreeFails, acctBaseWait, acctMaxWait)
}

// addrKey is the key an address counts under: an IPv6 address by its /64
// (one subscriber usually holds a whole /64), anything else as it is.
func addrKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is6() || a.Is4In6() {
		return ip
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// failTable is a fixed-size table of failure records, least recently
// failed first out. It is not safe for concurrent use.
type failTable struct {
	max int
	m   map[string]*list.Element // of *failRecord
	lru list.List                // front: most recently failed
}

type failRecord struct {
	key   string
	fails int
	last  time.Time // of the last failure
	until time.Time // no attempt is checked before this
}

func newFailTable(size int) *failTable {
	return &failTable{max: size, m: map[string]*list.Element{}}
}

// get returns key's record, or nil when there is none or it is forgotten.
func (t *failTable) get(key string, now time.Time) *failRecord {
	e, ok := t.m[key]
	if !ok {
		return nil
	}
	r := e.Value.(*failRecord)
	if !now.Before(r.until) && now.Sub(r.last) >= failForget {
		t.lru.Remove(e)
		delete(t.m, key)
		return nil
	}
	return r
}

// fail records a failure for key. From the free-th failure on, key waits
// base, doubled for every further failure, at most ceiling.
func (t *failTable) fail(key string, now time.Time, free int, base, ceiling time.Duration) {
	r := t.get(key, now)
	if r == nil {
		if t.lru.Len() >= t.max {
			old := t.lru.Back()
			t.lru.Remove(old)
			delete(t.m, old.Value.(*failRecord).key)
		}
		r = &failRecord{key: key}
		t.m[key] = t.lru.PushFront(r)
	} else {
		t.lru.MoveToFront(t.m[key])
	}
	r.fails++
	r.last = now
	if n := r.fails - free; n >= 0 {
		w := ceiling
		if n < 32 && base<<n > 0 && base<<n < ceiling {
			w = base << n
		}
		r.until = now.Add(w)
	}
}
