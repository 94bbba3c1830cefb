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
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tinysink/tinysink/alerts"
	"github.com/tinysink/tinysink/budget"
	"github.com/tinysink/tinysink/digest"
	"github.com/tinysink/tinysink/digest/minidump/symstore"
	"github.com/tinysink/tinysink/digest/sourcemap"
	"github.com/tinysink/tinysink/ingest"
	"github.com/tinysink/tinysink/ingest/forward"
	"github.com/tinysink/tinysink/ingest/httpserve"
	"github.com/tinysink/tinysink/ingest/quota"
	"github.com/tinysink/tinysink/ingest/spool"
	"github.com/tinysink/tinysink/store"
	"github.com/tinysink/tinysink/store/attach"
	"github.com/tinysink/tinysink/store/disk"
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
	if !c.Store {
		return runRelay(c, log, stdout, stderr)
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
		// The DSN line keeps "DSN: <dsn>" alone (scripts read the rest of
		// the line); the line above says whose it is.
		fmt.Fprintf(stdout, "  project: %s\n", bannerProject(&ps[0], len(ps)))
		fmt.Fprintf(stdout, "  DSN:   %s\n", ui.DSN(s.base, &ps[0]))
	}
	if s.adminMsg != "" {
		fmt.Fprint(stdout, s.adminMsg)
	}
	log.Info("tinysink ready", "addr", s.ln.Addr().String(), "version", buildVersion(), "data", c.Data, "memory_limit", s.limiter.Limit())

	ctx, stop := httpserve.Signals(stderr)
	defer stop()
	return s.serve(ctx)
}

// bannerProject names the project whose DSN the start-up banner prints,
// out of n: `"default" (id 1)`, and with more projects where to find the
// others.
func bannerProject(p *store.Project, n int) string {
	s := fmt.Sprintf("%q (id %d)", p.Name, p.ID)
	if n > 1 {
		s += fmt.Sprintf(", 1 of %d projects: tinysink project list shows every DSN", n)
	}
	return s
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
	disk     *disk.Guard
	ops      *Watch
	forward  *forward.Runner
	// metricsLn and metrics serve -metrics-addr, when set.
	metricsLn net.Listener
	metrics   *http.Server
	// ctlLn and ctl serve the control socket (control.go).
	ctlLn net.Listener
	ctl   *http.Server
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
	maxConns, err := c.maxConns()
	if err != nil {
		return nil, err
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
	minFree, minFreeFrac, err := c.minFree()
	if err != nil {
		return nil, err
	}
	maxBacklog, err := c.forwardConfig()
	if err != nil {
		return nil, err
	}
	s := &server{log: log, limiter: budget.NewLimiter(limit)}
	s.disk = &disk.Guard{Dir: c.Data, MinFree: minFree, MinFreeFrac: minFreeFrac}
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
	if s.ctlLn, err = listenControl(c.Data); err != nil {
		// A data directory path too long for a unix socket: serve anyway,
		// the account commands then need the server stopped.
		log.Warn("no control socket: tinysink user and token commands need the server stopped", "err", err)
		s.ctlLn, err = nil, nil
	}
	s.ctl = &http.Server{Handler: controlHandler(s.db, log.With("component", "control")), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
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
	// Forwarding reads the spool with a cursor of its own; it is set up
	// after the digest worker, whose release would otherwise not wait for it.
	native, err := openNative(c)
	if err != nil {
		return nil, err
	}
	installDSN := c.Forward.DSN
	spoolDir := filepath.Join(c.Data, "spool")
	s.forward = newForwarding(s.sp, spoolDir, native.Attachments, func(pid int) string {
		if d := s.db.ProjectForwardDSN(pid); d != "" {
			return d
		}
		return installDSN
	}, maxBacklog, log.With("component", "forward"))
	if installDSN != "" || s.db.HasForwardDSN() {
		if err := s.forward.Ensure(); err != nil {
			return nil, err
		}
	} else if err := forward.RemoveCursor(spoolDir); err != nil {
		return nil, err // set up again later, forwarding starts afresh
	}
	fwdUI := &ui.Forwarding{InstallDSN: installDSN, Stats: s.forward.Stats, Changed: s.forward.Changed}
	s.worker.MaxEventAge = maxAge
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

	refusals := ingest.NewRefusals(log.With("component", "ingest"))
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
	api.Forwarding = fwdUI
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
		Status:     func() any { return struct{ Spool, Digest any }{s.sp.Stats(), s.worker.Stats()} },
		Problems:   func() []string { return s.ops.Ready().Reasons },
		SourceMaps: maps, Forwarding: fwdUI,
		NoPasswordLogin: noPassword, ProxyAuth: proxyAuth, OIDC: oidc,
		SendMail: sendMail(smtp),
	}).Register(mux)
	if oidc != nil {
		log.Info("OpenID Connect login on: register these redirect URIs at the provider", "issuer", oidc.Issuer,
			"redirect_uri", s.base+"/accounts/oidc/callback/", "post_logout_redirect_uri", s.base+"/accounts/login/")
		if strings.HasPrefix(oidc.Issuer, "http://") {
			log.Warn("the OpenID Connect issuer is plain http: the client secret and tokens cross the network unencrypted", "issuer", oidc.Issuer)
		}
	}
	s.ops = newWatch(watchConfig{DB: s.db, Spool: s.sp, Worker: s.worker, Ingest: ing, Refusals: refusals, Disk: s.disk, MaxDisk: maxDisk, Version: buildVersion(), Forward: s.forward.Stats})
	s.ops.Register(mux, api.Protect(store.ScopeRead))
	if c.MetricsAddr != "" {
		if s.metricsLn, err = net.Listen("tcp", c.MetricsAddr); err != nil {
			return nil, fmt.Errorf("-metrics-addr: %w", err)
		}
		s.metrics = httpserve.NewMetricsServer(s.ops.Handler())
	}
	mux.Handle("GET /{$}", http.RedirectHandler("/projects/", http.StatusFound))
	s.http = httpserve.NewServer(mux, log, s.conns.ConnState)
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
	s.forward.Run(wctx, &wg)
	wg.Go(func() { vacuumUploads(wctx, s.db, s.log.With("component", "retention")) })
	wg.Go(func() {
		// Index the issues stored before the search index (once; resumes).
		log := s.log.With("component", "digest")
		if err := digest.FillSearch(wctx, s.db, log, 0); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("search fill stopped; the next start goes on", "err", err)
		}
		// Remove the search keys older builds' project deletes left (once).
		n, err := s.db.SweepSearchLeftovers(wctx)
		if n > 0 {
			log.Info("removed search keys of deleted projects and issues", "keys", n)
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			log.Error("search sweep stopped; the next start goes on", "err", err)
		}
	})
	wg.Go(func() {
		s.db.KeepMaxDisk(wctx, s.ops.cfg.MaxDisk, func() int64 { return s.worker.Stats().Batches }, s.log.With("component", "retention"))
	})
	if s.ctlLn != nil {
		go s.ctl.Serve(s.ctlLn)
		defer s.ctl.Close()
	}
	err := httpserve.Serve(ctx, s.log, s.http, s.ln, s.metrics, s.metricsLn)
	cancel()
	wg.Wait()
	close(runErrs)
	for e := range runErrs {
		err = errors.Join(err, e)
	}
	return err
}

