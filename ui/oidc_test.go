package ui

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// The OpenID Connect tests run a real provider in-process: zitadel/oidc's
// op package with its example storage and login form (a test-only
// dependency; the binary's client is ui/oidc.go, standard library only).
// Its signing key is the test's own, so that tokens can also be forged.

// testOP is a running OpenID Connect provider on 127.0.0.1.
type testOP struct {
	issuer string
	key    *opKey
	mu     sync.Mutex
	// tamper, when set, rewrites the id_token of token responses.
	tamper func(idToken string) string
	// noEndSession hides end_session_endpoint from the discovery document.
	noEndSession bool
	// ended lists the subjects whose sessions end_session ended.
	ended []string
}

const (
	opClientID     = "tinysink"
	opClientSecret = "s3cret with spaces&symbols"
	opUser         = "test-user2" // the example storage's user, password "verysecure"
)

// opKey is the provider's signing key.
type opKey struct {
	id   string
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

func (k *opKey) SignatureAlgorithm() jose.SignatureAlgorithm { return k.alg }
func (k *opKey) Key() any                                    { return k.priv }
func (k *opKey) ID() string                                  { return k.id }

type opPublicKey struct{ k *opKey }

func (p opPublicKey) ID() string                         { return p.k.id }
func (p opPublicKey) Algorithm() jose.SignatureAlgorithm { return p.k.alg }
func (p opPublicKey) Use() string                        { return "sig" }
func (p opPublicKey) Key() any                           { return p.k.priv.Public() }

// opStorage is the example storage with the test's signing key, the
// client's post-logout redirect URI, and a record of ended sessions.
type opStorage struct {
	*storage.Storage
	key        *opKey
	postLogout string
	op         *testOP
}

// opClient is a client of the example storage with a post-logout
// redirect URI (the example's clients have none).
type opClient struct {
	op.Client
	postLogout string
}

func (c opClient) PostLogoutRedirectURIs() []string { return []string{c.postLogout} }

func (s *opStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err != nil {
		return nil, err
	}
	return opClient{c, s.postLogout}, nil
}

func (s *opStorage) TerminateSession(ctx context.Context, userID, clientID string) error {
	s.op.mu.Lock()
	s.op.ended = append(s.op.ended, userID+" "+clientID)
	s.op.mu.Unlock()
	return s.Storage.TerminateSession(ctx, userID, clientID)
}

func (s *opStorage) SigningKey(context.Context) (op.SigningKey, error) { return s.key, nil }
func (s *opStorage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{s.key.alg}, nil
}
func (s *opStorage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{opPublicKey{s.key}}, nil
}

// startOP starts a provider signing with alg (RS256 or ES256) that knows
// the client opClientID with redirectURI.
func startOP(t *testing.T, alg jose.SignatureAlgorithm, redirectURI string) *testOP {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil || priv == nil {
		t.Fatalf("key for %s: %v", alg, err)
	}
	srv := httptest.NewUnstartedServer(nil)
	p := &testOP{issuer: "http://" + srv.Listener.Addr().String(), key: &opKey{id: "k-" + string(alg), alg: alg, priv: priv}}
	clients := map[string]*storage.Client{opClientID: storage.WebClient(opClientID, opClientSecret, redirectURI)}
	st := &opStorage{Storage: storage.NewStorageWithClients(storage.NewUserStore(p.issuer), clients), key: p.key, op: p,
		postLogout: strings.TrimSuffix(redirectURI, "oidc/callback/") + "login/"}
	// A nil logger: the example would otherwise replace slog.Default for
	// the whole test binary.
	router := exampleop.SetupServer(p.issuer, st, nil, false)
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		tamper, noEnd := p.tamper, p.noEndSession
		p.mu.Unlock()
		if r.URL.Path == "/.well-known/openid-configuration" && noEnd {
			rec := httptest.NewRecorder()
			router.ServeHTTP(rec, r)
			var doc map[string]any
			json.Unmarshal(rec.Body.Bytes(), &doc)
			delete(doc, "end_session_endpoint")
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(doc)
			return
		}
		if r.URL.Path != "/oauth/token" || tamper == nil {
			router.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		router.ServeHTTP(rec, r)
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err == nil {
			if tok, ok := body["id_token"].(string); ok {
				body["id_token"] = tamper(tok)
			}
		}
		b, _ := json.Marshal(body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rec.Code)
		w.Write(b)
	})
	srv.Start()
	t.Cleanup(srv.Close)
	return p
}

