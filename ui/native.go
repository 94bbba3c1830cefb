package ui

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tinysink/tinysink/digest/minidump"
	"github.com/tinysink/tinysink/digest/minidump/sym"
	"github.com/tinysink/tinysink/digest/minidump/symstore"
	"github.com/tinysink/tinysink/store"
	"github.com/tinysink/tinysink/store/attach"
)

// Native is what the attachment, symbol and reprocess routes need. Every
// route of minidumps and attachments is in the route table (SetNative).
type Native struct {
	Attachments *attach.Store
	Symbols     *symstore.Store
	// Respool hands an event payload to the digest again (the spool), under
	// a new event id.
	Respool func(project int, eventID string, payload []byte) error
	// OriginalName is the file beside an event's attachments holding the
	// event as first spooled (digest.OriginalName).
	OriginalName string
}

// maxSymbolUpload bounds one .sym upload through the API.
const maxSymbolUpload = 512 << 20

// SetNative turns on the attachment, symbol and reprocess routes of the
// route table (apiroutes.go); call it before Register. n without
// attachments leaves them off.
func (a *API) SetNative(n *Native) {
	if n != nil && n.Attachments != nil {
		a.native = n
	}
}

type apiAttachment struct {
	ID          int    `json:"id"`
	Name        string `json:"name"`
	ContentType string `json:"content_type,omitempty"`
	Type        string `json:"attachment_type"`
	Size        int64  `json:"size"`
	Download    string `json:"download"`
}

func (a *API) handleAttachmentList(w http.ResponseWriter, r *http.Request) error {
	ev, _, err := a.event(r)
	if err != nil {
		return err
	}
	items, err := a.native.Attachments.List(ev.ProjectID, ev.ID)
	if err != nil {
		return err
	}
	out := make([]apiAttachment, 0, len(items))
	for _, it := range items {
		out = append(out, apiAttachment{
			ID: it.N, Name: it.Name, ContentType: it.ContentType, Type: it.Type, Size: it.Size,
			Download: fmt.Sprintf("%s%s/events/%s/attachments/%d/?project=%d", a.baseURL, apiPrefix, ev.ID, it.N, ev.ProjectID),
		})
	}
	writeJSON(w, http.StatusOK, page{Results: out})
	return nil
}

func (a *API) handleAttachmentGet(w http.ResponseWriter, r *http.Request) error {
	ev, _, err := a.event(r)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil {
		return errBadInput("the attachment number must be an integer")
	}
	serveAttachment(w, r, a.native.Attachments, ev.ProjectID, ev.ID, n)
	return nil
}

// serveAttachment writes an attachment's bytes as a download.
func serveAttachment(w http.ResponseWriter, r *http.Request, st *attach.Store, project int, eventID string, n int) {
	f, it, err := st.Open(project, eventID, n)
	if err != nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"detail": "Not found."})
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": it.Name}))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	fi, err := f.Stat()
	if err != nil {
		return
	}
	http.ServeContent(w, r, "", fi.ModTime(), f)
}

// handleReprocess processes an event's minidump again (after its symbols
// were uploaded): the event as first received is spooled again under a
// new id, with the same attachments, and digested with the symbols there
// are now. The old event stays until retention removes it.
func (a *API) handleReprocess(w http.ResponseWriter, r *http.Request) error {
	ev, _, err := a.event(r)
	if err != nil {
		return err
	}
	if a.native.Respool == nil {
		return errors.New("reprocessing is not wired")
	}
	dir := filepath.Dir(a.native.Attachments.Path(ev.ProjectID, ev.ID, 0))
	payload, err := os.ReadFile(filepath.Join(dir, a.native.OriginalName))
	if err != nil {
		return errBadInput("event %s has no minidump to process again", ev.ID)
	}
	var b [16]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	if err := a.native.Attachments.Clone(ev.ProjectID, ev.ID, id); err != nil {
		return err
	}
	if err := a.native.Respool(ev.ProjectID, id, payload); err != nil {
		a.native.Attachments.Delete(ev.ProjectID, id)
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{
		"event_id":         id,
		"reprocessed_from": ev.ID,
		"project":          ev.ProjectID,
		"detail":           "The minidump is queued for processing; the new event appears once the digest has taken it.",
	})
	return nil
}

func (a *API) handleSymbolList(w http.ResponseWriter, r *http.Request) error {
	list, err := a.native.Symbols.List()
	if err != nil {
		return err
	}
	if list == nil {
		list = []symstore.Info{}
	}
	writeJSON(w, http.StatusOK, page{Results: list})
	return nil
}

func (a *API) handleSymbolUpload(w http.ResponseWriter, r *http.Request) error {
	body := http.MaxBytesReader(w, r.Body, maxSymbolUpload)
	info, err := a.native.Symbols.Add(body)
	var me *http.MaxBytesError
	switch {
	case errors.As(err, &me):
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"detail": fmt.Sprintf("A symbol file may take %d bytes", maxSymbolUpload)})
		return nil
	case err != nil && (errors.Is(err, symstore.ErrBadID) || isSymErr(err)):
		return errBadInput("%v", err)
	case err != nil:
		return err
	}
	writeJSON(w, http.StatusCreated, info)
	return nil
}

func isSymErr(err error) bool {
	return err != nil && (errors.Is(err, io.ErrUnexpectedEOF) || len(err.Error()) > 4 && err.Error()[:4] == "sym:")
}

