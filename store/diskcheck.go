package store

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// probeFile is the file ProbeWrite rewrites; backups leave it out.
const probeFile = "probe"

// ProbeWrite checks that the data directory takes writes: it rewrites 8
// bytes of a small file in it and syncs them. It costs one block write, so
// callers rate-limit it.
func (db *DB) ProbeWrite() error {
	f, err := os.OpenFile(filepath.Join(db.dir, probeFile), os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("write probe: %w", err)
	}
	b := strconv.AppendInt(nil, time.Now().UnixNano(), 10)
	_, err = f.WriteAt(append(b, '\n'), 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write probe: %w", err)
	}
	return nil
}
