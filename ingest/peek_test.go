//go:build unix

package ingest

import (
	"io"
	"net"
	"syscall"
	"testing"
)

// headersWaiting sees a whole header block in the socket without taking
// it, and does not mistake a header block begun for one.
func TestHeadersWaiting(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, tt := range []struct {
		sent string
		want bool
	}{
		{"", false},
		{"POST /api/1/envelope/ HTTP/1.1\r\nHost: x\r\nX-", false},
		{"POST /api/1/envelope/ HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", true},
	} {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, tt.sent)
		waitDelivered(t, s, len(tt.sent))
		if got := headersWaiting(s); got != tt.want {
			t.Errorf("headersWaiting after %q = %v, want %v", tt.sent, got, tt.want)
		}
		if tt.sent != "" {
			b := make([]byte, len(tt.sent))
			if _, err := io.ReadFull(s, b); err != nil || string(b) != tt.sent {
				t.Errorf("after the peek the server reads %q, %v", b, err)
			}
		}
		c.Close()
		s.Close()
	}
}

// waitDelivered returns once n bytes wait in c's socket, without taking
// them: the netpoller wakes it when more arrive.
func waitDelivered(t *testing.T, c net.Conn, n int) {
	t.Helper()
	if n == 0 {
		return
	}
	raw, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, n)
	err = raw.Read(func(fd uintptr) bool {
		got, _, err := syscall.Recvfrom(int(fd), buf, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return err == nil && got >= n
	})
	if err != nil {
		t.Fatal(err)
	}
}
