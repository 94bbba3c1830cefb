//go:build !linux && !darwin && !freebsd

package disk

import (
	"errors"
	"os"
)

// Statfs is not available on this system; the disk checks are then off.
func Statfs(dir string) (Space, error) {
	return Space{}, errors.ErrUnsupported
}

// Allocated returns the size of a file.
func Allocated(fi os.FileInfo) int64 { return fi.Size() }
