//go:build unix

package sourcemap

import (
	"os"
	"syscall"
)

// mapFile maps the first n bytes of f read-only; release unmaps them.
func mapFile(f *os.File, n int) ([]byte, func(), error) {
	b, err := syscall.Mmap(int(f.Fd()), 0, n, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return b, func() { syscall.Munmap(b) }, nil
}
