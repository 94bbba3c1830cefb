package ui

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/tinysink/tinysink/store"
)

// maxUploadFilesShown bounds the files listed per bundle on the uploads
// page.
const maxUploadFilesShown = 50

type uploadsPage struct {
	layout
	Project store.Project
	Bundles []uploadBundle
	Now     time.Time
	Deleted bool
}

type uploadBundle struct {
	store.ArtifactBundle
	Files     []store.ArtifactFile // the first maxUploadFilesShown
	FileCount int64
}

// handleProjectUploads serves GET /projects/{pid}/uploads/: the artifact
// bundles (source maps, minified files) uploaded with sentry-cli, with
// their debug ids, files, sizes and last use.
func (u *UI) handleProjectUploads(w http.ResponseWriter, r *http.Request) error {
	p, err := u.project(r)
	if err != nil {
		return err
	}
	bundles, err := u.db.ArtifactBundles(p.ID)
	if err != nil {
		return err
	}
	page := &uploadsPage{layout: u.layout(r, p.Name+" uploads"), Project: *p, Now: u.now(), Deleted: r.URL.Query().Has("deleted")}
	for _, b := range bundles {
		files, err := u.db.ArtifactFiles(p.ID, b.Checksum)
		if err != nil {
			return err
		}
		ub := uploadBundle{ArtifactBundle: b, FileCount: int64(len(files))}
		if len(files) > maxUploadFilesShown {
			files = files[:maxUploadFilesShown]
		}
		ub.Files = files
		page.Bundles = append(page.Bundles, ub)
	}
	return u.render(w, "project_uploads", page)
}

// handleProjectUploadDelete serves POST /projects/{pid}/uploads/{bundle}/delete/.
func (u *UI) handleProjectUploadDelete(w http.ResponseWriter, r *http.Request) error {
	p, err := u.project(r)
	if err != nil {
		return err
	}
	err = u.db.DeleteArtifactBundle(p.ID, r.PathValue("bundle"))
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/projects/"+strconv.Itoa(p.ID)+"/uploads/?deleted", http.StatusSeeOther)
	return nil
}
