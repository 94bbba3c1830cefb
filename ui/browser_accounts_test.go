package ui

import (
	"context"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browserLogin logs name in through the login page.
func browserLogin(t *testing.T, ctx context.Context, base, name, password string) {
	t.Helper()
	do(t, ctx, "log in as "+name,
		chromedp.Navigate(base+"/accounts/login/"),
		chromedp.WaitVisible(chromedp.ID("login")),
		chromedp.SendKeys(chromedp.CSS("input[name=name]"), name),
		chromedp.SendKeys(chromedp.CSS("input[name=password]"), password),
		chromedp.Click(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("logout")))
}

// TestBrowserAccounts drives the account pages in Chromium: an admin
// makes an API token, promotes a user, makes a team and an invite link;
// the invitee accepts it; a user resets a forgotten password by email.
func TestBrowserAccounts(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	srv := httptest.NewServer(s.mux)
	defer srv.Close()
	ctx := newBrowser(t)
	browserLogin(t, ctx, srv.URL, "admin", testPassword)

	do(t, ctx, "make a token",
		chromedp.Navigate(srv.URL+"/tokens/"),
		chromedp.WaitVisible(chromedp.ID("make-token")),
		chromedp.SendKeys(chromedp.CSS("#new-token input[name=name]"), "sentry-cli"),
		chromedp.Click(chromedp.ID("make-token")),
		chromedp.WaitVisible(chromedp.ID("token-secret")))
	secret := get(t, ctx, chromedp.Text(chromedp.ID("token-secret")))
	if tok, ok := s.db.LookupToken(secret); !ok || tok.Name != "sentry-cli" {
		t.Errorf("the page's token %q does not work: %+v", secret, tok)
	}
	if text := get(t, ctx, chromedp.Text(chromedp.ID("tokens"))); !strings.Contains(text, "sentry-cli") || strings.Contains(text, secret) {
		t.Errorf("token list: %q", text)
	}

	do(t, ctx, "promote a user",
		chromedp.Navigate(srv.URL+"/users/"),
		chromedp.WaitVisible(chromedp.CSS("#user-user button.promote")),
		chromedp.Click(chromedp.CSS("#user-user button.promote")),
		chromedp.WaitVisible(chromedp.CSS("#user-user button.demote")))
	if u, _ := s.db.User("user"); !u.Admin {
		t.Error("the promote button did not make an admin")
	}
	do(t, ctx, "make a team",
		chromedp.Navigate(srv.URL+"/teams/"),
		chromedp.WaitVisible(chromedp.ID("make-team")),
		chromedp.SendKeys(chromedp.CSS("#new-team input[name=name]"), "Backend"),
		chromedp.Click(chromedp.ID("make-team")),
		chromedp.WaitVisible(chromedp.ID("add-member-button")),
		chromedp.Click(chromedp.ID("add-member-button")),
		chromedp.WaitVisible(chromedp.ID("members")))
	if tm, err := s.db.Team("Backend"); err != nil || len(tm.Members) != 1 {
		t.Errorf("team = %+v, %v", tm, err)
	}
	do(t, ctx, "make an invite link",
		chromedp.Navigate(srv.URL+"/users/"),
		chromedp.WaitVisible(chromedp.ID("make-invite")),
		chromedp.Click(chromedp.ID("make-invite")),
		chromedp.WaitVisible(chromedp.ID("invite-link")))
	link := get(t, ctx, chromedp.Text(chromedp.ID("invite-link")))
	path := regexp.MustCompile(`/accounts/invite/[0-9a-f]{64}/$`).FindString(link)
	if path == "" {
		t.Fatalf("invite link %q", link)
	}

	// The invitee, in a browser of their own.
	guest := newBrowser(t)
	do(t, guest, "accept the invite",
		chromedp.Navigate(srv.URL+path),
		chromedp.WaitVisible(chromedp.ID("accept-invite")),
		chromedp.SendKeys(chromedp.CSS("input[name=name]"), "newbie"),
		chromedp.SendKeys(chromedp.CSS("input[name=password]"), "newbie-password"),
		chromedp.SendKeys(chromedp.CSS("input[name=password2]"), "newbie-password"),
		chromedp.Click(chromedp.ID("accept-invite")),
		chromedp.WaitVisible(chromedp.ID("logout")))
	if text := get(t, guest, chromedp.Text(chromedp.CSS("header.top nav"))); !strings.Contains(text, "newbie") {
		t.Errorf("after accepting, the header shows %q", text)
	}

	// A forgotten password, reset by email.
	s.db.SetAlertAddress("newbie", "newbie@example.org")
	forgetful := newBrowser(t)
	do(t, forgetful, "ask for a reset link",
		chromedp.Navigate(srv.URL+"/accounts/login/"),
		chromedp.WaitVisible(chromedp.ID("login")),
		chromedp.Click(`//a[contains(., "Forgot your password")]`),
		chromedp.WaitVisible(chromedp.ID("send-reset")),
		chromedp.SendKeys(chromedp.CSS("input[name=name]"), "newbie@example.org"),
		chromedp.Click(chromedp.ID("send-reset")),
		chromedp.WaitVisible(chromedp.CSS("p.notice")))
	var mails []sentMail
	for range 300 {
		if mails = s.sent(); len(mails) > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(mails) != 1 {
		t.Fatalf("mails = %+v", mails)
	}
	reset := regexp.MustCompile(`/accounts/reset/[0-9a-f]{64}/`).FindString(mails[0].body)
	do(t, forgetful, "choose a new password",
		chromedp.Navigate(srv.URL+reset),
		chromedp.WaitVisible(chromedp.ID("set-password")),
		chromedp.SendKeys(chromedp.CSS("input[name=password]"), "remembered-now"),
		chromedp.SendKeys(chromedp.CSS("input[name=password2]"), "remembered-now"),
		chromedp.Click(chromedp.ID("set-password")),
		chromedp.WaitVisible(chromedp.ID("logout")))
	if _, err := s.db.CheckPassword("newbie", "remembered-now"); err != nil {
		t.Error("the reset password does not work")
	}
}
