package ingest

import (
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/tinysink/tinysink/internal/xsort"
)

// DefaultMaxConns is the default cap on open connections. Each costs about
// 10 KB of heap (net/http's read and write buffers) plus a goroutine stack
// of 8 KB or more, so 256 of them cost ~5 MB at most: a fifth of the
// default 24 MiB memory limit, well under the admission threshold.
const DefaultMaxConns = 256

// ConnLimiter caps the connections an http.Server holds open. At the cap, a
// new connection is not refused: the connection that has gone longest
// without progress and is not serving a request (an idle keep-alive
// connection, or one that has not finished sending its first request's
// headers) is closed to make room, provided it has made no progress for
// evictGrace. While there is none, Accept waits.
//
// Wrap the listener with Listener and set the server's ConnState to the
// limiter's ConnState.
type ConnLimiter struct {
	max int

	mu    sync.Mutex
	grace time.Duration           // evictGrace; tests change it
	conns map[net.Conn]*connEntry // open connections not yet evicted
	freed chan struct{}           // signalled when a connection goes or goes idle
	// Evicted counts connections closed to make room.
	evicted int64
}

// evictGrace is how long a connection is safe from eviction after its last
// progress: a burst of new clients must not evict one another before the
// server has read their headers, nor a client its own connection between
// two events. It also bounds how fast connections can be cycled at the cap
// (cap per evictGrace), which is far above what a Pi can serve.
const evictGrace = 100 * time.Millisecond

// maxPeeks bounds how many connections one eviction looks into (see
// headersWaiting).
const maxPeeks = 16

// idleGraceFactor times evictGrace is how long an idle keep-alive
// connection is safe from eviction (see evictLocked).
const idleGraceFactor = 10

// connEntry is what the limiter knows about one connection.
type connEntry struct {
	state http.ConnState
	since time.Time // of the last state change: accept, idle, active
}

// NewConnLimiter returns a limiter for max open connections (≤ 0: no cap,
// connections are only tracked).
func NewConnLimiter(max int) *ConnLimiter {
	return &ConnLimiter{max: max, grace: evictGrace, conns: make(map[net.Conn]*connEntry), freed: make(chan struct{}, 1)}
}

// ConnStats are the limiter's readings.
type ConnStats struct {
	Open    int   `json:"open"`
	Max     int   `json:"max"`
	Evicted int64 `json:"evicted"`
}

// Stats returns the open connections and how many were evicted so far.
func (l *ConnLimiter) Stats() ConnStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return ConnStats{Open: len(l.conns), Max: l.max, Evicted: l.evicted}
}

// Listener returns ln with its Accept held to the cap.
func (l *ConnLimiter) Listener(ln net.Listener) net.Listener {
	return &limitListener{Listener: ln, l: l, done: make(chan struct{})}
}

// ConnState is the http.Server ConnState hook that tracks each
// connection's state.
func (l *ConnLimiter) ConnState(c net.Conn, s http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.conns[c]
	if !ok {
		return // evicted, or not accepted through the limiter
	}
	switch s {
	case http.StateClosed, http.StateHijacked:
		delete(l.conns, c)
	case http.StateIdle, http.StateActive:
		e.state, e.since = s, time.Now()
	}
	if s != http.StateActive {
		select {
		case l.freed <- struct{}{}:
		default:
		}
	}
}

// add records c as open, making room first; it waits while no connection
// can be evicted, until done is closed.
func (l *ConnLimiter) add(c net.Conn, done <-chan struct{}) bool {
	var poll *time.Timer
	for {
		l.mu.Lock()
		if l.max <= 0 || len(l.conns) < l.max || l.evictLocked() {
			l.conns[c] = &connEntry{state: http.StateNew, since: time.Now()}
			l.mu.Unlock()
			if poll != nil {
				poll.Stop()
			}
			return true
		}
		l.mu.Unlock()
		// Connections come of eviction age without an event: look again
		// now and then.
		if poll == nil {
			poll = time.NewTimer(evictGrace / 4)
		} else {
			poll.Reset(evictGrace / 4)
		}
		select {
		case <-l.freed:
		case <-poll.C:
		case <-done:
			poll.Stop()
			return false
		}
	}
}

// evictLocked closes the connection that has gone longest without
// progress among those not serving a request, and reports whether there
// was one. Connections that have not yet sent a whole request go first:
// a keep-alive connection that has served one belongs to a client that
// talks the protocol, which may be about to reuse it (a client does not
// retry a POST on a connection closed under it), so it goes only when no
// other can, and after idleGrace.
func (l *ConnLimiter) evictLocked() bool {
	var fresh []net.Conn
	var idle net.Conn
	var oldestIdle time.Time
	now := time.Now()
	young, youngIdle := now.Add(-l.grace), now.Add(-idleGraceFactor*l.grace)
	for c, e := range l.conns {
		switch {
		case e.state == http.StateNew && !e.since.After(young):
			fresh = append(fresh, c)
		case e.state == http.StateIdle && !e.since.After(youngIdle):
			if (idle == nil || e.since.Before(oldestIdle)) && !headersWaiting(c) {
				idle, oldestIdle = c, e.since
			}
		}
	}
	// The oldest connection without a request goes, unless its request's
	// headers are all waiting in the socket: the server has only not got
	// round to reading them yet (a busy server takes longer than the
	// grace), and closing it would fail a client that did nothing wrong.
	xsort.SortFunc(fresh, func(a, b net.Conn) int { return l.conns[a].since.Compare(l.conns[b].since) })
	var victim net.Conn
	for i, c := range fresh {
		if i >= maxPeeks || !headersWaiting(c) {
			victim = c
			break
		}
	}
	if victim == nil {
		victim = idle
	}
	if victim == nil {
		return false
	}
	// The server notices the close and reports StateClosed, which finds no
	// entry: the slot is free from now on.
	delete(l.conns, victim)
	l.evicted++
	victim.Close()
	return true
}

// limitListener is a listener whose Accept keeps to a ConnLimiter.
type limitListener struct {
	net.Listener
	l         *ConnLimiter
	closeOnce sync.Once
	done      chan struct{}
}

func (ln *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if ln.l.add(c, ln.done) {
			return c, nil
		}
		c.Close()
	}
}

func (ln *limitListener) Close() error {
	ln.closeOnce.Do(func() { close(ln.done) })
	return ln.Listener.Close()
}
