package main

import (
	"net"
	"os"
	"syscall"
)

// controlPeerAllowed reports whether the process at the other end of a
// control-socket connection runs as tinysink's own user or as root. The
// socket's mode already keeps others out; this holds even when the data
// directory's permissions were loosened by hand.
func controlPeerAllowed(c net.Conn) bool {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return false
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return false
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return false
	}
	return cred.Uid == 0 || int(cred.Uid) == os.Getuid()
}
