package ui

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/tinysink/tinysink/store"
)

// Login methods besides the password: a header set by a trusted reverse
// proxy that has already authenticated the user (Authelia, Authentik,
// oauth2-proxy, Cloudflare Access), and OpenID Connect (oidc.go). Both
// map to a local user by name, created on first login when allowed.

// ProxyAuth trusts a user name in a request header, but only on
// connections from a trusted proxy's address.
type ProxyAuth struct {
	// Header carries the user name, e.g. "Remote-User".
	Header string
	// Trusted are the addresses of the proxies whose header counts; on
	// any other connection the header is ignored.
	Trusted []netip.Prefix
	// AutoCreate creates a local (non-admin) user for a name not seen
	// before; otherwise an admin creates it first.
	AutoCreate bool
}

// trusts reports whether the connection of r comes from a trusted proxy.
func (p *ProxyAuth) trusts(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	for _, pr := range p.Trusted {
		if pr.Contains(a) {
			return true
		}
	}
	return false
}

// loginError is a login refused for a reason the user is told.
type loginError struct{ msg string }

func (e *loginError) Error() string { return e.msg }

// requestUser returns the user a request is made by: the trusted proxy's
// header when there is one, else the session. A nil user without an error
// means not logged in; an error means a login that was refused.
func (u *UI) requestUser(r *http.Request) (*store.User, error) {
	if p := u.proxy; p != nil {
		if name := strings.TrimSpace(r.Header.Get(p.Header)); name != "" && p.trusts(r) {
			return u.localUser(name, p.AutoCreate, "the proxy")
		}
	}
	return u.sessionUser(r), nil
}

// localUser returns the active local user name, created first when
// autoCreate allows. via names the login method in error messages.
func (u *UI) localUser(name string, autoCreate bool, via string) (*store.User, error) {
	usr, err := u.db.User(name)
	if errors.Is(err, store.ErrNotFound) && autoCreate {
		if !validUserName(name) {
			return nil, &loginError{"The name " + via + " sent cannot be a user name here (1 to 64 letters, digits and . _ @ + - characters)."}
		}
		// Nobody knows this password: such a user logs in only through
		// the method that created it, until an admin sets one.
		usr, err = u.db.CreateUser(name, randomToken(), false)
		if errors.Is(err, store.ErrExists) { // created by a concurrent request
			usr, err = u.db.User(name)
		}
		if err == nil {
			u.log.Info("user created on first login", "user", name, "via", via)
		}
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, &loginError{"There is no user " + name + " here. An admin creates it on the Users page."}
	case err != nil:
		return nil, err
	case !usr.Active:
		return nil, &loginError{"The user " + name + " is deactivated."}
	}
	return usr, nil
}

// loginMethods is what the login page offers.
type loginMethods struct {
	Password bool
	// OIDC names the OpenID Connect provider's host; empty: none.
	OIDC string
}

func (u *UI) loginMethods() loginMethods {
	m := loginMethods{Password: u.password}
	if u.oidc != nil {
		m.OIDC = u.oidc.cfg.Issuer
		if iu, err := url.Parse(u.oidc.cfg.Issuer); err == nil && iu.Host != "" {
			m.OIDC = iu.Host
		}
	}
	return m
}

// oidcRedirectURI is the callback address to register at the provider.
func (u *UI) oidcRedirectURI() string { return u.base + oidcCookiePath + "callback/" }

// handleOIDCLogin serves GET /accounts/oidc/login/: a fresh state, nonce
// and PKCE verifier go into a signed cookie, and the browser to the
// provider.
func (u *UI) handleOIDCLogin(w http.ResponseWriter, r *http.Request) error {
	if u.oidc == nil {
		return errNotFound
	}
	next := localPath(r.URL.Query().Get("next"))
	to, cookie, err := u.oidc.authURL(r.Context(), u.oidcRedirectURI(), next, u.now())
	if err != nil {
		u.log.Warn("oidc login could not start", "err", err)
		return u.loginFailed(w, r, http.StatusBadGateway, "The login provider could not be reached; the error is logged.")
	}
	u.setOIDCCookie(w, cookie, int(oidcFlowTTL/time.Second))
	http.Redirect(w, r, to, http.StatusFound)
	return nil
}

