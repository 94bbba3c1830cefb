package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tinysink/tinysink/alerts"
	"github.com/tinysink/tinysink/budget"
	"github.com/tinysink/tinysink/digest"
	"github.com/tinysink/tinysink/digest/minidump/symstore"
	"github.com/tinysink/tinysink/digest/sourcemap"
	"github.com/tinysink/tinysink/ingest"
	"github.com/tinysink/tinysink/ingest/quota"
	"github.com/tinysink/tinysink/ingest/spool"
	"github.com/tinysink/tinysink/store"
	"github.com/tinysink/tinysink/store/attach"
	"github.com/tinysink/tinysink/ui"
)

func cmdServe(args []string, stdout, stderr io.Writer) error {
	c, pos, err := parseFlags("tinysink serve", args, stderr)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("unexpected argument %q (try tinysink -h)", pos[0])
	}
	log, err := newLogger(c, stderr)
	if err != nil {
		return err
	}
	s, err := newServer(c, log)
	if err != nil {
		return err
	}
	defer s.close()
	fmt.Fprintf(stdout, "tinysink %s listening on %s\n", buildVersion(), s.base)
	fmt.Fprintf(stdout, "  data:  %s\n", c.Data)
	fmt.Fprintf(stdout, "  UI:    %s/\n", s.base)
	if ps, err := s.db.Projects(); err == nil && len(ps) > 0 {
		fmt.Fprintf(stdout, "  DSN:   %s\n", ui.DSN(s.base, &ps[0]))
	}
	if s.adminMsg != "" {
		fmt.Fprint(stdout, s.adminMsg)
	}
	log.Info("tinysink ready", "addr", s.ln.Addr().String(), "version", buildVersion(), "data", c.Data, "memory_limit", s.limiter.Limit())

	ctx, stop := shutdownSignals(stderr)
	defer stop()
	return s.serve(ctx)
}

// shutdownSignals returns a context that SIGINT or SIGTERM cancels, for a
// graceful shutdown; a second signal while it runs exits at once (what is
// acknowledged is in the fsync'd spool, and the store survives a crash).
// stop releases the signals.
func shutdownSignals(stderr io.Writer) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sig:
		case <-done:
			return
		}
		cancel()
		select {
		case s := <-sig:
			fmt.Fprintf(stderr, "tinysink: %v again: stopping at once\n", s)
			os.Exit(1)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sig)
		close(done)
		cancel()
	}
}

// server is a running tinysink: store, spool, digest worker and HTTP.
type server struct {
	log      *slog.Logger
	db       *store.DB
	sp       *spool.Spool
	worker   *digest.Worker
	limiter  *budget.Limiter
	quota    *quota.Quota
	alerts   *alerts.Sender
	ln       net.Listener
	conns    *ingest.ConnLimiter
	http     *http.Server
	base     string
	adminMsg string
	disk     *store.DiskGuard
	ops      *Watch
	// metricsLn and metrics serve -metrics-addr, when set.
	metricsLn net.Listener
	metrics   *http.Server
}

