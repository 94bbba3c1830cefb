package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/tinysink/tinysink/store"
	"github.com/tinysink/tinysink/store/disk"
)

// The API's front door: one table of every token-guarded JSON route
// (tinysink's own /api/canonical/0/, the operator's /debug/budget and
// backup, and the /api/0/ routes sentry-cli calls), one token check, one
// error adapter and one writeJSON. The OpenAPI document (openapi.go) is
// generated from the same table.

// apiHandler is a handler of the API: it writes a reply, or returns an
// error for wrap to write.
type apiHandler func(w http.ResponseWriter, r *http.Request) error

// apiRoute is one row of the route table.
type apiRoute struct {
	Method string
	Path   string      // a net/http pattern path: "/api/canonical/0/issues/{id}/"
	Scope  store.Scope // what the token needs; "" for a route open to all
	// Global routes act on the whole installation (creating projects,
	// backups, quarantine): a token limited to one project may not call
	// them. Other routes check the token's project where they resolve one.
	Global  bool
	Summary string
	h       apiHandler
}

const (
	apiPrefix     = "/api/canonical/0"
	cliPrefix     = "/api/0" // Sentry's web API, as sentry-cli calls it
	alertsAPIPath = apiPrefix + "/projects/{id}/alerts/"
	// MCPPath is the MCP server's endpoint (mcp.go).
	MCPPath = "/mcp"
)

