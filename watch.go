package main

// What an operator of a running tinysink uses: the liveness and readiness
// checks (/health/live, /health/ready) and the Prometheus metrics
// (/metrics). They read the other packages through their exported figures
// (ingest counters, digest and spool stats, store usage) and write nothing
// but the readiness check's rate-limited write probe.

import (
	"net/http"
	"sync"
	"time"

	"github.com/tinysink/tinysink/digest"
	"github.com/tinysink/tinysink/ingest"
	"github.com/tinysink/tinysink/ingest/forward"
	"github.com/tinysink/tinysink/ingest/spool"
	"github.com/tinysink/tinysink/store"
	"github.com/tinysink/tinysink/store/disk"
)

// watchConfig names what a Watch reads. DB, Spool and Worker are required.
type watchConfig struct {
	DB     *store.DB
	Spool  *spool.Spool
	Worker *digest.Worker
	// Ingest, when set, provides the accepted and refused counts.
	Ingest *ingest.Handler
	// Refusals, when set, splits ingest's admission refusals by reason,
	// and its sustained refusals fail the readiness check.
	Refusals *ingest.Refusals
	// Disk, when set, is the free-space check of the data directory.
	Disk *disk.Guard
	// MaxDisk is the configured disk budget in bytes (0 = none), reported
	// as a metric.
	MaxDisk int64
	// Version is reported in tinysink_build_info.
	Version string
	// Forward, when set, returns the forwarder's figures (false while
	// none runs).
	Forward func() (forward.Stats, bool)
}

// Defaults of a Watch's tunables.
const (
	DefaultStallAfter = 30 * time.Second
	// The probe rewrites one block: once a minute keeps an SD card's wear
	// low (4 KiB a minute while something polls /health/ready; nothing
	// while nothing does, or while digest batches prove writes work).
	DefaultProbeEvery   = time.Minute
	DefaultCheckTimeout = 2 * time.Second
)

// Watch serves the health checks and the metrics.
type Watch struct {
	cfg watchConfig
	// StallAfter is how long the digest may go without committing a batch
	// while the spool holds an event older than this, before readiness
	// fails.
	StallAfter time.Duration
	// ProbeEvery is the least time between two write probes.
	ProbeEvery time.Duration
	// CheckTimeout is how long the readiness check waits for the store and
	// the disk to answer.
	CheckTimeout time.Duration
	// Now returns the current time; tests replace it.
	Now func() time.Time

	start time.Time

	mu      sync.Mutex // guards the fields below
	pending *check     // the readiness check running now, if any
	probeAt time.Time  // when writing was last known to work or fail
	probeOK error      // the result at probeAt
}

// newWatch returns a Watch over cfg.
func newWatch(cfg watchConfig) *Watch {
	return &Watch{
		cfg: cfg, StallAfter: DefaultStallAfter, ProbeEvery: DefaultProbeEvery, CheckTimeout: DefaultCheckTimeout,
		Now: time.Now, start: time.Now(),
	}
}

// Register mounts the endpoints on mux:
//
//	GET /health/live    200 while the process serves HTTP
//	GET /health/ready   200 "OK", or 503 with a JSON list of reasons
//	GET /metrics        Prometheus text format, wrapped in protect
//
// protect guards /metrics (an API token check); nil leaves it open, for a
// listener of its own.
func (w *Watch) Register(mux *http.ServeMux, protect func(http.Handler) http.Handler) {
	mux.HandleFunc("GET /health/live", w.handleLive)
	mux.HandleFunc("GET /health/ready", w.handleReady)
	var m http.Handler = http.HandlerFunc(w.handleMetrics)
	if protect != nil {
		m = protect(m)
	}
	mux.Handle("GET /metrics", m)
}

// Handler returns a mux with the three endpoints and no authentication,
// for a separate metrics listener.
func (w *Watch) Handler() http.Handler {
	mux := http.NewServeMux()
	w.Register(mux, nil)
	return mux
}
