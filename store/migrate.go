package store

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// Format migrations. A build that changes the data directory's format
// raises formatVersion and adds the step from the previous format to
// migrations. Open then, for a directory of an older format, first writes a
// backup archive into the directory (backup-format<N>-<time>.tar.zst, the
// same archive `tinysink backup` makes; `tinysink restore` brings it back),
// and only then runs the steps in order, recording the format after each,
// so that a crash resumes at the step that did not finish.
//
// A step runs inside Open, before the projects' event logs are opened: it
// may rewrite metadata (through db.update) and the files under events/.
var migrations = map[int]func(db *DB) error{}

// migrate brings the directory from format from to formatVersion. A
// backup left by an earlier attempt that failed is kept and not made again:
// it is the state before any step ran, and a crash loop must not fill the
// disk with backups.
func (db *DB) migrate(from int) error {
	prefix := filepath.Join(db.dir, "backup-format"+strconv.Itoa(from)+"-")
	path := prefix + db.Now().UTC().Format("20060102-150405") + ".tar.zst"
	if done, _ := filepath.Glob(prefix + "*.tar.zst"); len(done) > 0 {
		path = done[0]
	} else if err := db.backupToFile(path); err != nil {
		return fmt.Errorf("backup before migrating from format %d: %w", from, err)
	}
	for v := from; v < formatVersion; v++ {
		step := migrations[v]
		if step == nil {
			return fmt.Errorf("store: no migration from format %d to %d", v, v+1)
		}
		if err := step(db); err != nil {
			return fmt.Errorf("migrate from format %d to %d (backup in %s): %w", v, v+1, path, err)
		}
		err := db.update(func(tx *kvTx) error {
			_, _, err := tx.Set(keyFormat, strconv.Itoa(v+1), nil)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// backupToFile writes a backup archive to path, through a temporary file
// that is synced and renamed.
func (db *DB) backupToFile(path string) error {
	return WriteFileAtomic(path, func(f *os.File) error {
		bw := bufio.NewWriterSize(f, 256<<10)
		if err := db.Backup(bw); err != nil {
			return err
		}
		return bw.Flush()
	})
}

// WriteFileAtomic creates path through a temporary file beside it that
// fill writes; the file is synced and renamed into place, and the directory
// synced, only when fill succeeds. A crash leaves either the old file or
// the new one, never part of it.
func WriteFileAtomic(path string, fill func(f *os.File) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = fill(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}
