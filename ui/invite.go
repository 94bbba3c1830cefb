package ui

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/tinysink/tinysink/store"
)

// The pages reached without a session from a link: accepting an invite,
// asking for a password-reset email, and choosing a new password with the
// link from that email.

type invitePage struct {
	layout
	Token   string
	Invite  *store.Invite
	Name    string
	Error   string
	Expired bool
}

// handleInviteForm serves GET /accounts/invite/{token}/.
func (u *UI) handleInviteForm(w http.ResponseWriter, r *http.Request) error {
	page := &invitePage{layout: u.layout(r, "Accept invite"), Token: r.PathValue("token")}
	inv, err := u.db.Invite(page.Token)
	if errors.Is(err, store.ErrNotFound) {
		page.Expired = true
		return u.renderStatus(w, http.StatusNotFound, "invite", page)
	} else if err != nil {
		return err
	}
	page.Invite = inv
	return u.render(w, "invite", page)
}

// handleInviteAccept serves POST /accounts/invite/{token}/ with name=,
// password= and password2=: it creates the account and logs it in.
func (u *UI) handleInviteAccept(w http.ResponseWriter, r *http.Request) error {
	page := &invitePage{layout: u.layout(r, "Accept invite"), Token: r.PathValue("token")}
	name := strings.TrimSpace(r.PostFormValue("name"))
	pw, pw2 := r.PostFormValue("password"), r.PostFormValue("password2")
	page.Name = clean(name, 64, false)
	inv, err := u.db.Invite(page.Token)
	if errors.Is(err, store.ErrNotFound) {
		page.Expired = true
		return u.renderStatus(w, http.StatusNotFound, "invite", page)
	} else if err != nil {
		return err
	}
	page.Invite = inv
	switch {
	case !validUserName(name):
		page.Error = "A user name has 1 to 64 letters, digits and . _ @ + - characters."
	case pw != pw2:
		page.Error = "The passwords differ."
	case len(pw) < store.MinPasswordLen:
		page.Error = "A password has at least 8 characters."
	}
	if page.Error == "" {
		_, err = u.db.AcceptInvite(page.Token, name, pw)
		switch {
		case errors.Is(err, store.ErrExists):
			page.Error = "That user name is taken; pick another."
		case errors.Is(err, store.ErrNotFound):
			page.Expired = true
			return u.renderStatus(w, http.StatusNotFound, "invite", page)
		case err != nil:
			return err
		}
	}
	if page.Error != "" {
		return u.renderStatus(w, http.StatusBadRequest, "invite", page)
	}
	u.log.Info("invite accepted", "user", name, "invited_by", inv.CreatedBy)
	tok, err := u.db.CreateSession(name, u.ttl)
	if err != nil {
		return err
	}
	u.setSessionCookie(w, tok, int(u.ttl/time.Second))
	return redirect(w, r, "/projects/")
}

// resetTTL is how long a password-reset link works.
const resetTTL = time.Hour

type resetPage struct {
	layout
	Sent  bool
	Error string
	// Token is set on the page that picks the new password.
	Token   string
	Expired bool
}

// handleResetForm serves GET /accounts/reset/: ask for a reset link by
// email, when a mail server is configured.
func (u *UI) handleResetForm(w http.ResponseWriter, r *http.Request) error {
	if !u.password {
		return errNotFound // no password login: nothing to reset
	}
	return u.render(w, "reset", &resetPage{layout: u.layout(r, "Reset password"), Sent: r.URL.Query().Has("sent")})
}

// handleResetRequest serves POST /accounts/reset/ with name= (a user name
// or alert address). The answer is the same whether or not such a user
// exists; the email goes out in the background. Each request counts as a
// failed login from its address, so the form cannot be used to flood a
// mailbox.
func (u *UI) handleResetRequest(w http.ResponseWriter, r *http.Request) error {
	page := &resetPage{layout: u.layout(r, "Reset password")}
	if !u.password {
		return errNotFound
	}
	if u.sendMail == nil {
		page.Error = "No mail server is configured: ask an admin to set your password."
		return u.renderStatus(w, http.StatusConflict, "reset", page)
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	ip := u.clientIP(r)
	if wait := u.limits.wait(ip, name, u.now()); wait > 0 {
		page.Error = "Too many attempts. Wait a few minutes and try again."
		return u.tooMany(w, wait, "reset", page)
	}
	u.limits.failed(ip, name, u.now())
	if user, addr := u.resetAddress(name); addr != "" {
		tok, err := u.db.CreatePasswordReset(user, resetTTL)
		if err != nil {
			return err
		}
		link := u.base + "/accounts/reset/" + tok + "/"
		body := "Someone (we hope you) asked to reset the password of " + user + " on tinysink at " + u.base + ".\n\n" +
			"Open this link within an hour to choose a new password:\n\n" + link + "\n\n" +
			"If it was not you, ignore this email: your password stays as it is.\n"
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := u.sendMail(ctx, addr, "Reset your tinysink password", body); err != nil {
				u.log.Warn("password reset email failed", "user", user, "err", err)
			}
		}()
	}
	return redirect(w, r, "/accounts/reset/?sent")
}

// resetAddress finds the active user called name, or whose alert address
// is name, and the address its reset email goes to ("" for none).
func (u *UI) resetAddress(name string) (user, addr string) {
	if name == "" {
		return "", ""
	}
	users, err := u.db.Users()
	if err != nil {
		return "", ""
	}
	for _, usr := range users {
		if !usr.Active {
			continue
		}
		a, _ := u.db.AlertAddress(usr.Name)
		if a == "" && validAddress(usr.Name) {
			a = usr.Name
		}
		if a != "" && (usr.Name == name || strings.EqualFold(a, name)) {
			return usr.Name, a
		}
	}
	return "", ""
}

// handleResetPasswordForm serves GET /accounts/reset/{token}/.
func (u *UI) handleResetPasswordForm(w http.ResponseWriter, r *http.Request) error {
	page := &resetPage{layout: u.layout(r, "Choose a new password"), Token: r.PathValue("token")}
	if _, err := u.db.PasswordResetUser(page.Token); errors.Is(err, store.ErrNotFound) {
		page.Expired = true
		return u.renderStatus(w, http.StatusNotFound, "reset", page)
	} else if err != nil {
		return err
	}
	return u.render(w, "reset", page)
}

// handleResetPassword serves POST /accounts/reset/{token}/ with password=
// and password2=; it sets the password, ends the user's sessions and
// logs the user in.
func (u *UI) handleResetPassword(w http.ResponseWriter, r *http.Request) error {
	page := &resetPage{layout: u.layout(r, "Choose a new password"), Token: r.PathValue("token")}
	pw, pw2 := r.PostFormValue("password"), r.PostFormValue("password2")
	switch {
	case pw != pw2:
		page.Error = "The passwords differ."
	case len(pw) < store.MinPasswordLen:
		page.Error = "A password has at least 8 characters."
	}
	if page.Error != "" {
		return u.renderStatus(w, http.StatusBadRequest, "reset", page)
	}
	name, err := u.db.ResetPassword(page.Token, pw)
	if errors.Is(err, store.ErrNotFound) {
		page.Expired = true
		return u.renderStatus(w, http.StatusNotFound, "reset", page)
	} else if err != nil {
		return err
	}
	tok, err := u.db.CreateSession(name, u.ttl)
	if err != nil {
		return err
	}
	u.setSessionCookie(w, tok, int(u.ttl/time.Second))
	return redirect(w, r, "/projects/")
}