// handleOIDCCallback serves GET /accounts/oidc/callback/, where the
// provider sends the browser back with a code: check the state, redeem
// the code with the verifier, verify the ID token and its nonce, and log
// in as the local user its claim names.
func (u *UI) handleOIDCCallback(w http.ResponseWriter, r *http.Request) error {
	if u.oidc == nil {
		return errNotFound
	}
	c, err := r.Cookie(oidcCookie)
	if err != nil {
		return u.loginFailed(w, r, http.StatusBadRequest, "This login was not started here, or the browser lost its cookie. Start again.")
	}
	u.setOIDCCookie(w, "", -1) // one use only
	flow, err := u.oidc.openFlow(c.Value, u.now())
	if err != nil {
		return u.loginFailed(w, r, http.StatusBadRequest, "Login failed: "+err.Error()+". Start again.")
	}
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		return u.loginFailed(w, r, http.StatusUnauthorized, "The login provider refused the login: "+e+" "+q.Get("error_description"))
	}
	if st := q.Get("state"); st == "" || subtle.ConstantTimeCompare([]byte(st), []byte(flow.State)) != 1 {
		return u.loginFailed(w, r, http.StatusBadRequest, "Login failed: the state does not match this login. Start again.")
	}
	claims, idToken, err := u.oidc.exchange(r.Context(), q.Get("code"), u.oidcRedirectURI(), flow, u.now())
	if err != nil {
		u.log.Warn("oidc login refused", "err", err)
		return u.loginFailed(w, r, http.StatusUnauthorized, "Login failed: "+err.Error())
	}
	usr, err := u.oidcUser(claims)
	if err != nil {
		var le *loginError
		if errors.As(err, &le) {
			return u.loginFailed(w, r, http.StatusForbidden, le.msg)
		}
		return err
	}
	if len(idToken) > store.MaxSessionIDToken {
		// Too big to keep: logging out ends only the local session.
		u.log.Warn("oidc id_token too long to keep for logout at the provider", "bytes", len(idToken))
		idToken = ""
	}
	tok, err := u.db.CreateOIDCSession(usr.Name, u.ttl, idToken)
	if err != nil {
		return err
	}
	u.setSessionCookie(w, tok, int(u.ttl/time.Second))
	return redirect(w, r, localPath(flow.Next))
}

// oidcUser returns the local user a verified ID token's claims log in as.
// An identity (iss, sub) linked before logs in as its user, whatever name
// it now sends. Otherwise the name claim picks the user, as the proxy
// header does, and the identity is linked to it: an existing user only
// when it is not linked to another identity, and, when the name is an
// email address (claim "email"), only when the provider says it verified
// it.
func (u *UI) oidcUser(claims map[string]any) (*store.User, error) {
	iss, _ := claims["iss"].(string)
	sub, _ := claims["sub"].(string)
	if iss == "" || sub == "" {
		return nil, &loginError{"Login failed: the provider sent no subject (sub) for the user."}
	}
	usr, err := u.db.UserByOIDC(iss, sub)
	switch {
	case err == nil && !usr.Active:
		return nil, &loginError{"The user " + usr.Name + " is deactivated."}
	case err == nil:
		return usr, nil
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	claim := u.oidc.cfg.UsernameClaim
	name, _ := claims[claim].(string)
	if name == "" {
		return nil, &loginError{"Login failed: the provider sent no " + claim + " claim (see -oidc-username-claim)."}
	}
	if claim == "email" {
		if v, _ := claims["email_verified"].(bool); !v {
			return nil, &loginError{"Login failed: the provider has not verified the email address " + name + ", so it cannot pick the account here."}
		}
	}
	usr, err = u.localUser(name, u.oidc.cfg.AutoCreate, "the login provider")
	if err != nil {
		return nil, err
	}
	if err := u.db.LinkOIDC(usr.Name, iss, sub); errors.Is(err, store.ErrLinked) {
		return nil, &loginError{"The user " + name + " here is linked to another account at the login provider."}
	} else if err != nil {
		return nil, err
	}
	u.log.Info("user linked to an oidc identity", "user", usr.Name, "iss", iss, "sub", sub)
	return usr, nil
}

func (u *UI) setOIDCCookie(w http.ResponseWriter, v string, maxAge int) {
	// Lax: the provider sends the browser back with a top-level GET.
	http.SetCookie(w, &http.Cookie{
		Name: oidcCookie, Value: v, Path: oidcCookiePath, MaxAge: maxAge,
		HttpOnly: true, Secure: u.secure, SameSite: http.SameSiteLaxMode,
	})
}

// loginFailed shows the login page with msg.
func (u *UI) loginFailed(w http.ResponseWriter, r *http.Request, status int, msg string) error {
	page := &loginPage{layout: u.layout(r, "Log in"), Error: msg, Methods: u.loginMethods()}
	return u.renderStatus(w, status, "login", page)
}
