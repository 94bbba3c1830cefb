package ingest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// setVar sets *p to v for the duration of the test.
func setVar[T any](t *testing.T, p *T, v T) {
	old := *p
	*p = v
	t.Cleanup(func() { *p = old })
}

// newLimitedServer starts the ingest handler behind a ConnLimiter of max
// connections.
func newLimitedServer(t *testing.T, max int) (*httptest.Server, *ConnLimiter) {
	t.Helper()
	ts := newTestServer(t)
	ts.Close() // replaced by one that is started behind the limiter
	lim := NewConnLimiter(max)
	lim.grace = 0
	mux := http.NewServeMux()
	ts.h.Register(mux)
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = lim.Listener(srv.Listener)
	srv.Config.ConnState = lim.ConnState
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, lim
}

// rawConn is one client connection speaking HTTP/1.1 by hand.
type rawConn struct {
	net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, srv *httptest.Server) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(time.Minute))
	return &rawConn{Conn: c, br: bufio.NewReader(c)}
}

// event posts one event and returns the status of the reply.
func (c *rawConn) event(t *testing.T) int {
	t.Helper()
	body := `{"message":"hello"}`
	fmt.Fprintf(c, "POST /api/1/store/?sentry_key=%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", testKey, len(body), body)
	return c.status(t)
}

// status reads one reply and returns its status.
func (c *rawConn) status(t *testing.T) int {
	t.Helper()
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("reading the reply: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// closedByServer reports whether the server has closed c.
func (c *rawConn) closedByServer() bool {
	_, err := c.br.ReadByte()
	return err == io.EOF
}

// waitIdle waits until the limiter holds n connections, all idle. The
// server marks a connection idle only after it has sent the reply, so the
// client can be ahead of it: on a busy machine a connection whose reply
// was read 3 ms before still counted as serving a request, and another
// one was evicted in its place.
func waitIdle(t *testing.T, lim *ConnLimiter, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		lim.mu.Lock()
		idle := 0
		for _, e := range lim.conns {
			if e.state == http.StateIdle {
				idle++
			}
		}
		open := len(lim.conns)
		lim.mu.Unlock()
		if open == n && idle == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d connections idle, want %d", idle, open, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// At the cap, a new connection gets in and the connection idle the longest
// is closed; the others keep working.
func TestConnLimiterEvictsLongestIdle(t *testing.T) {
	t.Parallel()
	srv, lim := newLimitedServer(t, 2)
	a, b := dialRaw(t, srv), dialRaw(t, srv)
	for _, c := range []*rawConn{a, b} {
		if code := c.event(t); code != 200 {
			t.Fatalf("event: %d", code)
		}
	}
	waitIdle(t, lim, 2)
	// b is used again, so a has been idle the longest.
	if code := b.event(t); code != 200 {
		t.Fatalf("event: %d", code)
	}
	waitIdle(t, lim, 2)
	c := dialRaw(t, srv)
	if code := c.event(t); code != 200 {
		t.Fatalf("event on a new connection at the cap: %d", code)
	}
	if !a.closedByServer() {
		t.Errorf("the longest-idle connection is still open")
	}
	if code := b.event(t); code != 200 {
		t.Errorf("event on a kept connection: %d", code)
	}
	if st := lim.Stats(); st.Evicted != 1 || st.Open > 2 {
		t.Errorf("stats %+v, want 1 evicted and at most 2 open", st)
	}
}

// A new connection that has sent nothing yet is not evicted within the
// grace: the next one waits until a connection goes idle and overstays the
// grace, then takes its place. A silent connection past the grace is
// evicted.
func TestConnLimiterNewConnGrace(t *testing.T) {
	t.Parallel()
	srv, lim := newLimitedServer(t, 1)
	setGrace := func(d time.Duration) { lim.mu.Lock(); lim.grace = d; lim.mu.Unlock() }
	setGrace(time.Hour)
	a := dialRaw(t, srv)
	for srvOpen(srv) < 1 {
		time.Sleep(time.Millisecond)
	}
	b := dialRaw(t, srv)
	got := make(chan int, 1)
	go func() { got <- b.event(t) }()
	// a is served (it holds the one slot) and goes idle; past the grace it
	// makes room.
	if code := a.event(t); code != 200 {
		t.Fatalf("event on the first connection: %d", code)
	}
	setGrace(0)
	if code := <-got; code != 200 {
		t.Fatalf("event on the waiting connection: %d", code)
	}
	if !a.closedByServer() {
		t.Errorf("the idle connection was not evicted")
	}

	// Past the grace, a silent connection is evicted like an idle one.
	c := dialRaw(t, srv) // b is idle: evicted
	if !b.closedByServer() {
		t.Fatalf("the idle connection was not evicted")
	}
	d := dialRaw(t, srv) // c has sent nothing: evicted
	if code := d.event(t); code != 200 {
		t.Fatalf("event: %d", code)
	}
	if !c.closedByServer() {
		t.Errorf("the silent connection was not evicted")
	}
}

// srvOpen returns how many connections srv's limiter holds.
func srvOpen(srv *httptest.Server) int {
	return srv.Listener.(*limitListener).l.Stats().Open
}

// startUpload sends the headers and first byte of a 100-byte event.
func startUpload(t *testing.T, srv *httptest.Server) *rawConn {
	t.Helper()
	c := dialRaw(t, srv)
	fmt.Fprintf(c, "POST /api/1/store/?sentry_key=%s HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{", testKey)
	return c
}

// A body that stops arriving is cut off with 408 after the grace period.
func TestSlowBodyTimesOut(t *testing.T) {
	setVar(t, &bodyGrace, 200*time.Millisecond)
	srv, _ := newLimitedServer(t, 0)
	c := startUpload(t, srv)
	if code := c.status(t); code != http.StatusRequestTimeout {
		t.Errorf("stalled body: %d, want 408", code)
	}
	if !c.closedByServer() {
		t.Errorf("the connection of a stalled body stays open")
	}
	// A body that keeps coming in time is accepted.
	if code := dialRaw(t, srv).event(t); code != 200 {
		t.Errorf("event: %d", code)
	}
}

// One address may hold maxSlowPerSource slow uploads; one more is cut off,
// and fast uploads from the same address still get through.
func TestSlowUploadsPerSource(t *testing.T) {
	setVar(t, &slowUpload, 10*time.Millisecond)
	setVar(t, &maxSlowPerSource, 2)
	srv, _ := newLimitedServer(t, 0)
	codes := make(chan int, 3)
	var conns []*rawConn
	for range 3 {
		c := startUpload(t, srv)
		conns = append(conns, c)
		go func() {
			resp, err := http.ReadResponse(c.br, nil)
			if err != nil {
				codes <- 0
				return
			}
			body, _ := io.ReadAll(resp.Body)
			if !strings.Contains(string(body), "slow uploads") {
				t.Errorf("reply %d %s", resp.StatusCode, body)
			}
			codes <- resp.StatusCode
		}()
	}
	if code := <-codes; code != http.StatusRequestTimeout {
		t.Errorf("third slow upload: %d, want 408", code)
	}
	if code := dialRaw(t, srv).event(t); code != 200 {
		t.Errorf("fast upload from the same address: %d", code)
	}
	for _, c := range conns {
		c.Close()
	}
}

func TestSourceKey(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"not an address", "not an address"},
	} {
		if got := sourceKey(tt.in); got != tt.want {
			t.Errorf("sourceKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
