package store

import (
	"sync/atomic"
)

// AlertStats are the figures of the alert outbox, for monitoring.
type AlertStats struct {
	// Pending is the number of deliveries waiting in the outbox, and
	// Retrying those of them that failed at least once.
	Pending, Retrying int64
	// Delivered, Failures and GivenUp count, since the store was opened,
	// the deliveries made, the failed attempts, and the deliveries
	// abandoned after a failure.
	Delivered, Failures, GivenUp int64
}

// opsState is what the store counts for monitoring.
type opsState struct {
	// The running totals behind AlertStats.
	delivered, failures, givenUp atomic.Int64
	// backups counts the Backups running now.
	backups atomic.Int32
	// diskEvicted counts the events KeepMaxDisk evicted.
	diskEvicted atomic.Int64
}

// DiskEvicted returns how many events KeepMaxDisk has evicted to keep the
// data directory under its disk budget.
func (db *DB) DiskEvicted() int64 { return db.ops.diskEvicted.Load() }

// AlertStats returns the outbox figures.
func (db *DB) AlertStats() (AlertStats, error) {
	s := AlertStats{
		Delivered: db.ops.delivered.Load(),
		Failures:  db.ops.failures.Load(),
		GivenUp:   db.ops.givenUp.Load(),
	}
	err := db.view(func(tx *kvTx) error {
		return tx.AscendKeys(outboxPattern, func(k, v string) bool {
			s.Pending++
			var d struct {
				Attempts int `json:"attempts"`
			}
			if jsonUnmarshal(v, &d) == nil && d.Attempts > 0 {
				s.Retrying++
			}
			return true
		})
	})
	return s, err
}
