package store

import (
	"time"
)

// FinalizeRelease records that the project's release was released at at
// (sentry-cli's `releases finalize`, Sentry's dateReleased). Finalizing
// again moves the date. It returns ErrNotFound when the release does not
// exist.
func (db *DB) FinalizeRelease(project int, version string, at time.Time) error {
	return db.update(func(tx *kvTx) error {
		var r Release
		if err := getJSON(tx, releaseKey(project, version), &r); err != nil {
			return err
		}
		r.DateFinalized = at.UTC()
		return setJSON(tx, releaseKey(project, version), &r)
	})
}