// newServer opens the data directory and starts listening; serve then runs
// it. On error everything opened is closed again.
func newServer(c *config, log *slog.Logger) (_ *server, err error) {
	limit, maxEv, maxEvC, maxEnv, maxEnvC, err := c.sizes()
	if err != nil {
		return nil, err
	}
	maxAge, err := parseAge(c.MaxEventAge)
	if err != nil {
		return nil, fmt.Errorf("-max-event-age: %w", err)
	}
	projQuota, installQuota, err := c.quotas()
	if err != nil {
		return nil, err
	}
	itemQuotas, err := c.itemQuotas(projQuota)
	if err != nil {
		return nil, err
	}
	maxConns, err := strconv.Atoi(strings.TrimSpace(c.MaxConns))
	if err != nil || maxConns < 0 {
		return nil, fmt.Errorf("-max-conns: bad number %q", c.MaxConns)
	}
	smtp, perHour, outbound, err := c.alertsConfig()
	if err != nil {
		return nil, err
	}
	noPassword, proxyAuth, oidc, err := c.login()
	if err != nil {
		return nil, err
	}
	maxDisk, err := budget.ParseSize(c.MaxDisk)
	if err != nil {
		return nil, fmt.Errorf("-max-disk: %w", err)
	}
	minFree, minFreeFrac, err := store.ParseMinFree(c.MinFreeDisk)
	if err != nil {
		return nil, fmt.Errorf("-min-free-disk: %w", err)
	}
	s := &server{log: log, limiter: budget.NewLimiter(limit)}
	s.disk = &store.DiskGuard{Dir: c.Data, MinFree: minFree, MinFreeFrac: minFreeFrac}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.db, err = openStore(c.Data); err != nil {
		return nil, err
	}
	if s.adminMsg, err = firstStart(s.db); err != nil {
		return nil, err
	}
	if s.sp, err = spool.Open(filepath.Join(c.Data, "spool"), spool.Options{}); err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	if err := s.sp.Unavailable(); err != nil {
		// Start anyway: the UI and API serve what is stored, ingest refuses
		// (disk_full), /health/ready says why, and the spool retries.
		log.Warn("the disk is full: serving read-only, ingest refuses events until space returns", "err", err)
	}
	if s.worker, err = digest.New(s.db, s.sp, log.With("component", "digest")); err != nil {
		return nil, err
	}
	s.worker.Pressure = s.limiter.Short
	s.worker.MaxEventAge = maxAge
	native, err := openNative(c)
	if err != nil {
		return nil, err
	}
	s.worker.Native = &digest.Native{Attachments: native.Attachments, Symbols: native.Symbols, MaxAge: native.maxAge}
	s.quota = quota.New(quota.Config{
		Project: projQuota, Install: installQuota, Items: itemQuotas,
		Override: func(pid int) (quota.Limits, bool) {
			q, ok := s.db.ProjectQuota(pid)
			return quota.Limits(q), ok
		},
		Seed: s.seedQuota,
	})
	if s.ln, err = net.Listen("tcp", c.Addr); err != nil {
		return nil, err
	}
	s.base = baseURL(c, s.ln)
	s.conns = ingest.NewConnLimiter(maxConns)
	s.ln = s.conns.Listener(s.ln)
	s.alerts = alerts.New(alerts.Config{
		DB: s.db, BaseURL: s.base, SMTP: smtp, EmailsPerHour: perHour, Log: log.With("component", "alerts"),
		Outbound: outbound, TelegramAPI: c.TelegramAPI,
	})
	s.worker.OnAlert = s.alerts.Poke

	refusals := NewRefusals(log.With("component", "ingest"))
	ing := ingest.New(ingest.Config{
		// The quota goes last: it holds a place for each request it admits
		// (given back through OnRelease when no event is spooled).
		Projects: s.db, Admit: quota.Admitters{s.disk, s.sp, s.quota}, ItemQuota: s.quota, Memory: s.limiter, Spool: s.sp,
		Logger: log.With("component", "ingest"), BaseURL: s.base, TrustProxy: c.TrustProxy,
		OnAccept:     func(project int) { s.quota.Count(project); refusals.Accepted(project) },
		OnRefuse:     refusals.Refused,
		OnRelease:    s.quota.Release,
		MaxEventSize: maxEv, MaxEventCompressedSize: maxEvC, MaxEnvelopeSize: maxEnv, MaxEnvelopeCompressedSize: maxEnvC,
		Attachments: native.Attachments,
	})
	mux := http.NewServeMux()
	ing.Register(mux)
	api := ui.NewAPI(s.db, s.base, log.With("component", "api"))
	api.ReleaseEpoch = digest.ReleaseEpoch
	api.SendTest, api.Poke = s.alerts.SendTest, s.alerts.Poke
	api.Budget = http.HandlerFunc(s.handleBudget)
	api.Version = buildVersion()
	api.Backup = store.BackupHandler(s.db, log.With("component", "backup"))
	maps := sourcemap.NewMapper(s.db)
	api.SetSourceMaps(maps)
	s.worker.Maps = maps // one decoded-map cache for the digest's titles and the pages
	native.Respool = func(project int, id string, payload []byte) error {
		return s.sp.Append(&spool.Record{Project: project, EventID: id, IngestedAt: time.Now(), Payload: payload})
	}
	api.SetNative(&native.Native)
	api.Register(mux)
	// UI routes (the web UI registers its pages here).
	ui.New(ui.Config{
		DB: s.db, Attachments: native.Attachments, Symbols: native.Symbols, BaseURL: s.base, Log: log.With("component", "ui"), TrustProxy: c.TrustProxy,
		SendTest: s.alerts.SendTest, QuotaDefaults: new(store.QuotaLimits(projQuota)),
		Status:          func() any { return struct{ Spool, Digest any }{s.sp.Stats(), s.worker.Stats()} },
		Problems:        func() []string { return s.ops.Ready().Reasons },
		SourceMaps:      maps,
		NoPasswordLogin: noPassword, ProxyAuth: proxyAuth, OIDC: oidc,
	}).Register(mux)
	if oidc != nil {
		log.Info("OpenID Connect login on: register this redirect URI at the provider", "issuer", oidc.Issuer, "redirect_uri", s.base+"/accounts/oidc/callback/")
		if strings.HasPrefix(oidc.Issuer, "http://") {
			log.Warn("the OpenID Connect issuer is plain http: the client secret and tokens cross the network unencrypted", "issuer", oidc.Issuer)
		}
	}
	s.ops = newWatch(watchConfig{DB: s.db, Spool: s.sp, Worker: s.worker, Ingest: ing, Refusals: refusals, Disk: s.disk, MaxDisk: maxDisk, Version: buildVersion()})
	s.ops.Register(mux, api.Protect(store.ScopeRead))
	if c.MetricsAddr != "" {
		if s.metricsLn, err = net.Listen("tcp", c.MetricsAddr); err != nil {
			return nil, fmt.Errorf("-metrics-addr: %w", err)
		}
		s.metrics = &http.Server{Handler: s.ops.Handler(), ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
	}
	mux.Handle("GET /{$}", http.RedirectHandler("/projects/", http.StatusFound))
	s.http = &http.Server{
		Handler: mux,
		// Headers within 10 s; ingest bodies then keep to a minimum rate
		// (ingest/slowbody.go), other bodies to ReadTimeout.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		ConnState:         s.conns.ConnState,
	}
	return s, nil
}

// serve runs the digest worker and the HTTP server until ctx is done, then
// shuts both down gracefully.
func (s *server) serve(ctx context.Context) error {
	wctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	runErrs := make(chan error, 2)
	for _, run := range []func(context.Context) error{s.worker.Run, s.alerts.Run} {
		wg.Go(func() {
			if err := run(wctx); !errors.Is(err, context.Canceled) {
				runErrs <- err
			}
		})
	}
	wg.Go(func() { s.worker.RunScheduler(wctx) }) // cron monitors, waiting feedback
	wg.Go(func() { vacuumUploads(wctx, s.db, s.log.With("component", "retention")) })
	wg.Go(func() {
		s.db.KeepMaxDisk(wctx, s.ops.cfg.MaxDisk, func() int64 { return s.worker.Stats().Batches }, s.log.With("component", "retention"))
	})
	srvErr := make(chan error, 1)
	go func() { srvErr <- s.http.Serve(s.ln) }()
	if s.metrics != nil {
		go s.metrics.Serve(s.metricsLn)
		defer s.metrics.Close()
	}
	var err error
	select {
	case err = <-srvErr:
	case <-ctx.Done():
		s.log.Info("shutting down")
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = s.http.Shutdown(sctx)
		scancel()
	}
	cancel()
	wg.Wait()
	close(runErrs)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	for e := range runErrs {
		err = errors.Join(err, e)
	}
	return err
}

// budgetPage is what /debug/budget shows.
type budgetPage struct {
	budget.Snapshot
	Spool  spool.Stats      `json:"spool"`
	Digest digest.Stats     `json:"digest"`
	Conns  ingest.ConnStats `json:"conns"`
}

// handleBudget serves GET /debug/budget: memory, limit, spool backlog and
// the optional parts loaded so far (JSON; ?gc=1 collects garbage first).
func (s *server) handleBudget(w http.ResponseWriter, r *http.Request) {
	page := budgetPage{Snapshot: budget.Read(r.URL.Query().Get("gc") == "1"), Spool: s.sp.Stats(), Digest: s.worker.Stats(), Conns: s.conns.Stats()}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(page)
}

// seedQuota tells the quota what was counted before this process started,
// from the store's hourly counters.
func (s *server) seedQuota(pid int, install bool, now time.Time) (int64, []int64) {
	subject := store.ProjectSubject(pid)
	if install {
		subject = store.InstallSubject
	}
	hour := now.UTC().Truncate(time.Hour)
	h, err := s.db.Hourly(subject, hour, hour.Add(time.Hour))
	if err != nil || len(h) == 0 {
		return 0, nil
	}
	days, err := s.db.Daily(subject, now.AddDate(0, 0, -31), now.AddDate(0, 0, 1))
	if err != nil {
		return h[0], nil
	}
	return h[0], days
}

// close releases what newServer opened.
func (s *server) close() {
	if s.ln != nil {
		s.ln.Close()
	}
	if s.metricsLn != nil {
		s.metricsLn.Close()
	}
	if s.sp != nil {
		s.sp.Close()
	}
	if s.db != nil {
		s.db.Close()
	}
}

// firstStart creates the admin user and the default project on a new data
// directory. It returns what to print about the admin's password.
func firstStart(db *store.DB) (string, error) {
	var msg string
	n, err := db.UserCount()
	if err != nil {
		return "", err
	}
	if n == 0 {
		name := os.Getenv("TINYSINK_ADMIN_USER")
		if name == "" {
			name = "admin"
		}
		pw := os.Getenv("TINYSINK_ADMIN_PASSWORD")
		if pw == "" {
			var b [12]byte
			rand.Read(b[:])
			pw = hex.EncodeToString(b[:])
			msg = fmt.Sprintf("  login: %s / %s   (generated; shown only now)\n", name, pw)
		} else {
			msg = fmt.Sprintf("  login: %s / (TINYSINK_ADMIN_PASSWORD)\n", name)
		}
		if _, err := db.CreateUser(name, pw, true); err != nil {
			return "", err
		}
	}
	ps, err := db.Projects()
	if err != nil {
		return "", err
	}
	if len(ps) == 0 {
		if _, err := db.CreateProject("default"); err != nil {
			return "", err
		}
	}
	return msg, nil
}

// nativeParts are the attachment and symbol stores.
type nativeParts struct {
	ui.Native
	maxAge time.Duration
}

// openNative opens <data>/attachments and <data>/symbols with the
// attachment settings.
func openNative(c *config) (*nativeParts, error) {
	perEvent, err := budget.ParseSize(c.Attach.EventSize)
	if err != nil {
		return nil, fmt.Errorf("-max-attachments-per-event: %w", err)
	}
	perProject, err := budget.ParseSize(c.Attach.ProjectSize)
	if err != nil {
		return nil, fmt.Errorf("-max-attachments-per-project: %w", err)
	}
	maxAge, err := parseAge(c.Attach.MaxAge)
	if err != nil {
		return nil, fmt.Errorf("-attachment-max-age: %w", err)
	}
	n := &nativeParts{maxAge: maxAge}
	n.OriginalName = digest.OriginalName
	if n.Attachments, err = attach.Open(filepath.Join(c.Data, "attachments")); err != nil {
		return nil, err
	}
	n.Attachments.MaxEventBytes, n.Attachments.MaxProjectBytes = perEvent, perProject
	if n.Symbols, err = symstore.Open(filepath.Join(c.Data, "symbols")); err != nil {
		return nil, err
	}
	return n, nil
}

// vacuumUploadsEvery is how often unused upload chunks and artifact
// bundles are looked for.
const vacuumUploadsEvery = time.Hour

// vacuumUploads deletes unused upload chunks and artifact bundles
// (store.VacuumUploads) at start and then hourly, until ctx is done.
func vacuumUploads(ctx context.Context, db *store.DB, log *slog.Logger) {
	t := time.NewTicker(vacuumUploadsEvery)
	defer t.Stop()
	for {
		if chunks, bundles := db.VacuumUploads(time.Now()); chunks+bundles > 0 {
			log.Info("unused uploads removed", "chunks", chunks, "bundles", bundles)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
