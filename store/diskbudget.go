package store

import (
	"errors"
	"fmt"
)

// ErrOverBudget is returned by EnforceMaxDisk when evicting events cannot
// bring the data directory under the budget.
var ErrOverBudget = errors.New("store: the data directory is over its disk budget")

// EnforceMaxDisk evicts stored events until the metadata and the events
// take at most max bytes (allocated blocks; the spool's backlog and other
// files such as migration backups are left out): round by round from
// the project that takes the most space, the least relevant events first
// (EvictProject's order, so never-evict events go last), after compacting
// the project instead when that alone frees enough. It returns how
// many events it evicted. When the metadata alone exceeds the budget it
// evicts nothing and returns ErrOverBudget.
func (db *DB) EnforceMaxDisk(max int64) (int, error) {
	if max <= 0 {
		return 0, nil
	}
	// Holes the digest's retention queued count until they are punched.
	db.punch.wait()
	evicted, idle := 0, 0
	// before is the usage measured before the last round when it evicted
	// (-1 after a compaction): each round's measure tells whether the one
	// before it freed anything.
	before := int64(-1)
	for range 64 {
		u, err := db.budgetUsage(max)
		if err != nil {
			return evicted, err
		}
		used := u.Store + u.Events
		over := used - max
		if over <= 0 {
			return evicted, nil
		}
		// Space comes back only in whole blocks between live bodies: give
		// up when rounds stop freeing anything.
		if before >= 0 {
			if used >= before {
				if idle++; idle >= 3 {
					return evicted, fmt.Errorf("%w: evicting events frees no space", ErrOverBudget)
				}
			} else {
				idle = 0
			}
		}
		before = -1
		if over >= u.Events {
			return evicted, fmt.Errorf("%w: %d bytes used, %d allowed, and events take only %d", ErrOverBudget, used, max, u.Events)
		}
		us, err := db.ProjectUsage()
		if err != nil {
			return evicted, err
		}
		var big *ProjectUsage
		for i := range us {
			if us[i].StoredEvents > 0 && (big == nil || us[i].Bytes > big.Bytes) {
				big = &us[i]
			}
		}
		if big == nil || big.Bytes <= 0 {
			return evicted, fmt.Errorf("%w: no event left to evict", ErrOverBudget)
		}
		// Space the project's holes could not give back is returned by
		// compacting it (compactDue lets a project waste up to half its
		// live bodies' size before it does so by itself), not by evicting.
		if ok, err := db.compactForSpace(big.ID, over); err != nil {
			return evicted, err
		} else if ok {
			continue
		}
		// Evict what the project's average event takes times the overshoot,
		// plus a tenth, and at least 1% of its events so that rounds are
		// few.
		perEvent := max64(1, big.Bytes/big.StoredEvents)
		n := max64(over/perEvent+over/perEvent/10+1, big.StoredEvents/100)
		k, err := db.EvictProject(big.ID, int(min(n, big.StoredEvents)))
		evicted += k
		if err != nil {
			return evicted, err
		}
		before = used
	}
	return evicted, nil
}

// budgetUsage measures what the disk budget max covers. When that is over
// max it checkpoints the tree first and measures again: the tree's journal
// keeps a copy of every page a commit changed until the next checkpoint
// (when it passes about 4 MiB), evicting adds to it, and evicting for that
// space would evict events for space a checkpoint gives back.
func (db *DB) budgetUsage(max int64) (DataUsage, error) {
	u, err := db.DataUsage()
	if err != nil || u.Store+u.Events <= max {
		return u, err
	}
	if err := db.tree.Checkpoint(); err != nil {
		return u, err
	}
	return db.DataUsage()
}