func (p *testOP) setTamper(f func(string) string) {
	p.mu.Lock()
	p.tamper = f
	p.mu.Unlock()
}

// resign returns tok with its claims changed by edit, signed again with
// the provider's own key: a token the provider could have issued.
func (p *testOP) resign(t *testing.T, edit func(claims map[string]any)) func(string) string {
	return func(tok string) string {
		parts := strings.Split(tok, ".")
		b, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Errorf("id_token: %v", err)
			return tok
		}
		var claims map[string]any
		json.Unmarshal(b, &claims)
		edit(claims)
		b, _ = json.Marshal(claims)
		signed := parts[0] + "." + base64.RawURLEncoding.EncodeToString(b)
		return signed + "." + base64.RawURLEncoding.EncodeToString(p.sign(t, []byte(signed)))
	}
}

func (p *testOP) sign(t *testing.T, data []byte) []byte {
	sum := sha256.Sum256(data)
	switch k := p.key.priv.(type) {
	case *rsa.PrivateKey:
		sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
		if err != nil {
			t.Error(err)
		}
		return sig
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, k, sum[:])
		if err != nil {
			t.Error(err)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig
	}
	return nil
}

// oidcServer serves a UI with OIDC login at the provider startOP starts
// for it, with autoCreate as given.
func oidcServer(t *testing.T, s *testServer, alg jose.SignatureAlgorithm, autoCreate bool) (string, *testOP) {
	t.Helper()
	return oidcServerWith(t, s, alg, func(o *OIDC) { o.AutoCreate = autoCreate })
}

// oidcServerWith is oidcServer with the settings edit makes.
func oidcServerWith(t *testing.T, s *testServer, alg jose.SignatureAlgorithm, edit func(*OIDC)) (string, *testOP) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	p := startOP(t, alg, base+"/accounts/oidc/callback/")
	mux := http.NewServeMux()
	o := &OIDC{Issuer: p.issuer, ClientID: opClientID, ClientSecret: opClientSecret}
	edit(o)
	New(Config{DB: s.db, BaseURL: base, Log: slog.New(slog.NewTextHandler(t.Output(), nil)), OIDC: o}).Register(mux)
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	return base, p
}

// oidcLogin drives a login with a cookie-jar client over HTTP: tinysink's
// button, the provider's authorization endpoint and login form, back to
// tinysink's callback. edit may change the authorization URL ("auth") or
// the callback URL ("callback") on the way. It returns the callback's
// status, Location and body.
func oidcLogin(t *testing.T, c *http.Client, base, user string, edit func(step string, u *url.URL)) (int, string, string) {
	t.Helper()
	start, _ := url.Parse(base + "/accounts/oidc/login/?next=/users/")
	if edit != nil {
		edit("start", start)
	}
	status, loc, body := fetch(t, c, "GET", start.String(), nil)
	if status != http.StatusFound {
		t.Fatalf("start: %d %s", status, body)
	}
	au, _ := url.Parse(loc)
	q := au.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" || q.Get("nonce") == "" {
		t.Fatalf("authorization URL without PKCE, state or nonce: %s", loc)
	}
	if edit != nil {
		edit("auth", au)
	}
	// The provider sends the browser to its login form.
	status, loc, body = fetch(t, c, "GET", au.String(), nil)
	if status != http.StatusFound {
		t.Fatalf("authorize: %d %s", status, body)
	}
	lu, _ := au.Parse(loc)
	id := lu.Query().Get("authRequestID")
	if status, _, body = fetch(t, c, "GET", lu.String(), nil); status != 200 || !strings.Contains(body, `name="password"`) {
		t.Fatalf("provider login form: %d %s", status, body)
	}
	status, loc, body = fetch(t, c, "POST", lu.Scheme+"://"+lu.Host+"/login/username",
		url.Values{"username": {user}, "password": {"verysecure"}, "id": {id}})
	if status != http.StatusFound {
		t.Fatalf("provider login: %d %s", status, body)
	}
	// Through the provider's callback to ours.
	for range 5 {
		next, _ := lu.Parse(loc)
		if strings.HasPrefix(next.String(), base) {
			if edit != nil {
				edit("callback", next)
			}
			return fetch(t, c, "GET", next.String(), nil)
		}
		if status, loc, body = fetch(t, c, "GET", next.String(), nil); status != http.StatusFound && status != http.StatusSeeOther {
			t.Fatalf("provider redirect %s: %d %s", next, status, body)
		}
	}
	t.Fatalf("the provider never sent the browser back to %s", base)
	return 0, "", ""
}

