//go:build !linux && !darwin && !freebsd

package store

import (
	"errors"
	"os"
)

// Statfs is not available on this system; the disk checks are then off.
func Statfs(dir string) (DiskSpace, error) {
	return DiskSpace{}, errors.ErrUnsupported
}

// allocated returns the size of a file.
func allocated(fi os.FileInfo) int64 { return fi.Size() }
