package ops

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

// KeepMaxDisk enforces Config.MaxDisk (store.DB.EnforceMaxDisk) until ctx
// is done: at start, within diskBatchCheck of digest batches, and every
// diskFullCheck. Checks only read file metadata, so an idle server writes
// nothing.
func (w *Watch) KeepMaxDisk(ctx context.Context, log *slog.Logger) {
	if w.cfg.MaxDisk <= 0 {
		return
	}
	t := time.NewTicker(diskBatchCheck)
	defer t.Stop()
	batches := int64(-1)
	var last time.Time
	for {
		if b := w.cfg.Worker.Stats().Batches; b != batches || time.Since(last) >= diskFullCheck {
			batches, last = b, time.Now()
			n, err := w.cfg.DB.EnforceMaxDisk(w.cfg.MaxDisk)
			w.diskEvicted.Add(int64(n))
			if err != nil {
				log.Error("disk budget", "err", err, "evicted", n)
			} else if n > 0 {
				log.Info("disk budget: events evicted", "evicted", n, "max_disk", w.cfg.MaxDisk)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
