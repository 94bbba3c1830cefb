package ui

import (
	"errors"
	"syscall"
)

// errDiskFullMsg is what a write refused for want of disk space answers
// (507, as JSON or as the error page); reading keeps working.
const errDiskFullMsg = "The server's disk is full, so nothing can be saved now; pages and the API can still be read. Free some space and try again."

// diskFull reports whether err comes from a file system that takes no more
// writes: out of space, out of quota, or mounted read-only.
func diskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EROFS)
}