// sendMail returns smtp's SendText, or nil when no mail server is set.
func sendMail(smtp *alerts.SMTP) func(ctx context.Context, to, subject, body string) error {
	if smtp == nil {
		return nil
	}
	return smtp.SendText
}

// budgetPage is what /debug/budget shows.
type budgetPage struct {
	budget.Snapshot
	Spool  spool.Stats      `json:"spool"`
	Digest digest.Stats     `json:"digest"`
	Conns  ingest.ConnStats `json:"conns"`
	// Forward is the forwarder's figures, while one runs.
	Forward *forward.Stats `json:"forward,omitempty"`
}

// handleBudget serves GET /debug/budget: memory, limit, spool backlog and
// the optional parts loaded so far (JSON; ?gc=1 first drops the digest's
// batch buffers, as the worker does itself 1 s after the last event, and
// collects garbage: a reading of what an idle server holds).
func (s *server) handleBudget(w http.ResponseWriter, r *http.Request) {
	gc := r.URL.Query().Get("gc") == "1"
	if gc {
		s.worker.Shed()
	}
	page := budgetPage{Snapshot: budget.Read(gc), Spool: s.sp.Stats(), Digest: s.worker.Stats(), Conns: s.conns.Stats()}
	if st, ok := s.forward.Stats(); ok {
		page.Forward = &st
	}
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
	if s.ctlLn != nil {
		s.ctlLn.Close()
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
	att, maxAge, err := openAttachments(c)
	if err != nil {
		return nil, err
	}
	n := &nativeParts{maxAge: maxAge}
	n.OriginalName = digest.OriginalName
	n.Attachments = att
	if n.Symbols, err = symstore.Open(filepath.Join(c.Data, "symbols")); err != nil {
		return nil, err
	}
	return n, nil
}

// openAttachments opens <data>/attachments with the attachment settings,
// and returns -attachment-max-age.
func openAttachments(c *config) (*attach.Store, time.Duration, error) {
	perEvent, perProject, maxAge, err := c.attachmentLimits()
	if err != nil {
		return nil, 0, err
	}
	att, err := attach.Open(filepath.Join(c.Data, "attachments"))
	if err != nil {
		return nil, 0, err
	}
	att.MaxEventBytes, att.MaxProjectBytes = perEvent, perProject
	return att, maxAge, nil
}

// attachmentLimits parses the attachment settings: the bytes per event and
// per project, and -attachment-max-age.
func (c *config) attachmentLimits() (perEvent, perProject int64, maxAge time.Duration, err error) {
	if perEvent, err = budget.ParseSize(c.Attach.EventSize); err != nil {
		return 0, 0, 0, fmt.Errorf("-max-attachments-per-event: %w", err)
	}
	if perProject, err = budget.ParseSize(c.Attach.ProjectSize); err != nil {
		return 0, 0, 0, fmt.Errorf("-max-attachments-per-project: %w", err)
	}
	if maxAge, err = parseAge(c.Attach.MaxAge); err != nil {
		return 0, 0, 0, fmt.Errorf("-attachment-max-age: %w", err)
	}
	return perEvent, perProject, maxAge, nil
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
