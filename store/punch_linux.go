package store

import (
	"os"
	"syscall"
)

// punchHole frees the disk blocks of f's bytes [off, off+n) without
// changing its size. Best effort: on a file system without hole punching
// the bytes just stay until the segment is deleted.
func punchHole(f *os.File, off, n int64) {
	const punchHole, keepSize = 0x02, 0x01 // FALLOC_FL_PUNCH_HOLE, FALLOC_FL_KEEP_SIZE
	syscall.Fallocate(int(f.Fd()), punchHole|keepSize, off, n)
}
