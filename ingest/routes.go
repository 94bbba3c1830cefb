package ingest

import (
	"context"
	"net/http"
	"runtime/debug"
)

// Register mounts the ingest endpoints on mux:
//
//	POST    /api/{project_id}/store/     a single event (JSON body)
//	POST    /api/{project_id}/envelope/  a Sentry envelope
//	POST    /api/{project_id}/minidump/  a minidump (multipart form), see handleMinidump
//	OPTIONS on store and envelope        CORS preflight
//	POST    /api/{project_id}/security/  CSP reports (security.go)
//	OPTIONS on these                     CORS preflight
//
// Other methods on these paths get 405.
func (h *Handler) Register(mux *http.ServeMux) {
	const store, envelope = "/api/{project_id}/store/{$}", "/api/{project_id}/envelope/{$}"
	mux.Handle("POST "+store, h.endpoint(h.handleStore))
	mux.Handle("POST "+envelope, h.endpoint(h.handleEnvelope))
	mux.Handle("OPTIONS "+store, h.endpoint(h.handlePreflight))
	mux.Handle("OPTIONS "+envelope, h.endpoint(h.handlePreflight))
	mux.Handle(store, h.endpoint(h.handleMethodNotAllowed))
	mux.Handle(envelope, h.endpoint(h.handleMethodNotAllowed))
	const minidump = "/api/{project_id}/minidump/{$}"
	mux.Handle("POST "+minidump, h.endpoint(h.handleMinidump))
	mux.Handle(minidump, h.endpoint(h.handleMethodNotAllowed))
	const security = "/api/{project_id}/security/{$}"
	mux.Handle("POST "+security, h.endpoint(h.handleSecurity))
	mux.Handle("OPTIONS "+security, h.endpoint(h.handlePreflight))
	mux.Handle(security, h.endpoint(h.handleMethodNotAllowed))
}

// handlerFunc is an endpoint that returns its failure instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// endpoint wraps fn with the middleware every ingest response goes through.
func (h *Handler) endpoint(fn handlerFunc) http.Handler {
	return h.recoverPanic(h.guardBody(withCORS(h.wrap(fn))))
}

// wrap adapts fn to http.Handler: a returned error is written by writeError.
// A request that was admitted but spooled no event gives its admission back
// (Config.OnRelease).
func (h *Handler) wrap(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.onRelease != nil {
			adm := admissionOf(r) // guardBody's, for a request with a body
			if adm == nil {
				adm = new(admission)
				r = r.WithContext(context.WithValue(r.Context(), admissionKey{}, adm))
			}
			defer func() {
				if adm.held && !adm.accepted {
					h.onRelease(adm.project)
				}
			}()
		}
		if err := fn(w, r); err != nil {
			h.writeError(w, r, err)
		}
	})
}

// admission is what one request was admitted for; wrap puts it in the
// request's context.
type admission struct {
	project  int
	held     bool // Admit admitted the request
	accepted bool // its event is in the spool
}

type admissionKey struct{}

// admissionOf returns r's admission record, or nil.
func admissionOf(r *http.Request) *admission {
	a, _ := r.Context().Value(admissionKey{}).(*admission)
	return a
}

// recoverPanic turns a panic in next into a 500 JSON reply. Ingest code is
// written not to panic; this is the net under it.
func (h *Handler) recoverPanic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.log.Error("ingest handler panicked", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			writeJSON(w, http.StatusInternalServerError, messageBody{"Internal error"})
		}()
		next.ServeHTTP(w, r)
	})
}

// corsAllowHeaders are the request headers browser SDKs may send.
const corsAllowHeaders = "Content-Type, X-Sentry-Auth, X-Requested-With, Origin, Accept, " +
	"Authentication, Authorization, Content-Encoding, sentry-trace, baggage, X-CSRFToken"

// withCORS adds the CORS headers browser SDKs need to every response to a
// request from a browser (one with an Origin header, which browsers send
// with every cross-origin request and preflight): events are posted
// cross-site by design and authenticated by the DSN key. The other SDKs
// get none: net/http copies a reply's headers once more when it writes
// them, and three headers were half of every accepted event's.
func withCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.Header["Origin"]) > 0 {
			hdr := w.Header()
			hdr["Access-Control-Allow-Origin"] = corsOrigin
			hdr["Access-Control-Allow-Methods"] = corsMethods
			hdr["Access-Control-Allow-Headers"] = corsHeaders
		}
		next.ServeHTTP(w, r)
	})
}

// The CORS headers' values, shared by every reply (net/http only reads
// them).
var (
	corsOrigin  = []string{"*"}
	corsMethods = []string{"POST, OPTIONS"}
	corsHeaders = []string{corsAllowHeaders}
)

// handlePreflight answers a CORS preflight request.
func (h *Handler) handlePreflight(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Access-Control-Max-Age", "3600")
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}

// handleMethodNotAllowed answers any method other than POST and OPTIONS.
func (h *Handler) handleMethodNotAllowed(w http.ResponseWriter, r *http.Request) error {
	return errMethod
}
