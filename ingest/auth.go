package ingest

import (
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tinysink/tinysink/budget"
)

// projectID returns the project id in r's path: a small positive integer.
func projectID(r *http.Request) (int, error) {
	s := r.PathValue("project_id")
	if s == "" || len(s) > 9 {
		return 0, errNoProject
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return 0, errNoProject
		}
	}
	id, _ := strconv.Atoi(s)
	if id <= 0 {
		return 0, errNoProject
	}
	return id, nil
}

// requestKey returns the public key a request carries outside its body: the
// sentry_key query parameter, else the sentry_key of an X-Sentry-Auth
// header ("Sentry k=v, k=v"). It returns "" if there is none.
func requestKey(r *http.Request) string {
	if k := r.URL.Query().Get("sentry_key"); k != "" {
		return k
	}
	scheme, params, ok := strings.Cut(strings.TrimSpace(r.Header.Get("X-Sentry-Auth")), " ")
	if !ok || !strings.EqualFold(scheme, "Sentry") {
		return ""
	}
	for kv := range strings.SplitSeq(params, ",") {
		k, v, _ := strings.Cut(kv, "=")
		if strings.TrimSpace(k) == "sentry_key" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// dsnKey returns the public key in a DSN's userinfo, or "" if dsn is not a
// usable DSN.
func dsnKey(dsn []byte) string {
	u, err := url.Parse(string(dsn))
	if err != nil || u.User == nil {
		return ""
	}
	return u.User.Username()
}

// authorize checks that key is project's key and that the project may send
// another event now.
func (h *Handler) authorize(r *http.Request, project int, key string) error {
	want, ok := h.projects.ProjectKey(project)
	if !ok || want == "" || subtle.ConstantTimeCompare([]byte(key), []byte(want)) != 1 {
		return &ingestError{kind: unauthorized, msg: "Project not found or key incorrect: " + h.dsn(r, key, project)}
	}
	if h.admit != nil {
		if err := h.admit.Admit(project); err != nil {
			ae, ok := errors.AsType[*budget.AdmitError](err)
			if !ok {
				ae = &budget.AdmitError{Reason: err}
			}
			return refusal(project, ae.RetryAfter, ae.Reason)
		}
		if a := admissionOf(r); a != nil {
			a.project, a.held = project, true
		}
	}
	return nil
}

// reserve reserves the memory a request is expected to hold (cost) until
// release is called. It is called once the body has begun to arrive
// (openBody reads its first part before anything is decoded), so a slow
// sender holds no reservation while it trickles, and cannot make
// admission refuse everyone else.
func (h *Handler) reserve(project int, cost int64) (release func(), err error) {
	if h.memory == nil {
		return func() {}, nil
	}
	release, ok, after := h.memory.Reserve(cost)
	if !ok {
		return nil, refusal(project, after, budget.ErrMemory)
	}
	return release, nil
}

// refusal is the error of a request that admission refused for reason.
func refusal(project int, after time.Duration, reason error) error {
	return &ingestError{
		kind:       refused,
		msg:        "Event refused (" + reasonCode(reason.Error()) + "); retry after " + strconv.Itoa(retrySeconds(after)) + "s",
		retryAfter: after,
		reason:     reason,
		project:    project,
	}
}

// Expected memory of a request, for Memory.Reserve (see cost).
const (
	requestOverhead  = 64 << 10 // buffers, parser, a gzip or deflate window
	compressionRatio = 8        // decoded bytes per compressed byte, expected
)

// cost returns what a request is expected to hold in memory while it runs:
// requestOverhead plus its event, which is at most MaxEventSize (an
// envelope's other items are read into the void) and expected to be its
// Content-Length, times compressionRatio when the body is compressed. A
// body of unknown length is expected to be as large as an event may be.
func (h *Handler) cost(r *http.Request) int64 {
	ev := h.event.n
	if n := r.ContentLength; n >= 0 {
		if enc := r.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
			n *= compressionRatio
		}
		ev = min(ev, n)
	}
	return requestOverhead + ev
}

// dsn rebuilds the DSN a client used: <scheme>://<key>@<host>[/<path>]/<project>.
func (h *Handler) dsn(r *http.Request, key string, project int) string {
	base := h.baseURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	if len(key) > 64 { // the key is the client's; don't echo a novel
		key = key[:64] + "..."
	}
	u.User = url.User(key)
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + strconv.Itoa(project)
	u.RawQuery, u.Fragment = "", ""
	return u.String()
}

// remoteAddr returns the client's IP address.
func (h *Handler) remoteAddr(r *http.Request) string {
	if h.trustProxy {
		if ip, ok := parseIP(r.Header.Get("X-Real-IP")); ok {
			return ip
		}
		if hops := r.Header.Values("X-Forwarded-For"); len(hops) > 0 {
			last := hops[len(hops)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if ip, ok := parseIP(last); ok {
				return ip
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func parseIP(s string) (string, bool) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return "", false
	}
	return a.String(), true
}

// admitBody starts a request whose key is in the query or a header: it
// authorizes the key for the path's project, opens the body under lim and
// reserves the request's memory once the body has begun to arrive. The
// caller closes b and calls release.
func (h *Handler) admitBody(w http.ResponseWriter, r *http.Request, lim limits) (project int, b *body, release func(), err error) {
	if project, err = projectID(r); err != nil {
		return 0, nil, nil, err
	}
	key := requestKey(r)
	if key == "" {
		return 0, nil, nil, errNoKey
	}
	if err := h.authorize(r, project, key); err != nil {
		return 0, nil, nil, err
	}
	cost := h.cost(r)
	if b, err = openBody(w, r, lim); err != nil {
		return 0, nil, nil, err
	}
	if release, err = h.reserve(project, cost); err != nil {
		b.Close()
		return 0, nil, nil, err
	}
	return project, b, release, nil
}
