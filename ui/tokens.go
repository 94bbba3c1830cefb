package ui

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/tinysink/tinysink/store"
)

// The API tokens page (admins only: a token reaches past any one user's
// projects). A token's secret is shown once, when it is made; the store
// keeps only its hash.

type tokenRow struct {
	store.Token
	ProjectName string
}

type tokensPage struct {
	layout
	Tokens   []tokenRow
	Projects []store.Project
	Scopes   []store.Scope
	Error    string
	Saved    bool
	// Secret is a new token's secret, shown once.
	Secret string
	Name   string
}

func (u *UI) tokensPage(r *http.Request) (*tokensPage, error) {
	toks, err := u.db.ListTokens()
	if err != nil {
		return nil, err
	}
	ps, err := u.db.Projects()
	if err != nil {
		return nil, err
	}
	names := map[int64]string{}
	for _, p := range ps {
		names[int64(p.ID)] = p.Name
	}
	page := &tokensPage{layout: u.layout(r, "API tokens"), Projects: ps, Scopes: store.Scopes, Saved: r.URL.Query().Has("saved")}
	page.TopNav = "users"
	page.CopyScript = true
	for _, t := range toks {
		page.Tokens = append(page.Tokens, tokenRow{Token: t, ProjectName: names[t.Project]})
	}
	return page, nil
}

// handleTokens serves GET /tokens/.
func (u *UI) handleTokens(w http.ResponseWriter, r *http.Request) error {
	page, err := u.tokensPage(r)
	if err != nil {
		return err
	}
	return u.render(w, "tokens", page)
}

// handleTokenCreate serves POST /tokens/ with name=, scope= (read, write or
// admin; each implies the weaker ones) and project= (0 = all).
func (u *UI) handleTokenCreate(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return errBadInput("Bad form.")
	}
	page, err := u.tokensPage(r)
	if err != nil {
		return err
	}
	name := strings.TrimSpace(r.PostForm.Get("name"))
	page.Name = clean(name, 200, false)
	project, err := strconv.ParseInt(r.PostForm.Get("project"), 10, 64)
	if err != nil && r.PostForm.Get("project") != "" {
		page.Error = "Not made: pick a project or all projects."
		return u.renderStatus(w, http.StatusBadRequest, "tokens", page)
	}
	secret, _, err := u.db.CreateTokenWith(name, []store.Scope{store.Scope(r.PostForm.Get("scope"))}, project)
	if store.IsValidation(err) {
		page.Error = "Not made: the token's " + err.Error()
		return u.renderStatus(w, http.StatusBadRequest, "tokens", page)
	} else if err != nil {
		return err
	}
	if page, err = u.tokensPage(r); err != nil {
		return err
	}
	page.Secret = secret
	return u.render(w, "tokens", page)
}

// handleTokenRevoke serves POST /tokens/{id}/revoke/.
func (u *UI) handleTokenRevoke(w http.ResponseWriter, r *http.Request) error {
	if err := u.db.RevokeToken(r.PathValue("id")); err != nil {
		return err
	}
	return redirect(w, r, "/tokens/?saved")
}