func TestOIDCLogin(t *testing.T) {
	t.Parallel()
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.ES256} {
		t.Run(string(alg), func(t *testing.T) {
			s := newTestServer(t)
			base, p := oidcServer(t, s, alg, true)
			var signedWith string
			p.setTamper(func(tok string) string {
				var h struct{ Alg string }
				decodeSegment(strings.Split(tok, ".")[0], &h)
				signedWith = h.Alg
				return tok
			})
			c := newClient(t)
			status, body := 0, ""
			if status, _, body = fetch(t, c, "GET", base+"/accounts/login/", nil); status != 200 ||
				!strings.Contains(body, `id="login-oidc"`) || !strings.Contains(body, "Log in with "+strings.TrimPrefix(p.issuer, "http://")) {
				t.Fatalf("login page lacks the provider's button: %d\n%s", status, body)
			}
			status, loc, body := oidcLogin(t, c, base, opUser, nil)
			if status != http.StatusSeeOther || loc != "/users/" {
				t.Fatalf("callback: %d %q\n%s", status, loc, body)
			}
			if signedWith != string(alg) {
				t.Errorf("the provider signed with %q, want %s", signedWith, alg)
			}
			// Logged in as the auto-created, non-admin user.
			if status, _, body = fetch(t, c, "GET", base+"/projects/", nil); status != 200 || !strings.Contains(body, ">"+opUser+"</a>") {
				t.Fatalf("after login: %d\n%s", status, body)
			}
			usr, err := s.db.User(opUser)
			if err != nil || usr.Admin {
				t.Fatalf("auto-created user: %+v, %v", usr, err)
			}
			bu, _ := url.Parse(base)
			for _, ck := range c.Jar.Cookies(bu) {
				if ck.Name == oidcCookie {
					t.Errorf("the flow cookie outlived the login")
				}
			}
		})
	}
}

func TestOIDCLoginUserMapping(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	base, _ := oidcServer(t, s, jose.RS256, false)
	status, _, body := oidcLogin(t, newClient(t), base, opUser, nil)
	if status != http.StatusForbidden || !strings.Contains(body, "There is no user "+opUser) {
		t.Fatalf("unknown user without auto-creation: %d\n%s", status, body)
	}
	if _, err := s.db.User(opUser); err == nil {
		t.Fatal("user created without auto-creation")
	}
	// Once an admin creates the user, the same login works.
	if _, err := s.db.CreateUser(opUser, testPassword, true); err != nil {
		t.Fatal(err)
	}
	c := newClient(t)
	if status, loc, body := oidcLogin(t, c, base, opUser, nil); status != http.StatusSeeOther || loc != "/users/" {
		t.Fatalf("known user: %d %q\n%s", status, loc, body)
	}
	if status, _, _ := fetch(t, c, "GET", base+"/users/", nil); status != 200 {
		t.Fatalf("the admin's users page: %d", status)
	}
	if err := s.db.SetUserActive(opUser, false); err != nil {
		t.Fatal(err)
	}
	if status, _, body := oidcLogin(t, newClient(t), base, opUser, nil); status != http.StatusForbidden || !strings.Contains(body, "deactivated") {
		t.Fatalf("deactivated user: %d\n%s", status, body)
	}
}

