package main

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The first SIGINT shuts the server down gracefully: it stops accepting
// connections and waits (up to 10 s) for the requests in flight. A second
// SIGINT meanwhile stops it at once.
func TestSecondSignalStopsAtOnce(t *testing.T) {
	t.Parallel() // a subprocess of its own; see TestStartOnFullDisk
	dir := t.TempDir()
	tok := createToken(t, dir)
	p := startProc(t, dir)
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()

	// A request in flight that holds the shutdown: its headers promise a
	// body of which only one byte comes (the server waits 10 s for more).
	addr := strings.TrimPrefix(p.base, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/1/envelope/ HTTP/1.1\r\nHost: %s\r\nX-Sentry-Auth: Sentry sentry_key=%s\r\nContent-Length: 1000\r\n\r\n{", addr, p.key)
	waitFor(t, 10*time.Second, "the server to hold the request", func() bool {
		var page struct {
			Conns struct{ Open int } `json:"conns"`
		}
		// This request's connection is the other one.
		return p.get(t, tok, "/debug/budget", &page) == http.StatusOK && page.Conns.Open >= 2
	})

	p.cmd.Process.Signal(syscall.SIGINT)
	waitFor(t, 10*time.Second, "the listener to close", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-exited:
		t.Fatalf("exited while a request was in flight: %v", err)
	default:
	}

	p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-exited:
		if err == nil {
			t.Error("exit status 0 after the second signal, want a failure")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("still running 5 s after the second SIGINT")
	}
}
