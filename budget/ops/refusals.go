package ops

import (
	"sync"
	"time"

	"github.com/tinysink/tinysink/ingest"
)

// Refusals is an ingest.Admitter that passes every question to the one it
// wraps and counts the refusals by reason (memory, project_quota,
// org_quota, disk_full).
type Refusals struct {
	next ingest.Admitter

	mu sync.Mutex // guards n
	n  map[string]int64
}

// CountRefusals wraps next.
func CountRefusals(next ingest.Admitter) *Refusals {
	return &Refusals{next: next, n: map[string]int64{}}
}

// Admit asks the wrapped Admitter and counts a refusal.
func (r *Refusals) Admit(project int) (bool, time.Duration, string) {
	ok, after, reason := r.next.Admit(project)
	if !ok {
		r.mu.Lock()
		r.n[reason]++
		r.mu.Unlock()
	}
	return ok, after, reason
}

// Counts returns the refusals so far by reason.
func (r *Refusals) Counts() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int64, len(r.n))
	for k, v := range r.n {
		out[k] = v
	}
	return out
}
