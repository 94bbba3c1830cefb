//go:build !unix

package sourcemap

import (
	"io"
	"os"
)

// mapFile reads the first n bytes of f where there is no mmap.
func mapFile(f *os.File, n int) ([]byte, func(), error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, nil, err
	}
	return b, func() {}, nil
}