func (a *API) handleSymbolDelete(w http.ResponseWriter, r *http.Request) error {
	if err := a.native.Symbols.Delete(r.PathValue("debug_id")); err != nil {
		if errors.Is(err, symstore.ErrBadID) {
			return errBadInput("%v", err)
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// difRequest is one file of a difs/assemble request.
type difRequest struct {
	Name    string   `json:"name"`
	DebugID string   `json:"debug_id"`
	Chunks  []string `json:"chunks"`
}

// maxDifFiles bounds one difs/assemble request.
const maxDifFiles = 256

// handleDifsAssemble serves POST /api/0/projects/{org}/{project}/files/difs/assemble/
// (sentry-cli debug-files upload): for each file, by its SHA1, the chunks
// still missing ("not_found"), or the file assembled from its chunks and
// stored ("ok"). Only Breakpad .sym files are taken; other debug files get
// "error" with the reason. Symbols are installation-wide (keyed by debug
// id), so the project only has to exist, and the route (Global in the
// route table) needs a token for all projects.
func (a *API) handleDifsAssemble(w http.ResponseWriter, r *http.Request) error {
	if _, err := a.cliProject(r.PathValue("project")); err != nil {
		return err
	}
	var req map[string]difRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 4<<20)).Decode(&req); err != nil {
		return errBadInput("difs/assemble: the body is not a JSON object of files: %v", err)
	}
	if len(req) > maxDifFiles {
		return errBadInput("difs/assemble: at most %d files per request", maxDifFiles)
	}
	out := make(map[string]any, len(req))
	for sum, f := range req {
		out[sum] = a.assembleDif(sum, f)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) assembleDif(sum string, f difRequest) map[string]any {
	fail := func(format string, args ...any) map[string]any {
		return map[string]any{"state": "error", "missingChunks": []string{}, "detail": fmt.Sprintf(format, args...)}
	}
	missing, err := a.db.MissingChunks(f.Chunks)
	if err != nil {
		return fail("%v", err)
	}
	if len(missing) > 0 {
		return map[string]any{"state": "not_found", "missingChunks": missing}
	}
	file, _, err := a.db.AssembleChunks(sum, f.Chunks)
	if err != nil {
		return fail("%v", err)
	}
	defer file.Close()
	info, err := a.native.Symbols.Add(file)
	if err != nil {
		if errors.Is(err, sym.ErrNotSym) {
			return fail("%s: only Breakpad .sym files are taken (sentry-cli debug-files upload --type breakpad)", f.Name)
		}
		return fail("%s: %v", f.Name, err)
	}
	dashed := minidump.DashedID(info.DebugID)
	return map[string]any{
		"state":         "ok",
		"missingChunks": []string{},
		"dif": map[string]any{
			"id": info.DebugID, "uuid": dashed, "debugId": dashed, "objectName": info.Name,
			"cpuName": info.Arch, "sha1": sum, "symbolType": "breakpad", "size": info.Size,
			"dateCreated": info.Added, "headers": map[string]string{},
			"data": map[string]any{"features": []string{"symtab", "debug", "unwind"}},
		},
	}
}

// cliProject finds a project by slug or numeric id.
func (a *API) cliProject(ref string) (*store.Project, error) {
	if id, err := strconv.Atoi(ref); err == nil {
		if p, err := a.db.Project(id); err == nil {
			return p, nil
		}
	}
	p, err := a.db.ProjectBySlug(ref)
	if err != nil {
		return nil, &userError{http.StatusNotFound, fmt.Sprintf("project %q not found", ref)}
	}
	return p, nil
}

// nativeNote is what the issue page says about a minidump event.
type nativeNote struct {
	Missing   []string // "debug_file DEBUGID" of modules without symbols
	Arrived   []string // those of them uploaded since
	Notes     []string // what the reader could not read
	Reprocess string   // the API call that processes the dump again
}

// nativeNoteOf reads extra.minidump of an event body; nil when the event
// has no minidump.
func nativeNoteOf(body []byte, base string, ev *store.Event, syms *symstore.Store) *nativeNote {
	var v struct {
		Extra struct {
			Minidump *struct {
				Missing []string `json:"missing_symbols"`
				Notes   []string `json:"notes"`
			} `json:"minidump"`
		} `json:"extra"`
	}
	if json.Unmarshal(body, &v) != nil || v.Extra.Minidump == nil {
		return nil
	}
	m := v.Extra.Minidump
	n := &nativeNote{
		Notes:     m.Notes,
		Reprocess: fmt.Sprintf("curl -X POST -H 'Authorization: Bearer <token>' %s%s/events/%s/reprocess/?project=%d", base, apiPrefix, ev.ID, ev.ProjectID),
	}
	for _, mod := range m.Missing {
		_, id, _ := strings.Cut(mod, " ")
		if syms != nil && syms.Has(id) {
			n.Arrived = append(n.Arrived, mod)
		} else {
			n.Missing = append(n.Missing, mod)
		}
	}
	return n
}

// handleEventAttachment serves GET /issues/{id}/event/{ev}/attachments/{n}/.
func (u *UI) handleEventAttachment(w http.ResponseWriter, r *http.Request) error {
	if u.attach == nil {
		return errNotFound
	}
	_, ev, _, err := u.eventBody(r)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil {
		return errNotFound
	}
	f, it, err := u.attach.Open(ev.ProjectID, ev.ID, n)
	if err != nil {
		return errNotFound
	}
	defer f.Close()
	dataHeaders(w, "application/octet-stream", mime.FormatMediaType("attachment", map[string]string{"filename": it.Name}))
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	http.ServeContent(w, r, "", fi.ModTime(), f)
	return nil
}
