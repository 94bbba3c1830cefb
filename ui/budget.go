package ui

import (
	"encoding/json"
	"net/http"

	"github.com/tinysink/tinysink/budget"
)

type budgetPage struct {
	layout
	Snap budget.Snapshot
	// Status is Config.Status's value as indented JSON, "" without one.
	Status string
}

// handleBudget serves GET /debug/budget/ (admins only): the process's
// memory against its limit, the optional parts loaded so far with what
// each cost, and whatever Config.Status adds. (GET /debug/budget, without
// the slash, is the same reading as JSON for API tokens.)
func (u *UI) handleBudget(w http.ResponseWriter, r *http.Request) error {
	page := &budgetPage{layout: u.layout(r, "Memory budget"), Snap: budget.Read(false)}
	page.TopNav = "budget"
	if u.status != nil {
		b, err := json.MarshalIndent(u.status(), "", "  ")
		if err != nil {
			return err
		}
		page.Status = string(b)
	}
	return u.render(w, "budget", page)
}
