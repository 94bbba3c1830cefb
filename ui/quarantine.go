package ui

import (
	"io"
	"net/http"
	"strconv"

	"github.com/tinysink/tinysink/store"
)

// The quarantine: events digest could not store, set aside with their
// payload as ingested (store/quarantine.go). Admins list them, download
// the payload to reproduce the failure, and delete them.

// quarantinePageSize is how many entries the page shows at a time.
const quarantinePageSize = 50

type quarantineRow struct {
	store.QuarantineEntry
	ProjectName string
}

type quarantinePage struct {
	layout
	Entries []quarantineRow
	// Prev and Next are the offsets of the neighbouring pages, -1 for none.
	Prev, Next int
	Deleted    bool
}

// handleQuarantineList serves GET /quarantine/[?offset=N] (admins only).
func (u *UI) handleQuarantineList(w http.ResponseWriter, r *http.Request) error {
	offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
	offset = max(offset, 0)
	es, more, err := u.db.Quarantined(offset, quarantinePageSize)
	if err != nil {
		return err
	}
	page := &quarantinePage{layout: u.layout(r, "Quarantine"), Prev: -1, Next: -1, Deleted: r.URL.Query().Has("deleted")}
	page.TopNav = "quarantine"
	if offset > 0 {
		page.Prev = max(0, offset-quarantinePageSize)
	}
	if more {
		page.Next = offset + quarantinePageSize
	}
	names := map[int]string{}
	for _, e := range es {
		name, ok := names[e.Project]
		if !ok {
			if p, err := u.db.Project(e.Project); err == nil {
				name = p.Name
			}
			names[e.Project] = name
		}
		page.Entries = append(page.Entries, quarantineRow{QuarantineEntry: e, ProjectName: name})
	}
	return u.render(w, "quarantine", page)
}

// handleQuarantineRaw serves GET /quarantine/{id}/raw (admins only).
func (u *UI) handleQuarantineRaw(w http.ResponseWriter, r *http.Request) error {
	return serveQuarantineRaw(w, u.db, r.PathValue("id"))
}

// handleQuarantineDelete serves POST /quarantine/{id}/delete/ (admins
// only).
func (u *UI) handleQuarantineDelete(w http.ResponseWriter, r *http.Request) error {
	if err := u.db.QuarantineDelete(r.PathValue("id")); err != nil {
		return err
	}
	return redirect(w, r, "/quarantine/?deleted")
}

// serveQuarantineRaw writes the payload of entry id as a download.
func serveQuarantineRaw(w http.ResponseWriter, db *store.DB, id string) error {
	f, size, err := db.QuarantinedRaw(id)
	if err != nil {
		return err
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+id+`.raw"`)
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, err = io.Copy(w, f)
	return err
}

// handleQuarantineList serves GET /quarantine/[?cursor=N]: the quarantined
// events, newest first, pageSize at a time.
func (a *API) handleQuarantineList(w http.ResponseWriter, r *http.Request) error {
	offset, err := parseCursor(r.URL.Query().Get("cursor"))
	if err != nil {
		return err
	}
	es, more, err := a.db.Quarantined(int(offset), pageSize)
	if err != nil {
		return err
	}
	res := page{Results: es}
	if more {
		res.Next = a.pageURL(r, strconv.Itoa(int(offset)+pageSize))
	}
	if offset > 0 {
		res.Previous = a.pageURL(r, strconv.Itoa(max(0, int(offset)-pageSize)))
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// handleQuarantineRaw serves GET /quarantine/{id}/raw: the payload as
// ingested.
func (a *API) handleQuarantineRaw(w http.ResponseWriter, r *http.Request) error {
	return serveQuarantineRaw(w, a.db, r.PathValue("id"))
}

// handleQuarantineDelete serves DELETE /quarantine/{id}/.
func (a *API) handleQuarantineDelete(w http.ResponseWriter, r *http.Request) error {
	if err := a.db.QuarantineDelete(r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
