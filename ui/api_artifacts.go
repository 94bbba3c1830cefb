package ui

import (
	"errors"
	"net/http"

	"github.com/tinysink/tinysink/store"
)

// handleArtifactAssemble serves POST
// /api/0/organizations/{org}/artifactbundle/assemble/ (`sentry-cli
// sourcemaps upload`): {"checksum", "chunks", "projects", "version"?,
// "dist"?}. Missing chunks are answered first (sentry-cli then uploads
// only those and asks again); once all are there the bundle is assembled
// and unpacked before the reply, so "ok" means the maps are in use.
func (a *API) handleArtifactAssemble(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Checksum string         `json:"checksum"`
		Chunks   []string       `json:"chunks"`
		Projects cliProjectRefs `json:"projects"`
		Version  string         `json:"version"`
		Dist     string         `json:"dist"`
	}
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	if !store.IsSHA1(in.Checksum) {
		return errBadInput("checksum must be the SHA1 of the bundle (40 hex digits)")
	}
	ps, err := a.cliProjects(r, in.Projects)
	if ue := (*userError)(nil); errors.As(err, &ue) && ue.status == http.StatusForbidden {
		return err // a project the token may not touch
	}
	if err != nil {
		return errBadInput("projects must name existing tinysink projects by slug or id: %v", err)
	}
	pids := make([]int, len(ps))
	for i, p := range ps {
		pids[i] = p.ID
	}
	missing, err := a.db.MissingChunks(in.Chunks)
	if err != nil {
		return chunkErr(err)
	}
	if len(missing) > 0 {
		writeJSON(w, http.StatusOK, map[string]any{"state": "not_found", "missingChunks": missing})
		return nil
	}
	if a.db.HasArtifactBundle(pids, in.Checksum) {
		writeJSON(w, http.StatusOK, map[string]any{"state": "ok", "missingChunks": []string{}})
		return nil
	}
	if len(in.Chunks) == 0 {
		return errBadInput("chunks is required")
	}
	f, size, err := a.db.AssembleChunks(in.Checksum, in.Chunks)
	if err != nil {
		return chunkErr(err)
	}
	defer f.Close()
	b, err := a.db.AddArtifactBundle(pids, in.Checksum, f, size, in.Version, in.Dist)
	if errors.Is(err, store.ErrBadBundle) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"state": "error", "detail": err.Error(), "missingChunks": []string{}})
		return nil
	}
	if err != nil {
		return err
	}
	a.log.Info("artifact bundle stored", "checksum", in.Checksum, "files", b.Files, "skipped", b.Skipped, "projects", pids)
	writeJSON(w, http.StatusOK, map[string]any{"state": "ok", "missingChunks": []string{}})
	return nil
}