// routes is the route table: every route of the API, in the order the
// OpenAPI document lists them.
func (a *API) routes() []apiRoute {
	const r, w, admin = store.ScopeRead, store.ScopeWrite, store.ScopeAdmin
	rs := []apiRoute{
		{"GET", apiPrefix + "/openapi.json", "", false, "this document", a.handleOpenAPI},

		{"GET", apiPrefix + "/projects/", r, false, "list projects", a.handleProjectList},
		{"POST", apiPrefix + "/projects/", w, true, "create a project {name}", a.handleProjectCreate},
		{"GET", apiPrefix + "/projects/{id}/", r, false, "show a project", a.handleProjectShow},
		{"PATCH", apiPrefix + "/projects/{id}/", w, false, "change a project's settings", a.handleProjectUpdate},

		{"GET", alertsAPIPath + "{$}", r, false, "list the project's alert backends (secrets masked)", a.handleBackendList},
		{"POST", alertsAPIPath + "{$}", w, false, "create an alert backend {kind, name, config}", a.handleBackendCreate},
		{"GET", alertsAPIPath + "{alert_id}/{$}", r, false, "show an alert backend (secrets masked)", a.handleBackendShow},
		{"PATCH", alertsAPIPath + "{alert_id}/{$}", w, false, "change the fields given; a masked secret sent back keeps the stored one", a.handleBackendPatch},
		{"PUT", alertsAPIPath + "{alert_id}/{$}", w, false, "replace kind, name and config", a.handleBackendPut},
		{"DELETE", alertsAPIPath + "{alert_id}/{$}", w, false, "delete an alert backend", a.handleBackendDelete},
		{"POST", alertsAPIPath + "{alert_id}/test/{$}", w, false, "send the test message now", a.handleBackendTest},

		{"GET", apiPrefix + "/issues/", r, false, "list or search a project's issues ?project=ID[&query=&sort=&order=&cursor=]", a.handleIssueList},
		{"GET", apiPrefix + "/issues/{id}/", r, false, "show an issue (id or friendly id)", a.handleIssueShow},
		{"POST", apiPrefix + "/issues/{id}/{action}/", w, false, "resolve, reopen, mute, unmute, or a lifecycle action", a.handleIssueAction},
		{"DELETE", apiPrefix + "/issues/{id}/", w, false, "delete an issue and its events", a.handleIssueDelete},
		{"POST", apiPrefix + "/issue-comments/", w, false, "comment on an issue {issue, comment}", a.handleCommentCreate},

		{"GET", apiPrefix + "/events/", r, false, "list an issue's events ?issue=ID[&order=&cursor=]", a.handleEventList},
		{"GET", apiPrefix + "/events/{id}/", r, false, "show an event with its stored data [?project=ID]", a.handleEventShow},
		{"GET", apiPrefix + "/events/{id}/stacktrace/", r, false, "an event's stack trace as Markdown [?project=ID]", a.handleEventStacktrace},

		{"GET", apiPrefix + "/releases/", r, false, "list a project's releases ?project=ID", a.handleReleaseList},
		{"POST", apiPrefix + "/releases/", w, false, "create a release {project, version, timestamp}", a.handleReleaseCreate},
		{"GET", apiPrefix + "/releases/{project}/{version}/", r, false, "show a release", a.handleReleaseShow},

		{"GET", apiPrefix + "/transactions/", r, false, "a project's transactions by name: count, failure_rate, p50/p95/p99 ms ?project=ID[&days=N]", a.handleTransactionList},
		{"GET", apiPrefix + "/monitors/", r, false, "a project's cron monitors: status, last check-in, next expected ?project=ID", a.handleMonitorList},
		{"GET", apiPrefix + "/issues/{id}/feedback/", r, false, "user feedback on an issue", a.handleIssueFeedback},

		{"GET", apiPrefix + "/quarantine/", r, true, "list quarantined payloads", a.handleQuarantineList},
		{"GET", apiPrefix + "/quarantine/{id}/raw", r, true, "a quarantined payload as received", a.handleQuarantineRaw},
		{"DELETE", apiPrefix + "/quarantine/{id}/", w, true, "delete a quarantined payload", a.handleQuarantineDelete},

		{"POST", store.BackupPath, admin, true, "stream a backup of the data directory (application/zstd)", a.operator(func() http.Handler { return a.Backup })},
		{"GET", apiPrefix + "/forward/", r, true, "forwarding to the upstream: running, lag (items, bytes, seconds), sent, failed, retrying, last error", a.handleForward},
		{"GET", "/debug/budget", r, true, "memory, limit, spool backlog and loaded parts [?gc=1]", a.operator(func() http.Handler { return a.Budget })},

		{"POST", MCPPath, r, false, "MCP server (Model Context Protocol, streamable HTTP): one JSON-RPC 2.0 message per request; write tools need a write token", a.handleMCP},
		{"GET", MCPPath, r, false, "MCP: the server opens no stream of its own (405)", a.handleMCPStream},
		{"DELETE", MCPPath, r, false, "MCP: the server keeps no sessions (405)", a.handleMCPStream},

		{"GET", cliPrefix + "/{$}", r, false, "sentry-cli: check the token", a.handleCLIAuth},
		{"POST", cliPrefix + "/organizations/{org}/releases/{$}", w, false, "sentry-cli releases new", a.handleCLIReleaseNew},
		{"PUT", cliPrefix + "/organizations/{org}/releases/{version}/{$}", w, false, "sentry-cli releases finalize", a.handleCLIReleaseUpdate},
		{"GET", cliPrefix + "/organizations/{org}/releases/{version}/{$}", r, false, "sentry-cli releases info", a.handleCLIReleaseShow},
		{"POST", cliPrefix + "/organizations/{org}/releases/{version}/deploys/{$}", w, false, "sentry-cli deploys new", a.handleCLIDeployNew},
		{"GET", cliPrefix + "/projects/{org}/{project}/releases/{$}", r, false, "sentry-cli releases list", a.handleCLIReleaseList},
		{"GET", cliPrefix + "/organizations/{org}/chunk-upload/{$}", r, false, "sentry-cli: chunk upload options", a.handleChunkOptions},
		{"POST", cliPrefix + "/organizations/{org}/chunk-upload/{$}", w, false, "sentry-cli: upload chunks", a.handleChunkUpload},
		{"POST", cliPrefix + "/organizations/{org}/artifactbundle/assemble/{$}", w, false, "sentry-cli sourcemaps upload: assemble an artifact bundle", a.handleArtifactAssemble},
	}
	if a.native != nil {
		rs = append(rs,
			apiRoute{"GET", apiPrefix + "/events/{id}/attachments/", r, false, "an event's attachments", a.handleAttachmentList},
			apiRoute{"GET", apiPrefix + "/events/{id}/attachments/{n}/", r, false, "one attachment's bytes", a.handleAttachmentGet},
			apiRoute{"POST", apiPrefix + "/events/{id}/reprocess/", w, false, "process the event's minidump again (202)", a.handleReprocess},
		)
		if a.native.Symbols != nil {
			// Symbols are keyed by debug id for the whole installation, so
			// that a file uploaded once serves every project's minidumps:
			// writing or listing them needs a token for all projects, even
			// through difs/assemble, which names a project.
			rs = append(rs,
				apiRoute{"POST", cliPrefix + "/projects/{org}/{project}/files/difs/assemble/{$}", w, true, "sentry-cli debug-files upload: assemble", a.handleDifsAssemble},
				apiRoute{"GET", apiPrefix + "/symbols/", r, true, "uploaded Breakpad symbol files", a.handleSymbolList},
				apiRoute{"POST", apiPrefix + "/symbols/", w, true, "upload a Breakpad .sym file (the body)", a.handleSymbolUpload},
				apiRoute{"DELETE", apiPrefix + "/symbols/{debug_id}/", w, true, "delete a symbol file", a.handleSymbolDelete},
			)
		}
	}
	return rs
}

