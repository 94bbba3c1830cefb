package ingest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinysink/tinysink/budget"
)

// bigEnvelope returns an envelope whose one event is about n bytes.
func bigEnvelope(n, seq int) []byte {
	ev := fmt.Sprintf(`{"event_id":"%032x","message":"big","extra":{"pad":"%s"}}`, seq+1, strings.Repeat("x", n))
	return envelope("{}", `{"type":"event"}`, ev)
}

// Memory admission refuses in-flight work beyond the room, never a steady
// heap: with the live heap held above the admission threshold (a 48 MiB
// slice under a 64 MiB limit), single large events are still accepted one
// after another, while concurrent ones beyond the room get 429 with
// Retry-After and X-Sentry-Rate-Limits, and the requests in flight
// complete.
func TestMemoryAdmissionTellsPressureFromSize(t *testing.T) {
	hold := make([]byte, 48<<20)
	runtime.GC()
	l := budget.NewLimiter(64 << 20)
	t.Cleanup(func() {
		budget.NewLimiter(0)
		runtime.KeepAlive(hold)
	})
	l.MinRoom = 2 << 20
	if base := l.Baseline(); float64(base) < l.High*float64(l.Limit()) {
		t.Fatalf("baseline %d is not above the threshold; the test needs it to be", base)
	}
	var mu sync.Mutex
	var refusals []string
	ts := newTestServer(t, func(c *Config) {
		c.Memory = l
		c.OnRefuse = func(project int, reason string) {
			mu.Lock()
			refusals = append(refusals, fmt.Sprint(project, " ", reason))
			mu.Unlock()
		}
	})
	const size = 900 << 10 // cost: 964 KiB, so two fit in 2 MiB of room
	for i := range 3 {
		if status, body := ts.postEnvelope(t, bigEnvelope(size, i)); status != http.StatusOK {
			t.Fatalf("single event %d over a high baseline: %d %s", i, status, body)
		}
	}

	// Two requests in flight: their first 300 KiB arrived (past what
	// openBody reads before reserving), so they are admitted and hold
	// memory; the rest of their bodies waits.
	type reply struct {
		status int
		err    error
	}
	var writers []*io.PipeWriter
	replies := make(chan reply, 2)
	for i := range 2 {
		env := bigEnvelope(size, 10+i)
		pr, pw := io.Pipe()
		writers = append(writers, pw)
		req, _ := http.NewRequest("POST", ts.URL+"/api/1/envelope/", pr)
		req.ContentLength = int64(len(env))
		req.Header.Set("X-Sentry-Auth", authHeader)
		go func() {
			resp, err := ts.Client().Do(req)
			if err != nil {
				replies <- reply{err: err}
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			replies <- reply{status: resp.StatusCode}
		}()
		go func() {
			pw.Write(env[:300<<10]) // the rest after the refusals below
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if n, _ := l.InFlight(); n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the two slow requests were not admitted")
		}
		time.Sleep(time.Millisecond)
	}

	// More concurrent large bodies: beyond the room.
	for i := range 5 {
		status, hdr, body := ts.post(t, "/api/1/envelope/", bytes.NewReader(bigEnvelope(size, 20+i)), "X-Sentry-Auth", authHeader)
		if status != http.StatusTooManyRequests || hdr.Get("Retry-After") != "1" || hdr.Get("X-Sentry-Rate-Limits") != "1::organization:memory" {
			t.Errorf("request beyond the room: %d, Retry-After %q, X-Sentry-Rate-Limits %q, %s",
				status, hdr.Get("Retry-After"), hdr.Get("X-Sentry-Rate-Limits"), body)
		}
	}
	// A small event still fits next to the two in flight.
	if status, body := ts.postEnvelope(t, bigEnvelope(1000, 30)); status != http.StatusOK {
		t.Errorf("small event beside the requests in flight: %d %s", status, body)
	}

	for i, pw := range writers {
		env := bigEnvelope(size, 10+i)
		go func() {
			pw.Write(env[300<<10:])
			pw.Close()
		}()
	}
	for range 2 {
		if r := <-replies; r.err != nil || r.status != http.StatusOK {
			t.Errorf("request in flight: %d, %v", r.status, r.err)
		}
	}
	if n, b := l.InFlight(); n != 0 || b != 0 {
		t.Errorf("after every reply: %d requests, %d bytes still reserved", n, b)
	}
	if status, body := ts.postEnvelope(t, bigEnvelope(size, 40)); status != http.StatusOK {
		t.Errorf("single event after the burst: %d %s", status, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(refusals, ","); got != "1 memory,1 memory,1 memory,1 memory,1 memory" {
		t.Errorf("OnRefuse saw %q, want five memory refusals of project 1", got)
	}
	if c := ts.h.Counters(); c.RefusedAdmission != 5 || c.Accepted != 7 {
		t.Errorf("counters = %+v, want 5 refused and 7 accepted", c)
	}
}

// The expected cost follows Content-Length (times the compression ratio
// for an encoded body) up to the event cap; an unknown length costs the
// cap.
func TestRequestCost(t *testing.T) {
	t.Parallel()
	h := New(Config{MaxEventSize: 1 << 20})
	for _, tt := range []struct {
		length int64
		enc    string
		want   int64
	}{
		{1000, "", requestOverhead + 1000},
		{1000, "identity", requestOverhead + 1000},
		{1000, "gzip", requestOverhead + 8000},
		{1 << 20, "br", requestOverhead + 1<<20},
		{50 << 20, "", requestOverhead + 1<<20},
		{-1, "", requestOverhead + 1<<20},
	} {
		r, _ := http.NewRequest("POST", "/", nil)
		r.ContentLength = tt.length
		if tt.enc != "" {
			r.Header.Set("Content-Encoding", tt.enc)
		}
		if got := h.cost(r); got != tt.want {
			t.Errorf("cost(length %d, %q) = %d, want %d", tt.length, tt.enc, got, tt.want)
		}
	}
}
