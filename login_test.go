package main

import (
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
)

func TestLoginSettings(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  string // "" = valid
	}{
		{nil, ""},
		{[]string{"-auth-proxy-header", "Remote-User"}, "needs -trusted-proxies"},
		{[]string{"-auth-proxy-header", "Remote-User", "-trusted-proxies", "10.0.0.0/8, 192.168.1.7,fd00::/8"}, ""},
		{[]string{"-auth-proxy-header", "Remote-User", "-trusted-proxies", "10.0.0.0/8,proxy.lan"}, `"proxy.lan" is not an IP or CIDR`},
		{[]string{"-password-login=false"}, "no way to log in"},
		{[]string{"-password-login=false", "-auth-proxy-header", "X-User", "-trusted-proxies", "127.0.0.1"}, ""},
		{[]string{"-oidc-issuer", "https://id.example.org"}, "needs -oidc-client-id"},
		{[]string{"-oidc-issuer", "id.example.org", "-oidc-client-id", "ts"}, "not an http(s) URL"},
		{[]string{"-password-login=false", "-oidc-issuer", "https://id.example.org/realms/x", "-oidc-client-id", "ts"}, ""},
	} {
		c, _, err := parseFlags("test", tc.args, io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		_, _, _, err = c.login()
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.err)
		}
	}
	c, _, _ := parseFlags("test", []string{"-password-login=false", "-auth-proxy-header", "Remote-User", "-trusted-proxies", "10.1.2.3/8,::1", "-auth-proxy-autocreate"}, io.Discard)
	noPassword, proxy, oidc, err := c.login()
	if err != nil || !noPassword || oidc != nil || proxy == nil || !proxy.AutoCreate ||
		len(proxy.Trusted) != 2 || proxy.Trusted[0].String() != "10.0.0.0/8" || proxy.Trusted[1].String() != "::1/128" {
		t.Errorf("login settings: %v %+v %+v %v", noPassword, proxy, oidc, err)
	}
}

// TestProxyLoginServe runs the server with header login only: the header
// from 127.0.0.1 logs in, the password form is off.
func TestProxyLoginServe(t *testing.T) {
	ts := startServer(t, "-password-login=false", "-auth-proxy-header", "Remote-User", "-trusted-proxies", "127.0.0.1")
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(hdr string) int {
		req, _ := http.NewRequest("GET", ts.base+"/projects/", nil)
		if hdr != "" {
			req.Header.Set("Remote-User", hdr)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get("admin"); got != 200 {
		t.Errorf("with the proxy's header: %d", got)
	}
	if got := get(""); got != http.StatusSeeOther {
		t.Errorf("without it: %d", got)
	}
	resp, err := c.PostForm(ts.base+"/accounts/login/", url.Values{"name": {"admin"}, "password": {"test-password"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("password login when off: %d", resp.StatusCode)
	}
}

// TestBinaryDeps keeps test-only dependencies (the OpenID provider of the
// login tests, the browser driver, the SDK) out of the binary, whose size
// is resident memory.
func TestBinaryDeps(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH: dependency check skipped")
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, bad := range []string{"github.com/zitadel/", "github.com/go-jose/", "github.com/chromedp/", "github.com/getsentry/", "golang.org/x/oauth2"} {
			if strings.HasPrefix(dep, bad) {
				t.Errorf("the binary links %s, a test-only dependency", dep)
			}
		}
	}
}

// TestOIDCLoginServe: with -oidc-issuer the server's login page offers the
// provider's button beside the password form.
func TestOIDCLoginServe(t *testing.T) {
	ts := startServer(t, "-oidc-issuer", "http://127.0.0.1:1/realm", "-oidc-client-id", "tinysink")
	resp, err := http.Get(ts.base + "/accounts/login/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if body := string(b); resp.StatusCode != 200 || !strings.Contains(body, `id="login-oidc"`) || !strings.Contains(body, `type="password"`) {
		t.Errorf("login page: %d\n%s", resp.StatusCode, body)
	}
}
