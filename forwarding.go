package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tinysink/tinysink/budget"
	"github.com/tinysink/tinysink/ingest/forward"
	"github.com/tinysink/tinysink/ingest/spool"
	"github.com/tinysink/tinysink/store/attach"
)

// forwarding owns the forwarder of a server (ingest/forward): it runs
// from the start when a forward DSN is set (-forward-dsn or a project's),
// else from the moment one is set, until the server stops.
type forwarding struct {
	cfg forward.Config
	log *slog.Logger

	mu  sync.Mutex // guards the fields below
	f   *forward.Forwarder
	ctx context.Context // the server's run context, once it runs
	wg  *sync.WaitGroup
}

// newForwarding returns the forwarding of sp, with the attachments of
// events in att; dsn gives each project's upstream. The forwarder itself
// starts with ensure.
func newForwarding(sp *spool.Spool, dir string, att *attach.Store, dsn func(int) string, maxBacklog int64, relay bool, log *slog.Logger) *forwarding {
	return &forwarding{log: log, cfg: forward.Config{
		Spool: sp, Dir: dir, DSN: dsn, Attachments: att, Primary: relay, MaxBacklog: maxBacklog, DropOldest: !relay,
		UserAgent: "tinysink/" + buildVersion(), Log: log,
		MinBackoff: forwardBackoff[0], MaxBackoff: forwardBackoff[1],
	}}
}

// forwardBackoff bounds the forwarder's retry backoff; zero: its defaults
// (1 s to 5 min). Tests shorten it.
var forwardBackoff [2]time.Duration

// ensure creates the forwarder if it does not exist yet, and starts it if
// the server runs.
func (fw *forwarding) ensure() error {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.f != nil {
		return nil
	}
	f, err := forward.New(fw.cfg)
	if err != nil {
		return err
	}
	fw.f = f
	fw.log.Info("forwarding", "cursor", f.Stats().Cursor)
	if fw.ctx != nil {
		fw.start()
	}
	return nil
}

// changed is the API's and UI's hook after a project's forward DSN
// changed.
func (fw *forwarding) changed() {
	if err := fw.ensure(); err != nil {
		fw.log.Error("forwarding could not start", "err", err)
	}
}

// run starts the forwarder, if any, under ctx, and any created later.
func (fw *forwarding) run(ctx context.Context, wg *sync.WaitGroup) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	fw.ctx, fw.wg = ctx, wg
	if fw.f != nil {
		fw.start()
	}
}

func (fw *forwarding) start() {
	f := fw.f
	fw.wg.Go(func() {
		if err := f.Run(fw.ctx); err != nil && !errors.Is(err, context.Canceled) {
			fw.log.Error("forwarding stopped", "err", err)
		}
	})
}

// forwarder returns the forwarder, nil while there is none.
func (fw *forwarding) forwarder() *forward.Forwarder {
	if fw == nil {
		return nil
	}
	fw.mu.Lock()
	defer fw.mu.Unlock()
	return fw.f
}

// stats returns the forwarder's figures, and false while there is none.
func (fw *forwarding) stats() (forward.Stats, bool) {
	if f := fw.forwarder(); f != nil {
		return f.Stats(), true
	}
	return forward.Stats{}, false
}

// Admit implements ingest's admission check (relay-only mode: the backlog
// bound).
func (fw *forwarding) Admit(project int) error {
	if f := fw.forwarder(); f != nil {
		return f.Admit(project)
	}
	return nil
}

// forwardConfig parses the forwarding settings.
func (c *config) forwardConfig() (maxBacklog int64, err error) {
	if c.Forward.DSN != "" {
		if _, err := forward.ParseDSN(c.Forward.DSN); err != nil {
			return 0, fmt.Errorf("-forward-dsn: %w", err)
		}
	}
	if maxBacklog, err = budget.ParseSize(c.Forward.MaxBacklog); err != nil {
		return 0, fmt.Errorf("-forward-max-backlog: %w", err)
	}
	if !c.Store && c.Forward.DSN == "" {
		return 0, errors.New("-store=false relays to -forward-dsn: set it")
	}
	return maxBacklog, nil
}

// writeForwardMetrics writes the forwarding figures.
func writeForwardMetrics(p *promWriter, st forward.Stats) {
	p.one("tinysink_forward_sent_total", "counter", "Items forwarded and accepted by the upstream.", float64(st.Sent))
	p.one("tinysink_forward_failed_total", "counter", "Items the upstream refused for good (4xx other than 408 and 429), skipped.", float64(st.Failed))
	p.one("tinysink_forward_retries_total", "counter", "Forward sends that failed and are tried again (network errors, 5xx, 408, 429).", float64(st.Retries))
	p.one("tinysink_forward_retrying", "gauge", "Items waiting now for another try.", float64(st.Retrying))
	p.one("tinysink_forward_dropped_total", "counter", "Items skipped unsent because the backlog passed -forward-max-backlog.", float64(st.Dropped))
	p.one("tinysink_forward_lag_items", "gauge", "Items in the spool not forwarded yet.", float64(st.LagItems))
	p.one("tinysink_forward_lag_bytes", "gauge", "Spool bytes not forwarded yet.", float64(st.LagBytes))
	p.one("tinysink_forward_lag_seconds", "gauge", "Age of the oldest item not forwarded yet (0 = none).", st.LagSeconds)
	p.one("tinysink_forward_last_sent_timestamp_seconds", "gauge", "When the upstream last accepted an item, in Unix seconds (0 = never).", unix(st.LastSent))
}
