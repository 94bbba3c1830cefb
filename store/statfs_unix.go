//go:build linux || darwin || freebsd

package store

import (
	"os"
	"syscall"
)

// Statfs reads the file system holding dir.
func Statfs(dir string) (DiskSpace, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return DiskSpace{}, err
	}
	bs := int64(st.Bsize)
	// Bit 1 of the flags is ST_RDONLY (Linux) or MNT_RDONLY (BSDs).
	return DiskSpace{Avail: int64(st.Bavail) * bs, Total: int64(st.Blocks) * bs, ReadOnly: st.Flags&1 != 0}, nil
}

// allocated returns the disk space a file takes: its allocated blocks, so
// that holes punched by retention are not counted.
func allocated(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return fi.Size()
}
