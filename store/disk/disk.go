// Package disk watches the file system that holds the data directory:
// free space, the disk-full refusal and its error. It is a leaf, shared by
// store, ingest, the spool and the relay binary, which imports nothing of
// the store itself.
package disk

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tinysink/tinysink/budget"
)

// Space is what the file system holding a directory reports.
type Space struct {
	// Avail is the space an unprivileged process may still use, in bytes.
	Avail int64
	// Total is the size of the file system, in bytes.
	Total int64
	// ReadOnly is set when the file system is mounted read-only (as ext4
	// remounts itself after an I/O error, a common end of an SD card).
	ReadOnly bool
}

// DefaultMinFree is the default of -min-free-disk: the disk counts as full
// below 64 MiB or below 1% of its size, whichever is larger.
const DefaultMinFree = "64MiB,1%"

// ParseMinFree parses a free-space threshold: a comma list of sizes
// ("64MiB") and percentages of the file system ("1%"). The disk is full
// when the available space is below any of them. "0" turns the check off.
func ParseMinFree(s string) (bytes int64, frac float64, err error) {
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if p, ok := strings.CutSuffix(f, "%"); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
			if err != nil || v < 0 || v > 100 {
				return 0, 0, fmt.Errorf("bad free-space percentage %q", f)
			}
			frac = max(frac, v/100)
			continue
		}
		n, err := budget.ParseSize(f)
		if err != nil {
			return 0, 0, err
		}
		bytes = max(bytes, n)
	}
	return bytes, frac, nil
}

// ErrFull is the refusal of a write, or of an event, because the file
// system takes no more writes: no space, quota exhausted, or mounted
// read-only. Its text is the reason ingest reports (the reason code of
// X-Sentry-Rate-Limits, the label of the refusal metrics). Test with
// IsFull, which also knows the system's own errors for it.
var ErrFull = errors.New("disk_full")

// IsFull reports whether err is or wraps ErrFull, or an error of
// a file system that takes no more writes (ENOSPC, EDQUOT, EROFS).
func IsFull(err error) bool {
	return errors.Is(err, ErrFull) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EROFS)
}

// Guard watches the free space of the file system holding the data
// directory. It is ingest's admission check for the disk (reason
// ErrFull) and the readiness check's disk reading. It reads the file
// system at most once a second, and never writes.
type Guard struct {
	// Dir is the directory whose file system is watched.
	Dir string
	// MinFree and MinFreeFrac are the thresholds (see ParseMinFree); the
	// disk is low when Avail < max(MinFree, MinFreeFrac*Total).
	MinFree     int64
	MinFreeFrac float64
	// Retry is what a refused client is asked to wait (default 60 s).
	Retry time.Duration
	// Statfs reads the file system; tests replace it (default Statfs).
	Statfs func(dir string) (Space, error)
	// Now returns the current time (default time.Now).
	Now func() time.Time

	mu    sync.Mutex // guards the fields below
	at    time.Time  // when space was read
	space Space
	err   error
}

// cacheFor is how long a reading of the file system is reused.
const cacheFor = time.Second

// Space returns the file system's current figures (read at most once a
// second).
func (g *Guard) Space() (Space, error) {
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	statfs := Statfs
	if g.Statfs != nil {
		statfs = g.Statfs
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	t := now()
	if g.at.IsZero() || t.Sub(g.at) >= cacheFor || t.Before(g.at) {
		g.space, g.err = statfs(g.Dir)
		g.at = t
	}
	return g.space, g.err
}

// Threshold returns the free space below which the disk counts as full,
// for a file system of total bytes.
func (g *Guard) Threshold(total int64) int64 {
	return max(g.MinFree, int64(g.MinFreeFrac*float64(total)))
}

// Low reports whether the available space is below the threshold. A file
// system that cannot be read is not low (err says why).
func (g *Guard) Low() (bool, Space, error) {
	sp, err := g.Space()
	if err != nil {
		return false, sp, err
	}
	return sp.Avail < g.Threshold(sp.Total), sp, nil
}

// Admit implements ingest's admission check: it refuses every event (a
// *budget.AdmitError with reason ErrFull) while the disk is low, so
// that nothing is acknowledged that cannot be kept. It admits again as
// soon as space returns.
func (g *Guard) Admit(project int) error {
	if low, _, _ := g.Low(); low {
		retry := g.Retry
		if retry <= 0 {
			retry = time.Minute
		}
		return &budget.AdmitError{Reason: ErrFull, RetryAfter: retry}
	}
	return nil
}