// Register adds every route of the table to mux.
func (a *API) Register(mux interface{ Handle(string, http.Handler) }) {
	for _, rt := range a.routes() {
		mux.Handle(rt.Method+" "+rt.Path, a.requireToken(rt.Scope, rt.Global, a.wrap(rt.h)))
	}
}

// operator serves an operator's endpoint that main provides (nil: 404).
func (a *API) operator(h func() http.Handler) apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if h() == nil {
			return store.ErrNotFound
		}
		h().ServeHTTP(w, r)
		return nil
	}
}

// Protect returns the token check for scope, with a token for all
// projects, for routes outside the table (the Prometheus /metrics).
func (a *API) Protect(scope store.Scope) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler { return a.requireToken(scope, true, next) }
}

type tokenCtxKey struct{}

// requireToken lets through requests whose "Authorization: Bearer <token>"
// (any case of "Bearer") names a token with scope, and, for global routes,
// a token for all projects. It answers 401 (no or unknown token) or 403
// (too weak) in JSON, with WWW-Authenticate. The token rides in the
// request's context for allowProject. An empty scope lets all through.
func (a *API) requireToken(scope store.Scope, global bool, next http.Handler) http.Handler {
	if scope == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, secret, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		var tok store.Token
		ok := false
		if strings.EqualFold(scheme, "bearer") {
			tok, ok = a.db.LookupToken(strings.TrimSpace(secret))
		}
		switch {
		case !ok:
			w.Header().Set("WWW-Authenticate", `Bearer realm="tinysink"`)
			writeJSON(w, http.StatusUnauthorized, apiError{"Invalid or missing bearer token (create one with `tinysink token create`)."})
		case !tok.Has(scope):
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="tinysink", error="insufficient_scope", scope="%s"`, scope))
			writeJSON(w, http.StatusForbidden, apiError{fmt.Sprintf("This token lacks the %s scope.", scope)})
		case global && tok.Project != 0:
			w.Header().Set("WWW-Authenticate", `Bearer realm="tinysink", error="insufficient_scope"`)
			writeJSON(w, http.StatusForbidden, apiError{fmt.Sprintf("This token is limited to project %d; this route needs a token for all projects.", tok.Project)})
		default:
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tokenCtxKey{}, tok)))
		}
	})
}

// allowProject returns an error (403) when the request's token is limited
// to a project other than pid.
func allowProject(r *http.Request, pid int) error {
	tok, _ := r.Context().Value(tokenCtxKey{}).(store.Token)
	if tok.Project != 0 && tok.Project != int64(pid) {
		return errForbidden(fmt.Sprintf("This token is limited to project %d.", tok.Project))
	}
	return nil
}

// apiError is the body of every error reply.
type apiError struct {
	Detail string `json:"detail"`
}

// wrap is the error adapter: it turns a handler's error into a JSON reply.
// Only errors built on purpose reach the client: 404 for unknown objects,
// a userError's status (400, 403), 400 for input the store refused
// (store.ValidationError), 413 for an oversized body, 507 for a full disk;
// anything else is logged and answered 500 with its text hidden.
func (a *API) wrap(h apiHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := func() (err error) {
			defer func() {
				if v := recover(); v != nil {
					err = fmt.Errorf("panic: %v", v)
				}
			}()
			return h(w, r)
		}()
		if err == nil {
			return
		}
		var ue *userError
		var ve *store.ValidationError
		var mbe *http.MaxBytesError
		switch {
		case errors.Is(err, store.ErrNotFound):
			writeJSON(w, http.StatusNotFound, apiError{"Not found."})
		case errors.As(err, &ue):
			writeJSON(w, ue.status, apiError{ue.msg})
		case errors.As(err, &ve):
			writeJSON(w, http.StatusBadRequest, apiError{ve.Error()})
		case errors.As(err, &mbe):
			writeJSON(w, http.StatusRequestEntityTooLarge, apiError{"Request body too large."})
		case disk.IsFull(err):
			a.log.Warn("api write refused: the disk is full", "path", r.URL.Path, "err", err)
			writeJSON(w, http.StatusInsufficientStorage, apiError{errDiskFullMsg})
		default:
			a.log.Error("api request failed", "path", r.URL.Path, "err", err)
			writeJSON(w, http.StatusInternalServerError, apiError{"Internal error."})
		}
	})
}

// writeJSON writes v as the JSON reply with status, encoded as
// marshalReply does; a value that cannot be encoded gets a clean 500.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	b, err := marshalReply(v)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"detail":"Internal error."}`+"\n")
		return
	}
	w.WriteHeader(status)
	w.Write(b)
}

