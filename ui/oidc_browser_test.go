package ui

import (
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/go-jose/go-jose/v4"
)

// TestBrowserOIDC logs in through the in-process OpenID provider in
// Chromium, scripts off (neither side needs them): tinysink's button, the
// provider's form, back to the page asked for, then logs out (at the
// provider too).
func TestBrowserOIDC(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	base, p := oidcServer(t, s, jose.ES256, true)
	ctx := newBrowser(t)
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatalf("disable scripts: %v", err)
	}
	do(t, ctx, "open a page, take the provider's button",
		chromedp.Navigate(base+"/projects/"),
		chromedp.WaitVisible(chromedp.ID("login-oidc")),
		chromedp.Click(chromedp.ID("login-oidc")),
		chromedp.WaitVisible(chromedp.ID("username")))
	if loc := get(t, ctx, chromedp.Location()); !strings.HasPrefix(loc, p.issuer+"/login/") {
		t.Fatalf("the button led to %s, want the provider's login form", loc)
	}
	do(t, ctx, "log in at the provider",
		chromedp.SendKeys(chromedp.ID("username"), opUser),
		chromedp.SendKeys(chromedp.ID("password"), "verysecure"),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("logout")))
	if loc := get(t, ctx, chromedp.Location()); loc != base+"/projects/" {
		t.Errorf("after the login: %s, want %s/projects/", loc, base)
	}
	if name := get(t, ctx, chromedp.Text(`a[href="/accounts/"]`)); name != opUser {
		t.Errorf("logged in as %q, want %q", name, opUser)
	}
	// Logging out goes through the provider's end_session_endpoint, which
	// ends the login there and sends the browser back to the login page.
	do(t, ctx, "log out, at the provider too",
		chromedp.Click(chromedp.ID("logout")),
		chromedp.WaitVisible(chromedp.ID("logged-out")),
		chromedp.WaitVisible(chromedp.ID("login-oidc")))
	if loc := get(t, ctx, chromedp.Location()); !strings.HasPrefix(loc, base+"/accounts/login/?state=") {
		t.Errorf("after the logout: %s, want the login page with the provider's state", loc)
	}
	p.mu.Lock()
	ended := len(p.ended)
	p.mu.Unlock()
	if ended != 1 {
		t.Errorf("the provider ended %d sessions, want 1", ended)
	}
}
