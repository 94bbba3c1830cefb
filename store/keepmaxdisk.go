package store

import (
	"context"
	"log/slog"
	"time"
)

// How often KeepMaxDisk looks for new digest batches, and how often it
// checks the budget regardless.
const (
	diskBatchCheck = 10 * time.Second
	diskFullCheck  = 5 * time.Minute
)

// KeepMaxDisk keeps the data directory under the disk budget maxDisk
// (EnforceMaxDisk; maxDisk <= 0: no budget, it returns at once) until ctx
// is done: at start, within diskBatchCheck of a new digest batch (batches
// returns how many the digest has committed), and every diskFullCheck.
// Checks only read file metadata, so an idle server writes nothing.
// DiskEvicted counts what it evicts.
func (db *DB) KeepMaxDisk(ctx context.Context, maxDisk int64, batches func() int64, log *slog.Logger) {
	if maxDisk <= 0 {
		return
	}
	t := time.NewTicker(diskBatchCheck)
	defer t.Stop()
	seen := int64(-1)
	var last time.Time
	for {
		if b := batches(); b != seen || time.Since(last) >= diskFullCheck {
			seen, last = b, time.Now()
			n, err := db.EnforceMaxDisk(maxDisk)
			db.ops.diskEvicted.Add(int64(n))
			if err != nil {
				log.Error("disk budget", "err", err, "evicted", n)
			} else if n > 0 {
				log.Info("disk budget: events evicted", "evicted", n, "max_disk", maxDisk)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
