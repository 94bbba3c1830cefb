package ui

import (
	"net/http"
	"net/mail"
	"strings"
)

// The account page: where one's alert emails go and for which projects.

type emailAlertRow struct {
	ID   int
	Name string
	On   bool
}

type accountPage struct {
	layout
	Address  string
	Projects []emailAlertRow
	Saved    bool
	Error    string
	// NameIsAddress says whether the user's name is an email address,
	// which alert emails go to when no other address is set.
	NameIsAddress bool
}

// validAddress accepts a bare email address (no display name), as
// store.SetAlertAddress does.
func validAddress(s string) bool {
	if len(s) > 254 || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && a.Name == ""
}

func (u *UI) accountPage(r *http.Request) (*accountPage, error) {
	usr := currentUser(r)
	page := &accountPage{layout: u.layout(r, "Your account"), Saved: r.URL.Query().Has("saved")}
	page.TopNav = "account"
	page.NameIsAddress = validAddress(usr.Name)
	var err error
	if page.Address, err = u.db.AlertAddress(usr.Name); err != nil {
		return nil, err
	}
	ps, err := u.db.Projects()
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		if !usr.CanSee(p.ID) {
			continue
		}
		on, err := u.db.EmailAlerts(usr.Name, p.ID)
		if err != nil {
			return nil, err
		}
		page.Projects = append(page.Projects, emailAlertRow{ID: p.ID, Name: p.Name, On: on})
	}
	return page, nil
}

// handleAccount serves GET /accounts/: the user's alert address and email
// alerts per project, and a link to change the password.
func (u *UI) handleAccount(w http.ResponseWriter, r *http.Request) error {
	page, err := u.accountPage(r)
	if err != nil {
		return err
	}
	return u.render(w, "account", page)
}

// handleAccountAlerts serves POST /accounts/alerts/ with address= and a
// project= for each project whose alert emails the user wants; the
// projects the user sees and did not check are turned off.
func (u *UI) handleAccountAlerts(w http.ResponseWriter, r *http.Request) error {
	usr := currentUser(r)
	if err := r.ParseForm(); err != nil {
		return errBadInput("Bad form.")
	}
	addr := strings.TrimSpace(r.PostForm.Get("address"))
	if addr != "" && !validAddress(addr) {
		page, err := u.accountPage(r)
		if err != nil {
			return err
		}
		page.Address = clean(addr, 254, false)
		page.Error = "Not saved: that is not an email address (write it as name@example.org)."
		return u.renderStatus(w, http.StatusBadRequest, "account", page)
	}
	if err := u.db.SetAlertAddress(usr.Name, addr); err != nil {
		return err
	}
	want := map[int]bool{}
	for _, id := range formInts(r.PostForm["project"]) {
		want[id] = true
	}
	ps, err := u.db.Projects()
	if err != nil {
		return err
	}
	for _, p := range ps {
		if !usr.CanSee(p.ID) {
			continue
		}
		on, err := u.db.EmailAlerts(usr.Name, p.ID)
		if err != nil {
			return err
		}
		if on != want[p.ID] {
			if err := u.db.SetEmailAlerts(usr.Name, p.ID, want[p.ID]); err != nil {
				return err
			}
		}
	}
	return redirect(w, r, "/accounts/?saved")
}
