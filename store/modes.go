package store

import (
	"io/fs"
	"os"
	"path/filepath"
)

// The data directory holds events (personal data, secrets in stack
// locals), password hashes and tokens: only its owner may read it.
const (
	dirMode  = 0o700
	fileMode = 0o600
)

// tightenModes takes group and other permissions away from dir and
// everything under it (directories 0700, files 0600 at most), for data
// directories created by older versions or with a lax umask. It is best
// effort: a file it cannot change (a read-only file system, another
// owner) is left as it is rather than keeping the server down.
func tightenModes(dir string) {
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable or removed meanwhile: skip it
		}
		if d.Type()&fs.ModeSymlink != 0 || !(d.IsDir() || d.Type().IsRegular()) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if mode := info.Mode().Perm(); mode&0o077 != 0 {
			max := fs.FileMode(fileMode)
			if d.IsDir() {
				max = dirMode
			}
			os.Chmod(path, mode&max)
		}
		return nil
	})
}
