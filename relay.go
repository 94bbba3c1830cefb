package main

// Relay-only mode (-store=false): a durable edge buffer. Ingest
// authenticates against the -forward-dsn's project and key, spools every
// accepted item, and the forwarder sends the spool on to the upstream.
// No store, UI, API, digest worker or alert sender is opened, so that it
// idles in a few MiB.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tinysink/tinysink/budget"
	"github.com/tinysink/tinysink/ingest"
	"github.com/tinysink/tinysink/ingest/forward"
	"github.com/tinysink/tinysink/ingest/quota"
	"github.com/tinysink/tinysink/ingest/spool"
	"github.com/tinysink/tinysink/store"
)

// relayProject is the one project a relay takes events for: the upstream
// DSN's, with its key, so that SDKs keep their DSN with only the host
// changed to the relay's.
type relayProject struct {
	id  int
	key string
}

func (p relayProject) ProjectKey(id int) (string, bool) {
	if id != p.id {
		return "", false
	}
	return p.key, true
}

// relay is a running relay-only server.
type relay struct {
	log     *slog.Logger
	sp      *spool.Spool
	fwd     *forwarding
	ing     *ingest.Handler
	disk    *store.DiskGuard
	ln      net.Listener
	http    *http.Server
	start   time.Time
	version string
	// metricsLn and metrics serve -metrics-addr, when set.
	metricsLn net.Listener
	metrics   *http.Server
}

// runRelay serves in relay-only mode until SIGINT or SIGTERM.
func runRelay(c *config, log *slog.Logger, stdout, stderr io.Writer) error {
	r, err := newRelay(c, log)
	if err != nil {
		return err
	}
	defer r.close()
	dsn, _ := forward.ParseDSN(c.Forward.DSN)
	fmt.Fprintf(stdout, "tinysink %s relaying on %s to %s\n", buildVersion(), r.ln.Addr(), dsn.Endpoint)
	fmt.Fprintf(stdout, "  data:  %s\n", c.Data)
	fmt.Fprintf(stdout, "  DSN:   %s/%s (the upstream's key and project)\n", strings.Replace(baseURL(c, r.ln), "://", "://"+dsn.Key+"@", 1), dsn.Project)
	log.Info("tinysink relay ready", "addr", r.ln.Addr().String(), "version", buildVersion(), "data", c.Data, "upstream", dsn.Endpoint)
	ctx, stop := shutdownSignals(stderr)
	defer stop()
	return r.serve(ctx)
}

// newRelay opens the spool and the forwarder and starts listening.
func newRelay(c *config, log *slog.Logger) (_ *relay, err error) {
	limit, maxEv, maxEvC, maxEnv, maxEnvC, err := c.sizes()
	if err != nil {
		return nil, err
	}
	maxBacklog, err := c.forwardConfig()
	if err != nil {
		return nil, err
	}
	dsn, _ := forward.ParseDSN(c.Forward.DSN)
	pid, err := strconv.Atoi(dsn.Project)
	if err != nil || pid <= 0 || pid > 999999999 {
		return nil, fmt.Errorf("-forward-dsn: project id %q out of range", dsn.Project)
	}
	minFree, minFreeFrac, err := store.ParseMinFree(c.MinFreeDisk)
	if err != nil {
		return nil, fmt.Errorf("-min-free-disk: %w", err)
	}
	maxConns, err := strconv.Atoi(strings.TrimSpace(c.MaxConns))
	if err != nil || maxConns < 0 {
		return nil, fmt.Errorf("-max-conns: bad number %q", c.MaxConns)
	}
	r := &relay{log: log, start: time.Now(), version: buildVersion()}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	if err := os.MkdirAll(c.Data, 0o700); err != nil {
		return nil, err
	}
	r.disk = &store.DiskGuard{Dir: c.Data, MinFree: minFree, MinFreeFrac: minFreeFrac}
	spoolDir := filepath.Join(c.Data, "spool")
	if r.sp, err = spool.Open(spoolDir, spool.Options{}); err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	// Attachments (minidumps included) wait on disk for their event's
	// forwarding, which deletes them; what an interrupted request left is
	// swept at the start.
	att, maxAge, err := openAttachments(c)
	if err != nil {
		return nil, err
	}
	att.Sweep(func(int, string) bool { return true }, maxAge)
	r.fwd = newForwarding(r.sp, spoolDir, att, func(int) string { return c.Forward.DSN }, maxBacklog, true, log.With("component", "forward"))
	if err := r.fwd.ensure(); err != nil {
		return nil, err
	}
	if r.ln, err = net.Listen("tcp", c.Addr); err != nil {
		return nil, err
	}
	conns := ingest.NewConnLimiter(maxConns)
	r.ln = conns.Listener(r.ln)
	refusals := NewRefusals(log.With("component", "ingest"))
	r.ing = ingest.New(ingest.Config{
		Projects: relayProject{id: pid, key: dsn.Key},
		Admit:    quota.Admitters{r.disk, r.sp, r.fwd}, Memory: budget.NewLimiter(limit), Spool: r.sp, Attachments: att,
		Logger: log.With("component", "ingest"), BaseURL: baseURL(c, r.ln), TrustProxy: c.TrustProxy,
		OnAccept: refusals.Accepted, OnRefuse: refusals.Refused,
		MaxEventSize: maxEv, MaxEventCompressedSize: maxEvC, MaxEnvelopeSize: maxEnv, MaxEnvelopeCompressedSize: maxEnvC,
	})
	mux := http.NewServeMux()
	r.ing.Register(mux)
	mux.HandleFunc("GET /health/live", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "OK") })
	mux.HandleFunc("GET /health/ready", r.handleReady)
	if c.MetricsAddr != "" {
		if r.metricsLn, err = net.Listen("tcp", c.MetricsAddr); err != nil {
			return nil, fmt.Errorf("-metrics-addr: %w", err)
		}
		m := http.NewServeMux()
		m.HandleFunc("GET /metrics", r.handleMetrics)
		m.HandleFunc("GET /health/ready", r.handleReady)
		r.metrics = &http.Server{Handler: m, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
	} else {
		// A relay has no API tokens: /metrics (counts only) is open.
		mux.HandleFunc("GET /metrics", r.handleMetrics)
	}
	r.http = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		ConnState:         conns.ConnState,
	}
	return r, nil
}

