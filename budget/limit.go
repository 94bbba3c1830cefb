package budget

import (
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// Limiter holds the process under a memory ceiling. It sets the Go memory
// limit and admits ingest requests by what they are about to hold, so that
// bursts wait in the SDKs (429 + Retry-After) and in the spool on disk
// instead of in RAM.
//
// Admission tells pressure from size. Each request reserves its expected
// cost (its body, capped at the event size, plus buffers) for as long as it
// runs, and Reserve refuses a request only when
//
//	other requests are in flight, and
//	in flight + its cost > room, where
//	room = max(High × limit − baseline, MinRoom)
//
// and baseline is the heap the last garbage collection found live: what
// the installation holds at rest (caches, indexes, templates), which grows
// with the data and does not shrink by refusing events. So
//
//   - a request that finds nothing in flight is always admitted: a steady
//     heap near or above the limit slows ingest to one request at a time
//     but never refuses every event;
//   - however large the baseline, MinRoom (an eighth of the limit by
//     default) stays available to requests in flight;
//   - what is refused is in-flight work beyond that room: many concurrent
//     large bodies.
type Limiter struct {
	limit int64
	// High is the fraction of the limit that the baseline and the
	// requests in flight may fill together (default 0.7).
	High float64
	// MinRoom is the least room for requests in flight, whatever the
	// baseline (default limit/8).
	MinRoom int64
	// Retry is what Reserve asks a refused client to wait (default 1 s).
	Retry time.Duration
	// Baseline reads the heap live at the last GC; tests may replace it.
	Baseline func() uint64
	// LiveHeap reads the heap in use now, garbage not yet collected
	// included (Short).
	LiveHeap func() uint64

	mu       sync.Mutex // guards inflight and requests
	inflight int64      // bytes reserved by requests in flight
	requests int        // requests in flight
}

// GCPercent is the garbage collector's target heap growth tinysink runs
// with, unless GOGC is set in the environment: 50 instead of Go's 100,
// so that the heap between two collections stays within half again of
// what is live. On a heap of a few MiB the extra collections cost little
// CPU, and the memory they save is real (RssAnon, what the cgroup charges).
const GCPercent = 50

// NewLimiter sets the Go memory limit to limit bytes (≤ 0: no limit), the
// GC's target growth (GCPercent, unless GOGC is set) and the processors
// (SetProcs), and returns a Limiter for the limit.
func NewLimiter(limit int64) *Limiter {
	SetProcs()
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	} else {
		debug.SetMemoryLimit(math.MaxInt64)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
	}
	return &Limiter{limit: limit, High: 0.7, MinRoom: limit / 8, Retry: time.Second, Baseline: heapLive, LiveHeap: heapNow}
}

// Limit returns the ceiling in bytes (0 = none).
func (l *Limiter) Limit() int64 { return l.limit }

// Short reports whether the heap in use is above High of the limit. The
// digest worker takes small batches while it is; ingest admission does not
// use it (see Reserve).
func (l *Limiter) Short() bool {
	if l == nil || l.limit <= 0 {
		return false
	}
	return float64(l.LiveHeap()) > l.High*float64(l.limit)
}

// Reserve admits a request expected to hold cost bytes, by the rule in the
// Limiter's doc comment. When ok, the caller must call release once the
// request no longer holds its memory; when not, it answers 429 and asks
// the client to retry after retryAfter. A Limiter without a limit admits
// everything.
func (l *Limiter) Reserve(cost int64) (release func(), ok bool, retryAfter time.Duration) {
	if l == nil || l.limit <= 0 {
		return func() {}, true, 0
	}
	cost = max(cost, 0)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.requests > 0 && l.inflight+cost > l.room() {
		return nil, false, l.Retry
	}
	l.requests++
	l.inflight += cost
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			l.requests--
			l.inflight -= cost
			l.mu.Unlock()
		})
	}, true, 0
}

// room returns the bytes that requests in flight may reserve together.
func (l *Limiter) room() int64 {
	return max(int64(l.High*float64(l.limit))-int64(l.Baseline()), l.MinRoom)
}

// InFlight returns the requests holding a reservation and the bytes they
// reserved.
func (l *Limiter) InFlight() (requests int, bytes int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.requests, l.inflight
}

// heapNow returns the bytes in heap objects right now, garbage not yet
// collected included.
func heapNow() uint64 {
	live, objects := heapReadings()
	return max(live, objects)
}

// heapLive returns the heap the last GC marked live.
func heapLive() uint64 {
	live, _ := heapReadings()
	return live
}

var liveSample = []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
var liveMu sync.Mutex // guards liveSample

// heapReadings returns the heap the last GC marked live and the bytes in
// heap objects now.
func heapReadings() (live, objects uint64) {
	liveMu.Lock()
	defer liveMu.Unlock()
	metrics.Read(liveSample)
	if liveSample[0].Value.Kind() == metrics.KindUint64 {
		live = liveSample[0].Value.Uint64()
	}
	if liveSample[1].Value.Kind() == metrics.KindUint64 {
		objects = liveSample[1].Value.Uint64()
	}
	return live, objects
}
