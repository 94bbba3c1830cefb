package forward

import (
	"context"
	"errors"
	"sync"

	"github.com/tinysink/tinysink/budget/prom"
)

// Runner owns the forwarder of a server or a relay: it runs from the start
// when a forward DSN is set (-forward-dsn or a project's), else from the
// moment one is set, until the server stops. Its methods are safe for
// concurrent use, and a nil Runner has no forwarder.
type Runner struct {
	cfg Config

	mu  sync.Mutex // guards the fields below
	f   *Forwarder
	ctx context.Context // the server's run context, once it runs
	wg  *sync.WaitGroup
}

// NewRunner returns the Runner of a forwarder with cfg (cfg.Log must be
// set). The forwarder itself is created by Ensure.
func NewRunner(cfg Config) *Runner {
	return &Runner{cfg: cfg}
}

// Ensure creates the forwarder if it does not exist yet, and starts it if
// the server runs.
func (r *Runner) Ensure() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f != nil {
		return nil
	}
	f, err := New(r.cfg)
	if err != nil {
		return err
	}
	r.f = f
	r.cfg.Log.Info("forwarding", "cursor", f.Stats().Cursor)
	if r.ctx != nil {
		r.start()
	}
	return nil
}

// Changed is the API's and UI's hook after a project's forward DSN
// changed: it starts the forwarder if there is none yet.
func (r *Runner) Changed() {
	if err := r.Ensure(); err != nil {
		r.cfg.Log.Error("forwarding could not start", "err", err)
	}
}

// Run starts the forwarder, if any, under ctx, and any created later; wg
// counts them.
func (r *Runner) Run(ctx context.Context, wg *sync.WaitGroup) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ctx, r.wg = ctx, wg
	if r.f != nil {
		r.start()
	}
}

func (r *Runner) start() {
	f := r.f
	r.wg.Go(func() {
		if err := f.Run(r.ctx); err != nil && !errors.Is(err, context.Canceled) {
			r.cfg.Log.Error("forwarding stopped", "err", err)
		}
	})
}

// Forwarder returns the forwarder, nil while there is none.
func (r *Runner) Forwarder() *Forwarder {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.f
}

// Stats returns the forwarder's figures, and false while there is none.
func (r *Runner) Stats() (Stats, bool) {
	if f := r.Forwarder(); f != nil {
		return f.Stats(), true
	}
	return Stats{}, false
}

// Admit implements ingest's admission check (relay-only mode: the backlog
// bound).
func (r *Runner) Admit(project int) error {
	if f := r.Forwarder(); f != nil {
		return f.Admit(project)
	}
	return nil
}

// WriteMetrics writes the forwarding figures.
func (st Stats) WriteMetrics(p *prom.Writer) {
	p.One("tinysink_forward_sent_total", "counter", "Items forwarded and accepted by the upstream.", float64(st.Sent))
	p.One("tinysink_forward_failed_total", "counter", "Items the upstream refused for good (4xx other than 408 and 429), skipped.", float64(st.Failed))
	p.One("tinysink_forward_retries_total", "counter", "Forward sends that failed and are tried again (network errors, 5xx, 408, 429).", float64(st.Retries))
	p.One("tinysink_forward_retrying", "gauge", "Items waiting now for another try.", float64(st.Retrying))
	p.One("tinysink_forward_dropped_total", "counter", "Items skipped unsent because the backlog passed -forward-max-backlog.", float64(st.Dropped))
	p.One("tinysink_forward_lag_items", "gauge", "Items in the spool not forwarded yet.", float64(st.LagItems))
	p.One("tinysink_forward_lag_bytes", "gauge", "Spool bytes not forwarded yet.", float64(st.LagBytes))
	p.One("tinysink_forward_lag_seconds", "gauge", "Age of the oldest item not forwarded yet (0 = none).", st.LagSeconds)
	p.One("tinysink_forward_last_sent_timestamp_seconds", "gauge", "When the upstream last accepted an item, in Unix seconds (0 = never).", prom.Unix(st.LastSent))
}
