//go:build !linux

package fileio

import "os"

// WriteParts writes parts one after another to f from offset off.
func WriteParts(f *os.File, parts [][]byte, off int64) error {
	for _, p := range parts {
		if _, err := f.WriteAt(p, off); err != nil {
			return err
		}
		off += int64(len(p))
	}
	return nil
}
