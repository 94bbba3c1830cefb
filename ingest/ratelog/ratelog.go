// Package ratelog writes log lines about events that were refused or
// dropped, at most one per reason and project per interval: the first one
// is written at once, and the next one written for the same reason and
// project says how many were suppressed in between.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultEvery is the default interval: one line per reason and project
// per minute.
const DefaultEvery = time.Minute

// maxKeys bounds the reasons and projects remembered at once; past it
// (project ids come from request paths), old ones are forgotten and new
// ones share one key.
const maxKeys = 1024

// Limiter writes rate-limited lines to a logger. Safe for concurrent use.
type Limiter struct {
	log   *slog.Logger
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex // guards seen
	seen map[key]*entry
}

type key struct {
	reason  string
	project int
}

type entry struct {
	last       time.Time // when a line was last written
	suppressed int64     // lines not written since
}

// New returns a Limiter writing to log at most once per every (0:
// DefaultEvery) per reason and project. now may be nil (time.Now).
func New(log *slog.Logger, every time.Duration, now func() time.Time) *Limiter {
	if every <= 0 {
		every = DefaultEvery
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{log: log, every: every, now: now, seen: map[key]*entry{}}
}

// Log writes msg at level with reason, project_id and attrs, unless a line
// for the same reason and project was written less than the interval ago;
// then it only counts it. A written line carries "suppressed" with the
// number of lines left out since the previous one, when there were any.
func (l *Limiter) Log(level slog.Level, msg, reason string, project int, attrs ...any) {
	if l == nil || !l.log.Enabled(context.Background(), level) {
		return
	}
	now := l.now()
	k := key{reason, project}
	l.mu.Lock()
	e := l.seen[k]
	if e == nil {
		if len(l.seen) >= maxKeys {
			l.forget(now)
		}
		if len(l.seen) >= maxKeys {
			k.project = -1
			e = l.seen[k]
		}
		if e == nil {
			e = &entry{}
			l.seen[k] = e
		}
	}
	if !e.last.IsZero() && now.Sub(e.last) < l.every && !now.Before(e.last) {
		e.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := e.suppressed
	e.last, e.suppressed = now, 0
	l.mu.Unlock()

	args := make([]any, 0, len(attrs)+6)
	args = append(args, "reason", reason, "project_id", project)
	args = append(args, attrs...)
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	l.log.Log(context.Background(), level, msg, args...)
}

// forget drops the keys with nothing suppressed whose last line is older
// than the interval. l.mu is held.
func (l *Limiter) forget(now time.Time) {
	for k, e := range l.seen {
		if e.suppressed == 0 && now.Sub(e.last) >= l.every {
			delete(l.seen, k)
		}
	}
}
