package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tinysink/tinysink/store/disk"
)

// kind classifies an ingestError; writeError maps each kind to one status.
type kind int

const (
	malformed    kind = iota + 1 // 400: the request cannot be understood
	unauthorized                 // 403: no key, wrong key, unknown project
	notFound                     // 404: the path's project id is not a project id
	badMethod                    // 405
	tooLarge                     // 413: a size limit was exceeded
	refused                      // 429: not admitted
	unavailable                  // 503: the event could not be stored
	slow                         // 408: the body arrived too slowly
)

// ingestError is an error whose msg may be shown to the client. err, if
// set, is the underlying cause: logged for 5xx, never sent.
type ingestError struct {
	kind       kind
	msg        string
	err        error
	retryAfter time.Duration // refused only
	reason     error         // refused only: a sentinel, its text the reason code
	project    int           // refused only
	limits     string        // refused only: X-Sentry-Rate-Limits, when not the reason's own
}

func (e *ingestError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *ingestError) Unwrap() error { return e.err }

func malformedf(format string, args ...any) error {
	return &ingestError{kind: malformed, msg: fmt.Sprintf(format, args...)}
}

func tooLargeErr(l limit) error {
	return &ingestError{kind: tooLarge, msg: fmt.Sprintf("Max length (%s: %d) exceeded", l.name, l.n)}
}

var (
	errNoKey     = &ingestError{kind: unauthorized, msg: "Unable to find authentication information"}
	errNoProject = &ingestError{kind: notFound, msg: "Unknown project: the project id must be a positive integer"}
	errMethod    = &ingestError{kind: badMethod, msg: "Method not allowed: use POST"}
	// errDiskFull refuses an event that the spool could not write for
	// want of space (the admission check lets a few through before it
	// notices).
	errDiskFull = &ingestError{kind: refused, msg: "Event refused (" + disk.ErrFull.Error() + "); retry after 60s", retryAfter: time.Minute, reason: disk.ErrFull}
)

// writeError answers a request that failed with err. This is the one place
// where errors become statuses (and counters).
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *ingestError
	if !errors.As(err, &e) {
		e = &ingestError{msg: "Internal error", err: err}
	}
	hdr := w.Header()
	status := http.StatusInternalServerError
	switch e.kind {
	case malformed:
		status = http.StatusBadRequest
		h.refusedMalformed.Add(1)
		hdr.Set("Connection", "close") // the rest of the body is of no use
	case unauthorized:
		status = http.StatusForbidden
		h.refusedAuth.Add(1)
	case notFound:
		status = http.StatusNotFound
	case badMethod:
		status = http.StatusMethodNotAllowed
		hdr.Set("Allow", "OPTIONS, POST")
	case tooLarge:
		status = http.StatusRequestEntityTooLarge
		h.refusedSize.Add(1)
		hdr.Set("Connection", "close")
	case refused:
		status = http.StatusTooManyRequests
		h.refusedAdmission.Add(1)
		if h.onRefuse != nil {
			h.onRefuse(e.project, e.reason.Error())
		}
		secs := retrySeconds(e.retryAfter)
		hdr.Set("Retry-After", strconv.Itoa(secs))
		// A full disk is answered like any other refusal: SDKs back off
		// only on a 429 with these headers (a 507 makes them retry at
		// once, or drop without waiting).
		limits := e.limits
		if limits == "" {
			limits = rateLimits(secs, e.reason.Error())
		}
		hdr.Set("X-Sentry-Rate-Limits", limits)
	case unavailable:
		status = http.StatusServiceUnavailable
	case slow:
		status = http.StatusRequestTimeout
		hdr.Set("Connection", "close")
	}
	if status >= 500 {
		h.log.Error("ingest request failed", "path", r.URL.Path, "status", status, "err", err)
	} else {
		h.log.Debug("ingest request refused", "path", r.URL.Path, "status", status, "err", err)
		if reason := refusalReason(e); reason != "" {
			project, _ := strconv.Atoi(r.PathValue("project_id"))
			h.refusals.Log(slog.LevelWarn, "event refused", reason, project, "status", status, "detail", e.msg)
		}
	}
	writeJSON(w, status, messageBody{e.msg})
}

// refusalReason names why an event was refused, as the refusal metrics do
// (auth, size, malformed, or the admission reason); "" for replies that
// refuse no event (404, 405).
func refusalReason(e *ingestError) string {
	switch e.kind {
	case malformed:
		return "malformed"
	case unauthorized:
		return "auth"
	case tooLarge:
		return "size"
	case refused:
		return reasonCode(e.reason.Error())
	}
	return ""
}

// messageBody is the JSON body of every error reply.
type messageBody struct {
	Message string `json:"message"`
}

// retrySeconds rounds d up to whole seconds, at least 1.
func retrySeconds(d time.Duration) int {
	s := math.Ceil(d.Seconds())
	if s < 1 || math.IsNaN(s) {
		return 1
	}
	return int(min(s, 86400))
}

// rateLimits builds an X-Sentry-Rate-Limits value
// (retry_after:categories:scope:reason_code, see develop.sentry.dev "Rate
// Limiting"). A quota counts error events, so a quota refusal names the
// event categories (error, default, security) and its scope; any other
// refusal (memory, disk_full) leaves the categories empty, meaning all of
// them.
func rateLimits(secs int, reason string) string {
	code := reasonCode(reason)
	switch code {
	case "project_quota":
		return strconv.Itoa(secs) + ":error;default;security:project:" + code
	case "org_quota":
		return strconv.Itoa(secs) + ":error;default;security:organization:" + code
	}
	return strconv.Itoa(secs) + "::organization:" + code
}

// reasonCode reduces reason to the characters safe in the header's grammar.
func reasonCode(reason string) string {
	var b strings.Builder
	for _, c := range reason {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_', c == '-', c == '.':
			b.WriteRune(c)
		case c >= 'A' && c <= 'Z':
			b.WriteRune(c + 'a' - 'A')
		case c == ' ':
			b.WriteByte('_')
		}
		if b.Len() >= 64 {
			break
		}
	}
	if b.Len() == 0 {
		return "refused"
	}
	return b.String()
}

// writeJSON writes v as the JSON body of a response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"message":"Internal error"}`)
		status = http.StatusInternalServerError
	}
	writeJSONBytes(w, status, b)
}

// writeJSONBytes answers with status and the JSON document b, followed by
// a newline.
func writeJSONBytes(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
