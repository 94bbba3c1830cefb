//go:build linux || darwin || freebsd

package disk

import (
	"os"
	"syscall"
)

// Statfs reads the file system holding dir.
func Statfs(dir string) (Space, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return Space{}, err
	}
	bs := int64(st.Bsize)
	// Bit 1 of the flags is ST_RDONLY (Linux) or MNT_RDONLY (BSDs).
	return Space{Avail: int64(st.Bavail) * bs, Total: int64(st.Blocks) * bs, ReadOnly: st.Flags&1 != 0}, nil
}

// Allocated returns the disk space a file takes: its Allocated blocks, so
// that holes punched by retention are not counted.
func Allocated(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return fi.Size()
}