// serve runs the forwarder and the HTTP server until ctx is done.
func (r *relay) serve(ctx context.Context) error {
	wctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	r.fwd.run(wctx, &wg)
	err := serveHTTP(ctx, r.log, r.http, r.ln, r.metrics, r.metricsLn)
	cancel()
	wg.Wait()
	return err
}

func (r *relay) close() {
	if r.ln != nil {
		r.ln.Close()
	}
	if r.metricsLn != nil {
		r.metricsLn.Close()
	}
	if r.sp != nil {
		r.sp.Close()
	}
}

// handleReady answers 200 while the relay can take events: the spool
// writes, the disk is not full and the backlog is under its bound.
func (r *relay) handleReady(w http.ResponseWriter, _ *http.Request) {
	var reasons []string
	for _, a := range []interface{ Admit(int) error }{r.disk, r.sp, r.fwd} {
		if err := a.Admit(0); err != nil {
			var ae *budget.AdmitError
			if errors.As(err, &ae) {
				err = ae.Reason
			}
			reasons = append(reasons, err.Error())
		}
	}
	if len(reasons) == 0 {
		io.WriteString(w, "OK")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusServiceUnavailable)
	json.NewEncoder(w).Encode(map[string]any{"ready": false, "reasons": reasons})
}

// handleMetrics serves the relay's /metrics: ingest, spool, forwarding and
// memory.
func (r *relay) handleMetrics(w http.ResponseWriter, _ *http.Request) {
	var p promWriter
	p.family("tinysink_build_info", "gauge", "The running build; the value is always 1.")
	p.sample("tinysink_build_info", 1, "version", r.version, "mode", "relay")
	p.one("tinysink_start_time_seconds", "gauge", "When the process started, in Unix seconds.", unix(r.start))
	c := r.ing.Counters()
	p.one("tinysink_events_accepted_total", "counter", "Events written to the spool and acknowledged.", float64(c.Accepted))
	p.family("tinysink_events_refused_total", "counter", "Requests refused by ingest, by reason.")
	p.sample("tinysink_events_refused_total", float64(c.RefusedAuth), "reason", "auth")
	p.sample("tinysink_events_refused_total", float64(c.RefusedSize), "reason", "size")
	p.sample("tinysink_events_refused_total", float64(c.RefusedMalformed), "reason", "malformed")
	p.sample("tinysink_events_refused_total", float64(c.RefusedAdmission), "reason", "admission")
	p.one("tinysink_envelope_items_kept_total", "counter", "Envelope items that are not events spooled.", float64(c.Items))
	ss := r.sp.Stats()
	p.one("tinysink_spool_files", "gauge", "Spool segment files on disk.", float64(ss.Files))
	p.one("tinysink_spool_bytes", "gauge", "Bytes of the spool segment files.", float64(ss.Bytes))
	if st, ok := r.fwd.stats(); ok {
		writeForwardMetrics(&p, st)
	}
	m := budget.Read(false)
	p.one("tinysink_memory_rss_bytes", "gauge", "Resident memory (VmRSS): what ps shows.", float64(m.RSS))
	p.one("tinysink_memory_rss_anon_bytes", "gauge", "Anonymous resident memory (RssAnon).", float64(m.RSSAnon))
	p.one("tinysink_go_heap_inuse_bytes", "gauge", "Go heap in use (HeapInuse).", float64(m.HeapInUse))
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(p.b.Bytes())
}