// TestOIDCLoginRefused runs logins that must fail, each through the real
// provider with one thing wrong, and checks that no session results.
func TestOIDCLoginRefused(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	base, p := oidcServer(t, s, jose.RS256, true)
	flip := func(tok string) string { // one bit of the signature
		parts := strings.Split(tok, ".")
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		sig[len(sig)/2] ^= 1
		return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	swapClaims := func(tok string) string { // a claim changed, the signature kept
		parts := strings.Split(tok, ".")
		b, _ := base64.RawURLEncoding.DecodeString(parts[1])
		b = bytes.Replace(b, []byte(`"sub":"id2"`), []byte(`"sub":"id1"`), 1)
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
	}
	header := func(h string) func(string) string {
		return func(tok string) string {
			parts := strings.Split(tok, ".")
			return base64.RawURLEncoding.EncodeToString([]byte(h)) + "." + parts[1] + "."
		}
	}
	for _, tc := range []struct {
		name   string
		edit   func(step string, u *url.URL)
		tamper func(string) string
		status int
		want   string
	}{
		{name: "bad state", status: 400, want: "state does not match",
			edit: func(step string, u *url.URL) { setQuery(u, step == "callback", "state", "forged") }},
		{name: "no state", status: 400, want: "state does not match",
			edit: func(step string, u *url.URL) { setQuery(u, step == "callback", "state", "") }},
		{name: "bad nonce", status: 401, want: "nonce",
			edit: func(step string, u *url.URL) { setQuery(u, step == "auth", "nonce", "someone-elses-nonce") }},
		{name: "bad PKCE challenge", status: 401, want: "invalid_grant",
			edit: func(step string, u *url.URL) {
				setQuery(u, step == "auth", "code_challenge", base64.RawURLEncoding.EncodeToString(make([]byte, 32)))
			}},
		{name: "forged code", status: 401, want: "oidc token",
			edit: func(step string, u *url.URL) { setQuery(u, step == "callback", "code", "forged") }},
		{name: "provider error", status: 401, want: "access_denied&lt;script&gt;",
			edit: func(step string, u *url.URL) {
				setQuery(u, step == "callback", "error", "access_denied<script>alert(1)</script>")
			}},
		{name: "wrong audience", status: 401, want: "meant for",
			tamper: p.resign(t, func(c map[string]any) { c["aud"] = []string{"another-client"} })},
		{name: "wrong authorized party", status: 401, want: "issued to",
			tamper: p.resign(t, func(c map[string]any) { c["azp"] = "another-client" })},
		{name: "wrong issuer", status: 401, want: "issuer",
			tamper: p.resign(t, func(c map[string]any) { c["iss"] = "http://127.0.0.1:1" })},
		{name: "expired token", status: 401, want: "expired",
			tamper: p.resign(t, func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() })},
		{name: "token from the future", status: 401, want: "not valid yet",
			tamper: p.resign(t, func(c map[string]any) { c["nbf"] = time.Now().Add(time.Hour).Unix() })},
		{name: "nonce replaced", status: 401, want: "nonce",
			tamper: p.resign(t, func(c map[string]any) { c["nonce"] = "replayed" })},
		{name: "tampered signature", status: 401, want: "signature", tamper: flip},
		{name: "tampered claims", status: 401, want: "signature", tamper: swapClaims},
		{name: "alg none", status: 401, want: "not supported", tamper: header(`{"alg":"none"}`)},
		{name: "alg HS256", status: 401, want: "not supported", tamper: header(`{"alg":"HS256","kid":"k-RS256"}`)},
		{name: "unknown key", status: 401, want: "no key", tamper: func(tok string) string {
			parts := strings.Split(tok, ".")
			return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"other"}`)) + "." + parts[1] + "." + parts[2]
		}},
		{name: "not a JWT", status: 401, want: "not a signed JWT", tamper: func(string) string { return "garbage" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p.setTamper(tc.tamper)
			defer p.setTamper(nil)
			c := newClient(t)
			status, loc, body := oidcLogin(t, c, base, opUser, tc.edit)
			if status != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("status %d (location %q), want %d with %q:\n%s", status, loc, tc.status, tc.want, body)
			}
			if status, loc, _ := fetch(t, c, "GET", base+"/projects/", nil); status != http.StatusSeeOther {
				t.Fatalf("logged in after a refused login: %d %q", status, loc)
			}
		})
	}
	if _, err := s.db.User(opUser); err == nil {
		t.Error("a refused login created the user")
	}
}

// TestOIDCCallbackReplay: the callback works once per flow cookie; a
// callback without the cookie of the browser that started the login (a
// link sent to someone else) is refused.
func TestOIDCCallbackReplay(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	base, _ := oidcServer(t, s, jose.ES256, true)
	var callback string
	c := newClient(t)
	status, _, _ := oidcLogin(t, c, base, opUser, func(step string, u *url.URL) {
		if step == "callback" {
			callback = u.String()
		}
	})
	if status != http.StatusSeeOther {
		t.Fatalf("login: %d", status)
	}
	if status, _, body := fetch(t, c, "GET", callback, nil); status != 400 || !strings.Contains(body, "Start again") {
		t.Errorf("the same callback again: %d\n%s", status, body)
	}
	if status, _, body := fetch(t, newClient(t), "GET", callback, nil); status != 400 || !strings.Contains(body, "not started here") {
		t.Errorf("the callback in another browser: %d\n%s", status, body)
	}
	// A flow cookie planted by someone else (not signed by this server).
	c2 := newClient(t)
	bu, _ := url.Parse(base + "/accounts/oidc/")
	flow := (&oidcFlow{State: "s", Nonce: "n", Verifier: "v", Expires: time.Now().Add(time.Hour).Unix()})
	b, _ := json.Marshal(flow)
	c2.Jar.SetCookies(bu, []*http.Cookie{{Name: oidcCookie, Value: base64.RawURLEncoding.EncodeToString(b) + ".AAAA"}})
	if status, _, body := fetch(t, c2, "GET", base+"/accounts/oidc/callback/?state=s&code=x", nil); status != 400 || !strings.Contains(body, "not ours") {
		t.Errorf("a planted flow cookie: %d\n%s", status, body)
	}
}

// TestOIDCProviderDown: the button's target answers 502 with a clear
// page when the provider cannot be reached.
func TestOIDCProviderDown(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	base := s.serveUI(t, func(c *Config) { c.OIDC = &OIDC{Issuer: down.URL, ClientID: "x"} })
	if status, _, body := fetch(t, newClient(t), "GET", base+"/accounts/oidc/login/", nil); status != http.StatusBadGateway || !strings.Contains(body, "could not be reached") {
		t.Errorf("provider down: %d\n%s", status, body)
	}
	// Without OIDC configured, its routes do not exist.
	plain := s.serveUI(t, nil)
	if status, _, _ := fetch(t, newClient(t), "GET", plain+"/accounts/oidc/login/", nil); status != http.StatusNotFound {
		t.Errorf("oidc login without oidc: %d", status)
	}
}

func setQuery(u *url.URL, when bool, key, value string) {
	if !when {
		return
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
}

// TestOIDCNext: the page to return to survives the trip to the provider,
// only when it is a path on this site, and is escaped on the login page.
func TestOIDCNext(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	base, _ := oidcServer(t, s, jose.RS256, true)
	for next, want := range map[string]string{
		"/projects/1/?tab=all":  "/projects/1/?tab=all",
		"//evil.example/":       "/projects/",
		"https://evil.example/": "/projects/",
		"/\\evil.example/":      "/projects/",
		`"><script>x</script>`:  "/projects/",
	} {
		status, loc, body := oidcLogin(t, newClient(t), base, opUser, func(step string, u *url.URL) { setQuery(u, step == "start", "next", next) })
		if status != http.StatusSeeOther || loc != want {
			t.Errorf("next %q: %d %q, want %q\n%s", next, status, loc, want, body)
		}
	}
	status, _, body := fetch(t, newClient(t), "GET", base+"/accounts/login/?next="+url.QueryEscape(`"><script>alert(1)</script>`), nil)
	if status != 200 || strings.Contains(body, "<script>alert") {
		t.Errorf("login page with a hostile next: %d\n%s", status, body)
	}
}

// loggedInAs returns the name on the account page of c's session, "" when
// c is not logged in.
func loggedInAs(t *testing.T, c *http.Client, base string) string {
	t.Helper()
	status, _, body := fetch(t, c, "GET", base+"/accounts/", nil)
	if status != 200 {
		return ""
	}
	_, name, _ := strings.Cut(body, "<h1>Your account · ")
	name, _, _ = strings.Cut(name, "<")
	return name
}

// TestOIDCLoginLinksSubject: the first login links the provider's
// identity (iss, sub) to the user; later logins go by it, whatever name
// the provider sends, and another identity sending the user's name is
// refused. An admin can unlink.
func TestOIDCLoginLinksSubject(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	base, p := oidcServer(t, s, jose.RS256, false)
	for _, name := range []string{opUser, "bob"} {
		if _, err := s.db.CreateUser(name, testPassword, false); err != nil {
			t.Fatal(err)
		}
	}
	if status, _, body := oidcLogin(t, newClient(t), base, opUser, nil); status != http.StatusSeeOther {
		t.Fatalf("first login: %d\n%s", status, body)
	}
	if usr, err := s.db.User(opUser); err != nil || usr.OIDC == nil || usr.OIDC.Issuer != p.issuer || usr.OIDC.Subject != "id2" {
		t.Fatalf("after the first login: %+v, %v", usr, err)
	}

	// Renamed at the provider, even to another local user's name: still
	// the linked user.
	p.setTamper(p.resign(t, func(c map[string]any) { c["preferred_username"] = "bob" }))
	c := newClient(t)
	if status, _, body := oidcLogin(t, c, base, opUser, nil); status != http.StatusSeeOther {
		t.Fatalf("login after a rename at the provider: %d\n%s", status, body)
	}
	if got := loggedInAs(t, c, base); got != opUser {
		t.Fatalf("renamed at the provider: logged in as %q, want %q", got, opUser)
	}
	// The account page shows the link.
	if _, _, body := fetch(t, c, "GET", base+"/accounts/", nil); !strings.Contains(body, `id="oidc-link"`) || !strings.Contains(body, "<code>id2</code>") {
		t.Errorf("the account page does not show the link:\n%s", body)
	}

	// Another identity sending the linked user's name is refused.
	p.setTamper(p.resign(t, func(c map[string]any) { c["sub"] = "id-other"; c["preferred_username"] = opUser }))
	c = newClient(t)
	if status, _, body := oidcLogin(t, c, base, opUser, nil); status != http.StatusForbidden || !strings.Contains(body, "linked to another account") {
		t.Fatalf("takeover by another identity: %d\n%s", status, body)
	}
	if got := loggedInAs(t, c, base); got != "" {
		t.Fatalf("takeover by another identity logged in as %q", got)
	}

	// An admin sees the link and unlinks it; the user's sessions end, and
	// the next login links by name again.
	if _, err := s.db.CreateUser("root", testPassword, true); err != nil {
		t.Fatal(err)
	}
	admin := s.login(t, "root")
	if rec := s.do("GET", "/users/", nil, admin); !strings.Contains(rec.Body.String(), "oidc-link") {
		t.Errorf("the users page does not show the link:\n%s", rec.Body)
	}
	if rec := s.do("POST", "/users/"+opUser+"/", url.Values{"op": {"unlink-oidc"}}, admin); rec.Code != http.StatusSeeOther {
		t.Fatalf("unlink: %d %s", rec.Code, rec.Body)
	}
	if usr, _ := s.db.User(opUser); usr.OIDC != nil {
		t.Fatalf("still linked after the unlink: %+v", usr.OIDC)
	}
	p.setTamper(nil)
	if status, _, body := oidcLogin(t, newClient(t), base, opUser, nil); status != http.StatusSeeOther {
		t.Fatalf("login after the unlink: %d\n%s", status, body)
	}
	if usr, _ := s.db.User(opUser); usr.OIDC == nil || usr.OIDC.Subject != "id2" {
		t.Errorf("not linked again: %+v", usr.OIDC)
	}
}

// TestOIDCLoginEmailClaim: with the email as the user name, an existing
// user is linked only when the provider verified the address; after that
// a changed address still logs in to the same user, and another identity
// with the address is refused.
func TestOIDCLoginEmailClaim(t *testing.T) {
	t.Parallel()
	const email, newEmail = "test-user2@zitadel.ch", "renamed@zitadel.ch"
	s := newTestServer(t)
	base, p := oidcServerWith(t, s, jose.ES256, func(o *OIDC) { o.UsernameClaim = "email"; o.AutoCreate = true })
	for _, name := range []string{email, newEmail} {
		if _, err := s.db.CreateUser(name, testPassword, false); err != nil {
			t.Fatal(err)
		}
	}
	p.setTamper(p.resign(t, func(c map[string]any) { c["email"] = email; c["email_verified"] = false }))
	if status, _, body := oidcLogin(t, newClient(t), base, opUser, nil); status != http.StatusForbidden || !strings.Contains(body, "not verified") {
		t.Fatalf("unverified email: %d\n%s", status, body)
	}
	if usr, _ := s.db.User(email); usr.OIDC != nil {
		t.Fatalf("linked by an unverified email: %+v", usr.OIDC)
	}
	// As the provider sends it: the email and email_verified from its
	// userinfo endpoint.
	p.setTamper(nil)
	c := newClient(t)
	if status, _, body := oidcLogin(t, c, base, opUser, nil); status != http.StatusSeeOther {
		t.Fatalf("verified email: %d\n%s", status, body)
	}
	if got := loggedInAs(t, c, base); got != email {
		t.Fatalf("logged in as %q, want %q", got, email)
	}
	// The address changes at the provider, to one a local user has.
	p.setTamper(p.resign(t, func(c map[string]any) { c["email"] = newEmail; c["email_verified"] = true }))
	c = newClient(t)
	if status, _, body := oidcLogin(t, c, base, opUser, nil); status != http.StatusSeeOther {
		t.Fatalf("changed email: %d\n%s", status, body)
	}
	if got := loggedInAs(t, c, base); got != email {
		t.Fatalf("after an email change at the provider: logged in as %q, want %q", got, email)
	}
	// Another identity with the first address (verified) is refused.
	p.setTamper(p.resign(t, func(c map[string]any) { c["sub"] = "id-other"; c["email"] = email; c["email_verified"] = true }))
	if status, _, body := oidcLogin(t, newClient(t), base, opUser, nil); status != http.StatusForbidden || !strings.Contains(body, "linked to another account") {
		t.Fatalf("another identity with the linked address: %d\n%s", status, body)
	}
}

// TestOIDCLogout: logging out of a session that came through the provider
// ends it at the provider too (RP-Initiated Logout with the login's ID
// token) and comes back to the login page; other sessions, and providers
// without an end_session_endpoint, log out locally only.
func TestOIDCLogout(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	base, p := oidcServer(t, s, jose.RS256, true)
	c := newClient(t)
	if status, _, body := oidcLogin(t, c, base, opUser, nil); status != http.StatusSeeOther {
		t.Fatalf("login: %d\n%s", status, body)
	}
	// The answer is a page that moves on to the provider: a form post may
	// not be redirected to another origin under the page's CSP.
	req, _ := http.NewRequest("POST", base+"/accounts/logout/", strings.NewReader(""))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	refresh := resp.Header.Get("Refresh")
	loc, ok := strings.CutPrefix(refresh, "0; url=")
	if resp.StatusCode != 200 || !ok || !strings.HasPrefix(loc, p.issuer+"/") {
		t.Fatalf("logout: %d, Refresh %q, want the provider's end_session_endpoint\n%s", resp.StatusCode, refresh, page)
	}
	if !strings.Contains(string(page), `id="end-session" href="`+html.EscapeString(loc)+`"`) {
		t.Errorf("the logout page lacks the link to the provider:\n%s", page)
	}
	lu, _ := url.Parse(loc)
	q := lu.Query()
	if q.Get("id_token_hint") == "" || q.Get("post_logout_redirect_uri") != base+"/accounts/login/" || q.Get("state") == "" || q.Get("client_id") != opClientID {
		t.Errorf("end-session request: %s", loc)
	}
	if got := loggedInAs(t, c, base); got != "" {
		t.Errorf("still logged in as %q before the provider answered", got)
	}
	status, back, body := fetch(t, c, "GET", loc, nil)
	if status != http.StatusFound || !strings.HasPrefix(back, base+"/accounts/login/?") {
		t.Fatalf("the provider's end_session: %d %q\n%s", status, back, body)
	}
	p.mu.Lock()
	ended := slices.Clone(p.ended)
	p.mu.Unlock()
	if len(ended) != 1 || ended[0] != "id2 "+opClientID {
		t.Errorf("sessions the provider ended: %q", ended)
	}
	if bu, _ := url.Parse(back); bu.Query().Get("state") != q.Get("state") {
		t.Errorf("the provider sent back state %q, want %q", bu.Query().Get("state"), q.Get("state"))
	}
	if status, _, body := fetch(t, c, "GET", back, nil); status != 200 || !strings.Contains(body, `id="logged-out"`) {
		t.Errorf("login page after the logout: %d\n%s", status, body)
	}
	for _, forged := range []string{"logout.99999999999.AAAA", "x", strings.Replace(q.Get("state"), "logout.", "logout.9", 1)} {
		if _, _, body := fetch(t, c, "GET", base+"/accounts/login/?state="+url.QueryEscape(forged), nil); strings.Contains(body, `id="logged-out"`) {
			t.Errorf("state %q claims a logout at the provider", forged)
		}
	}

	// A password session: local logout only.
	if _, err := s.db.CreateUser("root", testPassword, true); err != nil {
		t.Fatal(err)
	}
	ck := s.login(t, "root")
	if status, loc, _ := fetch(t, newClient(t), "POST", base+"/accounts/logout/", url.Values{}, "Cookie", ck.Name+"="+ck.Value); status != http.StatusSeeOther || loc != "/accounts/login/" {
		t.Errorf("password session logout: %d %q", status, loc)
	}

	// A provider without end_session_endpoint: local logout only.
	s2 := newTestServer(t)
	base2, p2 := oidcServer(t, s2, jose.ES256, true)
	p2.mu.Lock()
	p2.noEndSession = true
	p2.mu.Unlock()
	c2 := newClient(t)
	if status, _, body := oidcLogin(t, c2, base2, opUser, nil); status != http.StatusSeeOther {
		t.Fatalf("login: %d\n%s", status, body)
	}
	if status, loc, _ := fetch(t, c2, "POST", base2+"/accounts/logout/", url.Values{}); status != http.StatusSeeOther || loc != "/accounts/login/" {
		t.Errorf("logout without end_session_endpoint: %d %q", status, loc)
	}
	if got := loggedInAs(t, c2, base2); got != "" {
		t.Errorf("still logged in as %q", got)
	}
}
