package ingest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Request bodies must arrive at a rate any real client manages: after a
// grace period, at least minBodyRate on average (as Apache's
// mod_reqtimeout: the read deadline moves on with every byte received),
// and never nothing for longer than the grace period.
// A body still arriving after slowUpload is a slow upload, and one source
// address may have at most maxSlowPerSource of those at once: a further
// one is cut off. Fast uploads from the same address (a NAT, a proxy) are
// not counted.
//
// Variables, not constants, for tests.
var (
	bodyGrace        = 10 * time.Second
	minBodyRate      = 2 << 10 // bytes per second: 16 kbit/s, below any working mobile link
	slowUpload       = 2 * time.Second
	maxSlowPerSource = 8
)

// deadlineSlack: the deadline is moved only by more than this.
const deadlineSlack = 100 * time.Millisecond

var (
	errSlowBody   = &ingestError{kind: slow, msg: "The request body arrived too slowly"}
	errSlowSource = &ingestError{kind: slow, msg: "Too many slow uploads from your address at once"}
)

// guardBody enforces the body rate and the per-source cap on slow uploads
// on the request's body.
func (h *Handler) guardBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		g := &rateBody{body: r.Body, rc: http.NewResponseController(w), start: time.Now(), slow: &h.slow}
		src := sourceKey(h.remoteAddr(r))
		g.timer = time.AfterFunc(slowUpload, func() { g.markSlow(src) })
		defer g.finish()
		// A shallow copy: net/http looks at the Body of its own Request
		// after the handler (to answer "Expect: 100-continue" properly).
		// It also carries wrap's admission record, which would otherwise
		// cost a second copy.
		ctx := r.Context()
		if h.onRelease != nil {
			ctx = context.WithValue(ctx, admissionKey{}, new(admission))
		}
		r = r.WithContext(ctx)
		r.Body = g
		next.ServeHTTP(w, r)
	})
}

// rateBody is a request body whose reads must keep up the minimum rate.
type rateBody struct {
	body     io.ReadCloser
	rc       *http.ResponseController
	slow     *slowUploads
	start    time.Time
	n        int64     // bytes read
	deadline time.Time // the read deadline last set
	noDL     bool      // the connection does not take deadlines
	eof      bool      // the body has been read to its end
	timer    *time.Timer
	killed   atomic.Bool // cut off as one slow upload too many

	mu      sync.Mutex // guards done and slowSrc
	done    bool       // the body is read or the handler returned
	slowSrc string     // the source this upload is counted against as slow
}

func (g *rateBody) Read(p []byte) (int, error) {
	if !g.noDL {
		// Bytes sent early buy time later, but no read waits longer than
		// the grace period.
		d := g.start.Add(bodyGrace + time.Duration(g.n)*time.Second/time.Duration(minBodyRate))
		if stall := time.Now().Add(bodyGrace); d.After(stall) {
			d = stall
		}
		if d.Sub(g.deadline) > deadlineSlack {
			if err := g.rc.SetReadDeadline(d); err != nil {
				g.noDL = true
			}
			g.deadline = d
		}
	}
	// After setting the deadline: markSlow sets killed before it moves the
	// deadline into the past, so one of the two stops this read.
	if g.killed.Load() {
		return 0, errSlowSource
	}
	n, err := g.body.Read(p)
	g.n += int64(n)
	switch {
	case err == io.EOF:
		g.eof = true
		g.finish()
	case err != nil && errors.Is(err, os.ErrDeadlineExceeded):
		if g.killed.Load() {
			return n, errSlowSource
		}
		return n, errSlowBody
	}
	return n, err
}

func (g *rateBody) Close() error { return g.body.Close() }

// markSlow counts the upload as slow against src, and cuts it off if src
// has too many slow uploads already.
func (g *rateBody) markSlow(src string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.done {
		return
	}
	if g.slow.acquire(src) {
		g.slowSrc = src
		return
	}
	g.killed.Store(true)
	g.rc.SetReadDeadline(time.Unix(1, 0))
}

// finish ends the body's guard: its slow-upload slot is given back, and
// the read deadline is cleared if the body was read to its end (net/http
// then reads on in the background to notice a client going away; that
// read must not time out). A body left unread keeps its deadline: net/http
// reads what is left of it after the handler. It may be called more than
// once.
func (g *rateBody) finish() {
	g.timer.Stop()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.done {
		return
	}
	g.done = true
	if g.slowSrc != "" {
		g.slow.release(g.slowSrc)
		g.slowSrc = ""
	}
	if g.eof && !g.noDL && !g.killed.Load() {
		g.rc.SetReadDeadline(time.Time{})
	}
}

// slowUploads counts the slow uploads in progress per source address.
type slowUploads struct {
	mu sync.Mutex
	n  map[string]int
}

// acquire counts one more slow upload from src, unless src has
// maxSlowPerSource already.
func (s *slowUploads) acquire(src string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n[src] >= maxSlowPerSource {
		return false
	}
	if s.n == nil {
		s.n = make(map[string]int)
	}
	s.n[src]++
	return true
}

func (s *slowUploads) release(src string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n[src]--; s.n[src] <= 0 {
		delete(s.n, src)
	}
}

// sourceKey is the unit a per-source limit counts: the address, or its
// /64 for IPv6 (one host usually has a whole /64).
func sourceKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
