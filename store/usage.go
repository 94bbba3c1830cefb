package store

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tinysink/tinysink/store/disk"
)

// ProjectUsage is what one project keeps.
type ProjectUsage struct {
	ID           int
	Slug         string
	StoredEvents int64
	// Bytes is the disk space of the project's event log and body
	// segments: allocated blocks, so space given back by retention does not
	// count.
	Bytes int64
}

// ProjectUsage returns the stored events and disk space of every project,
// ordered like Projects. It only reads file metadata.
func (db *DB) ProjectUsage() ([]ProjectUsage, error) {
	ps, err := db.Projects()
	if err != nil {
		return nil, err
	}
	out := make([]ProjectUsage, 0, len(ps))
	for _, p := range ps {
		n, err := dirUsage(db.projectDir(p.ID))
		if err != nil {
			return nil, err
		}
		out = append(out, ProjectUsage{ID: p.ID, Slug: p.Slug, StoredEvents: p.StoredEventCount, Bytes: n})
	}
	return out, nil
}

// DataUsage is the disk space the data directory takes, by part.
type DataUsage struct {
	Store  int64 // the metadata file (and its rewrite in progress)
	Events int64 // event logs and body segments
	Spool  int64 // the ingest spool
	Other  int64 // anything else
}

// Total is the sum of the parts.
func (u DataUsage) Total() int64 { return u.Store + u.Events + u.Spool + u.Other }

// DataUsage measures the data directory (allocated blocks).
func (db *DB) DataUsage() (DataUsage, error) {
	var u DataUsage
	entries, err := os.ReadDir(db.dir)
	if err != nil {
		return u, err
	}
	for _, e := range entries {
		path := filepath.Join(db.dir, e.Name())
		var n int64
		if e.IsDir() {
			if n, err = dirUsage(path); err != nil {
				return u, err
			}
		} else if fi, err := e.Info(); err == nil {
			n = disk.Allocated(fi)
		}
		switch {
		case e.Name() == "events":
			u.Events += n
		case e.Name() == "spool":
			u.Spool += n
		case strings.HasPrefix(e.Name(), "store.db"), strings.HasPrefix(e.Name(), "tree.db"):
			u.Store += n
		default:
			u.Other += n
		}
	}
	return u, nil
}

// dirUsage sums the allocated blocks of the files under dir. Files that
// vanish meanwhile (a dropped segment, a released spool file) are skipped.
func dirUsage(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += disk.Allocated(fi)
			}
		}
		return nil
	})
	return n, err
}