// marshalReply encodes v as JSON with a trailing newline.
//
// encoding/json builds each value whole in a buffer that goes back to a
// package pool however big it grew: one page of 100 events encoded in one
// call left a buffer the size of the whole reply on the heap after it was
// sent. So a list (a slice, or a page's results) is encoded one element at
// a time, and that pooled buffer grows only to the largest element. The
// reply is assembled in a buffer of its own, garbage once it is written.
func marshalReply(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := appendJSON(&buf, json.NewEncoder(&buf), v); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// appendJSON appends v's JSON to buf through enc, an Encoder writing to
// buf, a list one element at a time. The bytes are those of
// json.Marshal(v).
func appendJSON(buf *bytes.Buffer, enc *json.Encoder, v any) error {
	switch p := v.(type) {
	case page:
		return p.appendJSON(buf, enc)
	case *page:
		return p.appendJSON(buf, enc)
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice || rv.IsNil() || rv.Type().Elem().Kind() == reflect.Uint8 {
		return encode(buf, enc, v)
	}
	buf.WriteByte('[')
	for i := range rv.Len() {
		if i > 0 {
			buf.WriteByte(',')
		}
		// An element of a slice is addressable, so encoding/json would use
		// its pointer methods: give it the pointer.
		start := buf.Len()
		if err := encode(buf, enc, rv.Index(i).Addr().Interface()); err != nil {
			return err
		}
		if i == 0 {
			buf.Grow((buf.Len() - start + 1) * (rv.Len() - 1)) // the others, about as long
		}
	}
	buf.WriteByte(']')
	return nil
}

// encode appends v's JSON to buf through enc, without the newline the
// Encoder ends it with.
func encode(buf *bytes.Buffer, enc *json.Encoder, v any) error {
	if err := enc.Encode(v); err != nil {
		return err
	}
	buf.Truncate(buf.Len() - 1)
	return nil
}
