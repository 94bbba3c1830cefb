// Package relay is tinysink's relay-only mode (-store=false): a durable
// edge buffer. Ingest authenticates against the forward DSN's project and
// key, spools every accepted item, and the forwarder sends the spool on to
// the upstream. No store, UI, API, digest worker or alert sender exists
// here, and this package imports none of them: the relay binary
// (ingest/cmd/relay, tinysink-relay) is built from it alone, so that a relay
// idles in a few MiB. `tinysink -store=false` parses the settings into a
// Config and executes that binary when it is beside it, else runs Main in
// its own process.
package relay

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
	"github.com/tinysink/tinysink/budget/prom"
	"github.com/tinysink/tinysink/ingest"
	"github.com/tinysink/tinysink/ingest/forward"
	"github.com/tinysink/tinysink/ingest/httpserve"
	"github.com/tinysink/tinysink/ingest/quota"
	"github.com/tinysink/tinysink/ingest/spool"
	"github.com/tinysink/tinysink/store/attach"
	"github.com/tinysink/tinysink/store/disk"
)

// Config is a relay's settings, parsed and checked by tinysink's flags
// (config.go in package main), which hands them to the relay binary as
// JSON in the environment variable ConfigEnv.
type Config struct {
	Version string `json:"version"`
	// Addr, BaseURL, MetricsAddr and TrustProxy are -addr, -base-url,
	// -metrics-addr and -trust-proxy.
	Addr        string `json:"addr"`
	BaseURL     string `json:"base_url"`
	MetricsAddr string `json:"metrics_addr"`
	TrustProxy  bool   `json:"trust_proxy"`
	// Data is the data directory: the spool and the attachments.
	Data string `json:"data"`
	// ForwardDSN is the upstream; SDKs send with its key and project id.
	ForwardDSN string `json:"forward_dsn"`
	// MaxBacklog bounds the spool bytes not yet forwarded (0: no bound).
	MaxBacklog int64 `json:"max_backlog"`
	// MemoryLimit is -memory-limit, in bytes.
	MemoryLimit int64 `json:"memory_limit"`
	// The ingest size limits, in bytes.
	MaxEvent           int64 `json:"max_event"`
	MaxEventCompressed int64 `json:"max_event_compressed"`
	MaxEnvelope        int64 `json:"max_envelope"`
	MaxEnvelopeCompr   int64 `json:"max_envelope_compressed"`
	// MinFree and MinFreeFrac are -min-free-disk.
	MinFree     int64   `json:"min_free"`
	MinFreeFrac float64 `json:"min_free_frac"`
	// MaxConns is -max-conns (0: no cap).
	MaxConns int `json:"max_conns"`
	// The attachment limits: per event and per project in bytes, and how
	// long an attachment may wait for its event.
	AttachEventBytes   int64         `json:"attach_event_bytes"`
	AttachProjectBytes int64         `json:"attach_project_bytes"`
	AttachMaxAge       time.Duration `json:"attach_max_age"`
	// LogLevel and LogFormat are -log-level and -log-format.
	LogLevel  string `json:"log_level"`
	LogFormat string `json:"log_format"`
	// MinBackoff and MaxBackoff bound the forwarder's retry backoff (zero:
	// its defaults); tests shorten them.
	MinBackoff time.Duration `json:"min_backoff,omitempty"`
	MaxBackoff time.Duration `json:"max_backoff,omitempty"`
}

// ConfigEnv is the environment variable through which tinysink hands a
// relay binary its Config (JSON).
const ConfigEnv = "TINYSINK_RELAY_CONFIG"

// Binary is the relay binary's file name; tinysink looks for it beside
// itself.
const Binary = "tinysink-relay"

// DecodeConfig parses a Config handed over in ConfigEnv. Unknown fields
// are an error: a relay binary of another version than tinysink's says so
// rather than ignoring a setting.
func DecodeConfig(s string) (Config, error) {
	var c Config
	d := json.NewDecoder(strings.NewReader(s))
	d.DisallowUnknownFields()
	if err := d.Decode(&c); err != nil {
		return c, fmt.Errorf("%s: %w (is %s from the same build as tinysink?)", ConfigEnv, err, Binary)
	}
	return c, nil
}

// project is the one project a relay takes events for: the upstream DSN's,
// with its key, so that SDKs keep their DSN with only the host changed to
// the relay's.
type project struct {
	id  int
	key string
}

func (p project) ProjectKey(id int) (string, bool) {
	if id != p.id {
		return "", false
	}
	return p.key, true
}

// Relay is a running relay-only server.
type Relay struct {
	log *slog.Logger
	sp  *spool.Spool
	fwd *forward.Runner
	ing *ingest.Handler
	// refusals counts ingest's admission refusals by reason.
	refusals *ingest.Refusals
	disk     *disk.Guard
	ln       net.Listener
	base     string // the base URL: -base-url, else from the listener
	http     *http.Server
	start    time.Time
	version  string
	// metricsLn and metrics serve -metrics-addr, when set.
	metricsLn net.Listener
	metrics   *http.Server
}

// Main serves in relay-only mode until SIGINT or SIGTERM, after printing
// where it listens and the DSN for SDKs to stdout.
func Main(c Config, log *slog.Logger, stdout, stderr io.Writer) error {
	r, err := New(c, log)
	if err != nil {
		return err
	}
	defer r.Close()
	dsn, _ := forward.ParseDSN(c.ForwardDSN)
	fmt.Fprintf(stdout, "tinysink %s relaying on %s to %s\n", c.Version, r.ln.Addr(), dsn.Endpoint)
	fmt.Fprintf(stdout, "  data:  %s\n", c.Data)
	fmt.Fprintf(stdout, "  DSN:   %s/%s (the upstream's key and project)\n", strings.Replace(r.base, "://", "://"+dsn.Key+"@", 1), dsn.Project)
	log.Info("tinysink relay ready", "addr", r.ln.Addr().String(), "version", c.Version, "data", c.Data, "upstream", dsn.Endpoint)
	ctx, stop := httpserve.Signals(stderr)
	defer stop()
	return r.Serve(ctx)
}

