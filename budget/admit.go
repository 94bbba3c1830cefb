package budget

import (
	"errors"
	"time"
)

// AdmitError is an admission check's refusal of an event (ingest's
// Admitter, the memory Limiter): why, and when to try again. Reason is a
// sentinel, compared with errors.Is (ErrMemory, disk.ErrFull, the
// quotas' ErrProjectQuota and ErrOrgQuota, ...), whose text is the reason
// code that ingest sends in X-Sentry-Rate-Limits and logs.
type AdmitError struct {
	Reason     error
	RetryAfter time.Duration
}

func (e *AdmitError) Error() string {
	return "event refused (" + e.Reason.Error() + "); retry after " + e.RetryAfter.String()
}

// Unwrap returns the reason, so that errors.Is(err, ErrMemory) holds for
// a refusal for memory.
func (e *AdmitError) Unwrap() error { return e.Reason }

// ErrMemory is the reason of a refusal under memory pressure: the requests
// in flight would take the process past its ceiling.
var ErrMemory = errors.New("memory")
