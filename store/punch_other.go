//go:build !linux

package store

import "os"

// punchHole is a no-op where the OS offers no portable hole punching; the
// space comes back when the whole segment is deleted.
func punchHole(f *os.File, off, n int64) {}
