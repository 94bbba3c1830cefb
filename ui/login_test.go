package ui

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// serveUI serves a UI over s's store, configured by set, on a real
// 127.0.0.1 listener, and returns its base URL.
func (s *testServer) serveUI(t *testing.T, set func(*Config)) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	cfg := Config{DB: s.db, BaseURL: base, Log: slog.New(slog.NewTextHandler(t.Output(), nil))}
	if set != nil {
		set(&cfg)
	}
	mux := http.NewServeMux()
	New(cfg).Register(mux)
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	return base
}

// newClient returns an HTTP client with a cookie jar that does not follow
// redirects, so each step of a login can be checked.
func newClient(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// fetch sends one request and returns the status, the Location and the
// body.
func fetch(t *testing.T, c *http.Client, method, target string, form url.Values, hdr ...string) (int, string, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

func TestProxyHeaderLogin(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	elsewhere := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	trusted := s.serveUI(t, func(c *Config) { c.ProxyAuth = &ProxyAuth{Header: "Remote-User", Trusted: loopback} })
	untrusted := s.serveUI(t, func(c *Config) {
		c.ProxyAuth = &ProxyAuth{Header: "Remote-User", Trusted: elsewhere, AutoCreate: true}
		c.TrustProxy = true // forwarding headers must not make a connection trusted
	})
	creating := s.serveUI(t, func(c *Config) { c.ProxyAuth = &ProxyAuth{Header: "Remote-User", Trusted: loopback, AutoCreate: true} })
	if err := s.db.SetUserActive("user", false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.CreateUser("carol", testPassword, false); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		base   string
		path   string
		hdr    []string
		status int
		want   string // in the body, or the Location of a redirect
	}{
		{"trusted proxy names a user", trusted, "/projects/", []string{"Remote-User", "carol"}, 200, ">carol</a>"},
		{"trusted proxy names an admin", trusted, "/users/", []string{"Remote-User", "admin"}, 200, ">admin</a>"},
		{"a plain user is no admin", trusted, "/users/", []string{"Remote-User", "carol"}, 403, "Only an admin"},
		{"the login page passes on", trusted, "/accounts/login/?next=/users/", []string{"Remote-User", "admin"}, 303, "/users/"},
		{"no header, no login", trusted, "/projects/", nil, 303, "/accounts/login/"},
		{"unknown user, no auto-creation", trusted, "/projects/", []string{"Remote-User", "mallory"}, 403, "There is no user mallory here"},
		{"deactivated user", trusted, "/projects/", []string{"Remote-User", "user"}, 403, "deactivated"},
		{"untrusted source", untrusted, "/projects/", []string{"Remote-User", "admin"}, 303, "/accounts/login/"},
		{"untrusted source spoofing forwarding headers", untrusted, "/projects/",
			[]string{"Remote-User", "admin", "X-Forwarded-For", "10.0.0.1", "X-Real-IP", "10.0.0.1", "Forwarded", "for=10.0.0.1"}, 303, "/accounts/login/"},
		{"untrusted source cannot auto-create", untrusted, "/projects/", []string{"Remote-User", "eve"}, 303, "/accounts/login/"},
		{"auto-created on first visit", creating, "/projects/", []string{"Remote-User", "dave@example.org"}, 200, ">dave@example.org</a>"},
		{"known again on the next", creating, "/projects/", []string{"Remote-User", "dave@example.org"}, 200, ">dave@example.org</a>"},
		{"auto-creation refuses a bad name", creating, "/projects/", []string{"Remote-User", "<b>x</b>"}, 403, "cannot be a user name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, loc, body := fetch(t, newClient(t), "GET", tc.base+tc.path, nil, tc.hdr...)
			if status != tc.status {
				t.Fatalf("status %d, want %d (location %q)", status, tc.status, loc)
			}
			if got := body; status == 303 {
				if !strings.HasPrefix(loc, tc.want) {
					t.Errorf("redirect to %q, want %q", loc, tc.want)
				}
			} else if !strings.Contains(got, tc.want) {
				t.Errorf("body lacks %q:\n%s", tc.want, got)
			}
		})
	}
	if _, err := s.db.User("mallory"); err == nil {
		t.Error("mallory was created without auto-creation")
	}
	if _, err := s.db.User("eve"); err == nil {
		t.Error("eve was created from an untrusted source")
	}
	dave, err := s.db.User("dave@example.org")
	if err != nil {
		t.Fatalf("auto-created user: %v", err)
	}
	if dave.Admin || !dave.Active {
		t.Errorf("auto-created user: admin %v, active %v; want a plain, active user", dave.Admin, dave.Active)
	}
	if _, err := s.db.CheckPassword("dave@example.org", ""); err == nil {
		t.Error("the auto-created user logs in with an empty password")
	}
}

// TestProxyHeaderPost: a form posted through the proxy acts as the user
// the header names, and the password form still serves people who come
// around the proxy.
func TestProxyHeaderPost(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	base := s.serveUI(t, func(c *Config) {
		c.ProxyAuth = &ProxyAuth{Header: "X-Forwarded-User", Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	})
	c := newClient(t)
	status, loc, _ := fetch(t, c, "POST", base+"/projects/new/", url.Values{"name": {"Proxied"}}, "X-Forwarded-User", "admin")
	if status != 303 || !strings.HasPrefix(loc, "/projects/") {
		t.Fatalf("create a project through the proxy: %d %q", status, loc)
	}
	status, loc, _ = fetch(t, c, "POST", base+"/accounts/login/", url.Values{"name": {"user"}, "password": {testPassword}})
	if status != 303 || loc != "/projects/" {
		t.Fatalf("password login beside the proxy: %d %q", status, loc)
	}
	if status, _, body := fetch(t, c, "GET", base+"/projects/", nil); status != 200 || !strings.Contains(body, ">user</a>") {
		t.Fatalf("after a password login: %d", status)
	}
}

func TestPasswordLoginOff(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	base := s.serveUI(t, func(c *Config) {
		c.NoPasswordLogin = true
		c.ProxyAuth = &ProxyAuth{Header: "Remote-User", Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	})
	c := newClient(t)
	status, _, body := fetch(t, c, "GET", base+"/accounts/login/", nil)
	if status != 200 || strings.Contains(body, `type="password"`) || !strings.Contains(body, "sign-in proxy") {
		t.Errorf("login page with password login off: %d\n%s", status, body)
	}
	status, _, body = fetch(t, c, "POST", base+"/accounts/login/", url.Values{"name": {"admin"}, "password": {testPassword}})
	if status != http.StatusForbidden || !strings.Contains(body, "Password login is switched off") {
		t.Errorf("password post with password login off: %d\n%s", status, body)
	}
	u, _ := url.Parse(base)
	if cs := c.Jar.Cookies(u); len(cs) != 0 {
		t.Errorf("cookies after a refused password login: %v", cs)
	}

	on := s.serveUI(t, nil)
	if status, _, body := fetch(t, c, "GET", on+"/accounts/login/", nil); status != 200 || !strings.Contains(body, `type="password"`) || strings.Contains(body, "login-oidc") {
		t.Errorf("default login page: %d\n%s", status, body)
	}
}

// TestProxyHeaderIPv6: a proxy on ::1 is trusted by its IPv6 prefix, and
// not by an IPv4 one.
func TestProxyHeaderIPv6(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	for _, tc := range []struct {
		trusted string
		status  int
	}{{"::1/128", 200}, {"127.0.0.0/8", 303}} {
		ln, err := net.Listen("tcp", "[::1]:0")
		if err != nil {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		mux := http.NewServeMux()
		New(Config{DB: s.db, ProxyAuth: &ProxyAuth{Header: "Remote-User", Trusted: []netip.Prefix{netip.MustParsePrefix(tc.trusted)}}}).Register(mux)
		srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: mux}}
		srv.Start()
		status, _, _ := fetch(t, newClient(t), "GET", srv.URL+"/projects/", nil, "Remote-User", "admin")
		srv.Close()
		if status != tc.status {
			t.Errorf("trusted %s, connection from ::1: %d, want %d", tc.trusted, status, tc.status)
		}
	}
}