// New opens the spool and the forwarder and starts listening.
func New(c Config, log *slog.Logger) (_ *Relay, err error) {
	dsn, err := forward.ParseDSN(c.ForwardDSN)
	if err != nil {
		return nil, fmt.Errorf("-forward-dsn: %w", err)
	}
	pid, err := strconv.Atoi(dsn.Project)
	if err != nil || pid <= 0 || pid > 999999999 {
		return nil, fmt.Errorf("-forward-dsn: project id %q out of range", dsn.Project)
	}
	r := &Relay{log: log, start: time.Now(), version: c.Version}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if err := os.MkdirAll(c.Data, 0o700); err != nil {
		return nil, err
	}
	r.disk = &disk.Guard{Dir: c.Data, MinFree: c.MinFree, MinFreeFrac: c.MinFreeFrac}
	spoolDir := filepath.Join(c.Data, "spool")
	if r.sp, err = spool.Open(spoolDir, spool.Options{}); err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	// Attachments (minidumps included) wait on disk for their event's
	// forwarding, which deletes them; what an interrupted request left is
	// swept at the start.
	att, err := attach.Open(filepath.Join(c.Data, "attachments"))
	if err != nil {
		return nil, err
	}
	att.MaxEventBytes, att.MaxProjectBytes = c.AttachEventBytes, c.AttachProjectBytes
	att.Sweep(func(int, string) bool { return true }, c.AttachMaxAge)
	flog := log.With("component", "forward")
	r.fwd = forward.NewRunner(forward.Config{
		Spool: r.sp, Dir: spoolDir, DSN: func(int) string { return c.ForwardDSN }, Attachments: att,
		Primary: true, MaxBacklog: c.MaxBacklog, UserAgent: "tinysink/" + c.Version, Log: flog,
		MinBackoff: c.MinBackoff, MaxBackoff: c.MaxBackoff,
	})
	if err := r.fwd.Ensure(); err != nil {
		return nil, err
	}
	if r.ln, err = net.Listen("tcp", c.Addr); err != nil {
		return nil, err
	}
	conns := ingest.NewConnLimiter(c.MaxConns)
	r.ln = conns.Listener(r.ln)
	r.base = httpserve.BaseURL(c.BaseURL, c.Addr, r.ln)
	r.refusals = ingest.NewRefusals(log.With("component", "ingest"))
	r.ing = ingest.New(ingest.Config{
		Projects: project{id: pid, key: dsn.Key},
		Admit:    quota.Admitters{r.disk, r.sp, r.fwd}, Memory: budget.NewLimiter(c.MemoryLimit), Spool: r.sp, Attachments: att,
		Logger: log.With("component", "ingest"), BaseURL: r.base, TrustProxy: c.TrustProxy,
		OnAccept: r.refusals.Accepted, OnRefuse: r.refusals.Refused,
		MaxEventSize: c.MaxEvent, MaxEventCompressedSize: c.MaxEventCompressed, MaxEnvelopeSize: c.MaxEnvelope, MaxEnvelopeCompressedSize: c.MaxEnvelopeCompr,
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
		r.metrics = httpserve.NewMetricsServer(m)
	} else {
		// A relay has no API tokens: /metrics (counts only) is open.
		mux.HandleFunc("GET /metrics", r.handleMetrics)
	}
	r.http = httpserve.NewServer(mux, log, conns.ConnState)
	return r, nil
}

// Addr is the address the relay listens on.
func (r *Relay) Addr() net.Addr { return r.ln.Addr() }

// Spool is the relay's spool.
func (r *Relay) Spool() *spool.Spool { return r.sp }

// ForwardStats returns the forwarder's figures.
func (r *Relay) ForwardStats() forward.Stats {
	st, _ := r.fwd.Stats()
	return st
}

// Serve runs the forwarder and the HTTP server until ctx is done.
func (r *Relay) Serve(ctx context.Context) error {
	wctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	r.fwd.Run(wctx, &wg)
	err := httpserve.Serve(ctx, r.log, r.http, r.ln, r.metrics, r.metricsLn)
	cancel()
	wg.Wait()
	return err
}

// Close releases the listeners and the spool.
func (r *Relay) Close() {
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
func (r *Relay) handleReady(w http.ResponseWriter, _ *http.Request) {
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
func (r *Relay) handleMetrics(w http.ResponseWriter, _ *http.Request) {
	var p prom.Writer
	p.Family("tinysink_build_info", "gauge", "The running build; the value is always 1.")
	p.Sample("tinysink_build_info", 1, "version", r.version, "mode", "relay")
	p.One("tinysink_start_time_seconds", "gauge", "When the process started, in Unix seconds.", prom.Unix(r.start))
	r.ing.WriteMetrics(&p, r.refusals)
	r.sp.Stats().WriteMetrics(&p)
	if st, ok := r.fwd.Stats(); ok {
		st.WriteMetrics(&p)
	}
	m := budget.Read(false)
	p.One("tinysink_memory_rss_bytes", "gauge", "Resident memory (VmRSS): what ps shows.", float64(m.RSS))
	p.One("tinysink_memory_rss_anon_bytes", "gauge", "Anonymous resident memory (RssAnon).", float64(m.RSSAnon))
	p.One("tinysink_go_heap_inuse_bytes", "gauge", "Go heap in use (HeapInuse).", float64(m.HeapInUse))
	w.Header().Set("Content-Type", prom.ContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(p.Bytes())
}
