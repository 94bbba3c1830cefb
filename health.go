package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/tinysink/tinysink/budget"
	"github.com/tinysink/tinysink/ingest/spool"
)

// Readiness is the outcome of the readiness check.
type Readiness struct {
	// Reasons lists what is wrong; empty when ready.
	Reasons []string `json:"reasons,omitempty"`
	// Backlog is the age of the oldest event not yet digested (0 = none).
	Backlog time.Duration `json:"-"`
}

// Ready reports whether the server keeps what it accepts.
func (r Readiness) Ready() bool { return len(r.Reasons) == 0 }

// check is one run of the readiness checks, shared by the callers that
// arrive while it runs.
type check struct {
	done chan struct{}
	res  Readiness
}

// Ready runs the readiness checks. It fails when
//
//   - the digest has committed no batch for StallAfter while the spool holds
//     an event older than StallAfter (a stalled or failing worker);
//   - the data directory's disk is below its free-space threshold;
//   - the spool has no segment file to write to (a full disk at start);
//   - the data directory's file system is read-only, or the write probe
//     (at most every ProbeEvery) fails;
//   - ingest has refused the events of a project for one reason for
//     30 s with none of them accepted (Refusals: sustained refusals of
//     memory, quota or disk);
//   - the checks do not finish within CheckTimeout (a store or disk that
//     does not answer).
func (w *Watch) Ready() Readiness {
	w.mu.Lock()
	c := w.pending
	if c == nil {
		c = &check{done: make(chan struct{})}
		w.pending = c
		go func() {
			c.res = w.check()
			w.mu.Lock()
			w.pending = nil
			w.mu.Unlock()
			close(c.done)
		}()
	}
	w.mu.Unlock()
	t := time.NewTimer(w.CheckTimeout)
	defer t.Stop()
	select {
	case <-c.done:
		return c.res
	case <-t.C:
		return Readiness{Reasons: []string{fmt.Sprintf("the store or the disk did not answer within %s", w.CheckTimeout)}}
	}
}

func (w *Watch) check() Readiness {
	var r Readiness
	now := w.Now()
	oldest, err := w.oldestUndigested()
	if err != nil {
		r.Reasons = append(r.Reasons, "cannot read the spool: "+err.Error())
	}
	st := w.cfg.Worker.Stats()
	if !oldest.IsZero() {
		r.Backlog = max(0, now.Sub(oldest))
		last := st.LastBatch
		if last.IsZero() {
			last = w.start
		}
		if r.Backlog > w.StallAfter && now.Sub(last) > w.StallAfter {
			msg := fmt.Sprintf("digest stalled: no batch committed for %s while the oldest spooled event waits for %s",
				round(now.Sub(last)), round(r.Backlog))
			if w.cfg.DB.BackupRunning() {
				msg += " (a backup is holding the store)"
			}
			r.Reasons = append(r.Reasons, msg)
		}
	}
	if err := w.cfg.Spool.Unavailable(); err != nil {
		r.Reasons = append(r.Reasons, "the spool cannot start a segment file, so ingest refuses events (retried every 10 s): "+err.Error())
	}
	if g := w.cfg.Disk; g != nil {
		low, sp, _ := g.Low()
		if sp.ReadOnly {
			r.Reasons = append(r.Reasons, "the data directory's file system is mounted read-only")
		}
		if low {
			r.Reasons = append(r.Reasons, fmt.Sprintf("disk nearly full: %s available of %s (threshold %s); ingest refuses events",
				budget.FormatSize(sp.Avail), budget.FormatSize(sp.Total), budget.FormatSize(g.Threshold(sp.Total))))
		}
	}
	if rf := w.cfg.Refusals; rf != nil {
		for _, su := range rf.Sustained() {
			name := "?"
			if p, err := w.cfg.DB.Project(su.Project); err == nil {
				name = p.Slug
			}
			r.Reasons = append(r.Reasons, fmt.Sprintf("ingest refusing events: %s (project %d '%s') for %s, %d refused",
				su.Reason, su.Project, name, rf.Now().Sub(su.Since).Round(time.Second), su.Refused))
		}
	}
	if err := w.probe(now, st.LastBatch); err != nil {
		r.Reasons = append(r.Reasons, "the data directory does not take writes: "+err.Error())
	}
	return r
}

// probe returns whether writing to the data directory works, probing at
// most every ProbeEvery. A digest batch committed since the last probe
// proves it without writing anything.
func (w *Watch) probe(now, lastBatch time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	// A batch committed since the last probe is checked first: it clears
	// a failed probe at once when the disk takes writes again.
	if !w.probeAt.IsZero() && lastBatch.After(w.probeAt) {
		w.probeAt, w.probeOK = now, nil
		return nil
	}
	if !w.probeAt.IsZero() && now.Sub(w.probeAt) < w.ProbeEvery && !now.Before(w.probeAt) {
		return w.probeOK
	}
	w.probeAt, w.probeOK = now, w.cfg.DB.ProbeWrite()
	return w.probeOK
}

// oldestUndigested returns when the oldest event that the digest has not
// committed yet was ingested (zero when there is none). It starts at the
// position the store records with each batch, so events of a segment that
// is digested but not yet released do not count.
func (w *Watch) oldestUndigested() (time.Time, error) {
	s, err := w.cfg.DB.SpoolPos()
	if err != nil {
		return time.Time{}, err
	}
	pos, err := spool.ParsePos(s)
	if err != nil {
		return time.Time{}, err
	}
	var oldest time.Time
	_, err = w.cfg.Spool.ReadFrom(pos, 1, 1, func(r *spool.Record, _ spool.Pos) error {
		oldest = r.IngestedAt
		return nil
	})
	return oldest, err
}

func round(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }

// handleLive serves GET /health/live: the process is up and serving.
func (w *Watch) handleLive(rw http.ResponseWriter, r *http.Request) {
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(rw, "OK\n")
}

// handleReady serves GET /health/ready: 200 "OK", or 503 with
// {"status":"unavailable","reasons":[...]}.
func (w *Watch) handleReady(rw http.ResponseWriter, r *http.Request) {
	rd := w.Ready()
	rw.Header().Set("Cache-Control", "no-store")
	if rd.Ready() {
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(rw, "OK\n")
		return
	}
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(http.StatusServiceUnavailable)
	json.NewEncoder(rw).Encode(struct {
		Status  string   `json:"status"`
		Reasons []string `json:"reasons"`
	}{"unavailable", rd.Reasons})
}
