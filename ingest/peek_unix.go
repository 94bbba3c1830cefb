//go:build unix

package ingest

import (
	"bytes"
	"net"
	"syscall"
)

// headersWaiting reports whether c's socket holds, unread, a request's
// whole header block (up to 4 KiB of it is looked at, without taking it).
func headersWaiting(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var buf [4096]byte
	n := 0
	// Control, not Read: the server's goroutine may be blocked in a
	// Read of this connection, holding its read lock.
	raw.Control(func(fd uintptr) {
		n, _, _ = syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	})
	return n > 0 && bytes.Contains(buf[:n], []byte("\r\n\r\n"))
}
