package fileio

import (
	"os"
	"syscall"
	"unsafe"
)

// maxIovecs is how many buffers one pwritev takes at most (the kernel's
// IOV_MAX).
const maxIovecs = 1024

// WriteParts writes parts one after another to f from offset off, with
// one pwritev per maxIovecs buffers (a digest batch's bodies, or a spool
// group commit's records, are one call), going on after a short write.
func WriteParts(f *os.File, parts [][]byte, off int64) error {
	if len(parts) == 1 {
		// One buffer, as most spool commits are: a plain pwrite, without
		// the iovec and the raw connection.
		_, err := f.WriteAt(parts[0], off)
		return err
	}
	iov := make([]syscall.Iovec, 0, min(len(parts), maxIovecs))
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	for len(parts) > 0 {
		iov = iov[:0]
		for _, p := range parts {
			if len(iov) == maxIovecs {
				break
			}
			if len(p) > 0 {
				v := syscall.Iovec{Base: &p[0]}
				v.SetLen(len(p))
				iov = append(iov, v)
			}
		}
		if len(iov) == 0 {
			return nil
		}
		var n int
		var werr error
		if err := rc.Write(func(fd uintptr) bool {
			n, werr = pwritev(fd, iov, off)
			return true
		}); err != nil {
			return &os.PathError{Op: "pwritev", Path: f.Name(), Err: err}
		}
		if werr != nil {
			return &os.PathError{Op: "pwritev", Path: f.Name(), Err: werr}
		}
		if n == 0 {
			return &os.PathError{Op: "pwritev", Path: f.Name(), Err: syscall.EIO}
		}
		off += int64(n)
		parts = skipWritten(parts, n)
	}
	return nil
}

// pwritev is one pwritev system call, retried on EINTR.
func pwritev(fd uintptr, iov []syscall.Iovec, off int64) (int, error) {
	// The offset goes in two words: its low and high halves on 32-bit
	// systems, the whole of it and 0 on 64-bit ones.
	const longBits = 32 << (^uintptr(0) >> 63)
	lo, hi := uintptr(off), uintptr(uint64(off)>>(longBits-1)>>1)
	for {
		n, _, e := syscall.Syscall6(syscall.SYS_PWRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)), lo, hi, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(n), nil
	}
}

// skipWritten returns what of parts is left to write after the first n
// bytes were written: the first part cut where the write stopped, and
// the ones after it.
func skipWritten(parts [][]byte, n int) [][]byte {
	for len(parts) > 0 && n >= len(parts[0]) {
		n -= len(parts[0])
		parts = parts[1:]
	}
	if len(parts) > 0 && n > 0 {
		parts = append([][]byte{parts[0][n:]}, parts[1:]...)
	}
	return parts
}
