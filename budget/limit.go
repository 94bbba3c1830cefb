package budget

import (
	"math"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// Limiter holds the process under a memory ceiling. It sets the Go memory
// limit and admits ingest work only while the live heap is comfortably
// below it, so that bursts wait in the SDKs (429 + Retry-After) and in the
// spool on disk instead of in RAM.
type Limiter struct {
	limit int64
	// High is the fraction of the limit the live heap may reach before
	// Admit refuses (default 0.7).
	High float64
	// Retry is what Admit asks a refused client to wait (default 1 s).
	Retry time.Duration
	// LiveHeap reads the live heap; tests replace it.
	LiveHeap func() uint64
}

// NewLimiter sets the Go memory limit to limit bytes (≤ 0: no limit) and
// returns a Limiter for it.
func NewLimiter(limit int64) *Limiter {
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	} else {
		debug.SetMemoryLimit(math.MaxInt64)
	}
	return &Limiter{limit: limit, High: 0.7, Retry: time.Second, LiveHeap: heapNow}
}

// Limit returns the ceiling in bytes (0 = none).
func (l *Limiter) Limit() int64 { return l.limit }

// Short reports whether the live heap is above the admission threshold.
func (l *Limiter) Short() bool {
	if l == nil || l.limit <= 0 {
		return false
	}
	return float64(l.LiveHeap()) > l.High*float64(l.limit)
}

// Admit implements ingest's admission check for memory: it refuses while
// memory is short, for any project.
func (l *Limiter) Admit(project int) (ok bool, retryAfter time.Duration, reason string) {
	if l.Short() {
		return false, l.Retry, "memory"
	}
	return true, 0, ""
}

// heapNow returns the bytes in heap objects right now, garbage not yet
// collected included: under a flood it rises before the next GC could tell
// what is live, which is when admission must start refusing.
func heapNow() uint64 {
	live, objects := heapReadings()
	return max(live, objects)
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
