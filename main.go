// Command tinysink is a self-hosted error tracker that any Sentry SDK can
// report to: one binary, one data directory, under a memory ceiling.
//
// Usage:
//
//	tinysink [serve] [flags]          run the server (the default)
//	tinysink project create NAME      create a project, print its DSN
//	tinysink project list             list projects and their DSNs
//	tinysink token create             create an API bearer token
//	tinysink backup FILE              write a backup archive (online, through a running server)
//	tinysink restore FILE             rebuild an empty data directory from a backup
//	tinysink budget [-max-rss SIZE]   print the RAM profile, stage by stage
//
// Every flag takes its default from an environment variable; `tinysink -h`
// lists both.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tinysink/tinysink/alerts"
	"github.com/tinysink/tinysink/budget"
	"github.com/tinysink/tinysink/budget/ops"
	"github.com/tinysink/tinysink/budget/profile"
	"github.com/tinysink/tinysink/digest"
	"github.com/tinysink/tinysink/ingest"
	"github.com/tinysink/tinysink/ingest/quota"
	"github.com/tinysink/tinysink/ingest/spool"
	"github.com/tinysink/tinysink/store"
	"github.com/tinysink/tinysink/ui"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return s.Value[:12]
			}
		}
	}
	return "dev"
}

// config is every setting; each is a flag whose default comes from an
// environment variable.
type config struct {
	Addr         string
	Data         string
	BaseURL      string
	MemoryLimit  string
	MaxEvent     string
	MaxEventComp string
	MaxEnv       string
	MaxEnvComp   string
	TrustProxy   bool
	LogFormat    string
	LogLevel     string
	MaxEventAge  string
	Quota        [6]string // project 5m, hour, month; installation 5m, hour, month
	SMTP         struct{ Host, Port, User, Password, From, TLS string }
	EmailsPerHr  string
	AlertDenyNP  bool
	AlertAllow   string
	AlertDeny    string
	TelegramAPI  string
	MaxDisk      string
	MinFreeDisk  string
	MetricsAddr  string
	MaxConns     string
}

// setting describes one flag for the help text and the README.
type setting struct{ flag, env, def, help string }

var settings = []setting{
	{"addr", "TINYSINK_ADDR", ":8000", "address to listen on"},
	{"data", "TINYSINK_DATA", "./data", "data directory (created if missing)"},
	{"base-url", "TINYSINK_BASE_URL", "", "URL the server is reached at, used in DSNs and links (default http://localhost:<port>)"},
	{"memory-limit", "TINYSINK_MEMORY_LIMIT", "24MiB", "Go memory limit; ingest answers 429 when requests in flight would push the heap past 70% of it, never when none is (0 = none)"},
	{"max-event-size", "TINYSINK_MAX_EVENT_SIZE", "1MiB", "largest event, decompressed"},
	{"max-event-compressed-size", "TINYSINK_MAX_EVENT_COMPRESSED_SIZE", "200KiB", "largest /store/ request body as sent"},
	{"max-envelope-size", "TINYSINK_MAX_ENVELOPE_SIZE", "100MiB", "largest envelope, decompressed"},
	{"max-envelope-compressed-size", "TINYSINK_MAX_ENVELOPE_COMPRESSED_SIZE", "20MiB", "largest /envelope/ request body as sent"},
	{"trust-proxy", "TINYSINK_TRUST_PROXY", "false", "take client addresses from X-Real-IP / X-Forwarded-For"},
	{"max-event-age", "TINYSINK_MAX_EVENT_AGE", "0", "delete events older than this, e.g. 90d or 72h (0 = keep until the count limit)"},
	{"quota-project-5m", "TINYSINK_QUOTA_PROJECT_5M", "1000", "events a project may send per 5 minutes (0 = no limit)"},
	{"quota-project-hour", "TINYSINK_QUOTA_PROJECT_HOUR", "5000", "events a project may send per hour (0 = no limit)"},
	{"quota-project-month", "TINYSINK_QUOTA_PROJECT_MONTH", "1000000", "events a project may send per month (0 = no limit)"},
	{"quota-install-5m", "TINYSINK_QUOTA_INSTALL_5M", "1000", "events the installation takes per 5 minutes (0 = no limit)"},
	{"quota-install-hour", "TINYSINK_QUOTA_INSTALL_HOUR", "5000", "events the installation takes per hour (0 = no limit)"},
	{"quota-install-month", "TINYSINK_QUOTA_INSTALL_MONTH", "1000000", "events the installation takes per month (0 = no limit)"},
	{"smtp-host", "TINYSINK_SMTP_HOST", "", "mail server for alert emails (empty = no email)"},
	{"smtp-port", "TINYSINK_SMTP_PORT", "0", "mail server port (0 = 587 for starttls, 465 for tls, 25 for none)"},
	{"smtp-user", "TINYSINK_SMTP_USER", "", "SMTP AUTH user (empty = no AUTH)"},
	{"smtp-password", "TINYSINK_SMTP_PASSWORD", "", "SMTP AUTH password (better set through the environment)"},
	{"smtp-from", "TINYSINK_SMTP_FROM", "", "sender of alert emails, e.g. tinysink <alerts@example.org>"},
	{"smtp-tls", "TINYSINK_SMTP_TLS", "starttls", "starttls, tls (implicit) or none"},
	{"emails-per-hour", "TINYSINK_EMAILS_PER_HOUR", "60", "installation-wide cap on alert emails per hour (-1 = no cap)"},
	{"alert-deny-non-public", "TINYSINK_ALERT_DENY_NON_PUBLIC", "false", "refuse webhook targets on loopback, private and link-local addresses"},
	{"alert-allow", "TINYSINK_ALERT_ALLOW", "", "comma list of hosts (*.x for subdomains), IPs or CIDRs webhooks may always reach"},
	{"alert-deny", "TINYSINK_ALERT_DENY", "", "comma list of hosts, IPs or CIDRs webhooks may never reach"},
	{"telegram-api", "TINYSINK_TELEGRAM_API", "https://api.telegram.org", "Telegram Bot API base URL"},
	{"max-disk", "TINYSINK_MAX_DISK", "0", "disk budget of stored events and metadata, e.g. 4GiB; the least relevant events are evicted to stay under it (0 = none)"},
	{"min-free-disk", "TINYSINK_MIN_FREE_DISK", store.DefaultMinFree, "free space below which ingest refuses events (429, reason disk_full) and /health/ready fails: sizes and percentages, the largest counts (0 = no check)"},
	{"metrics-addr", "TINYSINK_METRICS_ADDR", "", "separate address serving /metrics and /health/* without a token (empty: /metrics on -addr with an API token)"},
	{"max-conns", "TINYSINK_MAX_CONNS", strconv.Itoa(ingest.DefaultMaxConns), "open connections at most (~20 KB each); at the cap the connection idle the longest is closed to make room (0 = no cap)"},
	{"log-format", "TINYSINK_LOG_FORMAT", "text", "log format: text or json"},
	{"log-level", "TINYSINK_LOG_LEVEL", "info", "log level: debug, info, warn or error"},
}

func envDefault(s setting) string {
	if v, ok := os.LookupEnv(s.env); ok {
		return v
	}
	return s.def
}

// parseFlags parses a command's args: the settings, plus the flags extra
// registers, in any order around the positional arguments, which it
// returns.
func parseFlags(name string, args []string, stderr io.Writer, extra ...func(*flag.FlagSet)) (*config, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &config{}
	dst := map[string]*string{
		"addr": &c.Addr, "data": &c.Data, "base-url": &c.BaseURL, "memory-limit": &c.MemoryLimit,
		"max-event-size": &c.MaxEvent, "max-event-compressed-size": &c.MaxEventComp,
		"max-envelope-size": &c.MaxEnv, "max-envelope-compressed-size": &c.MaxEnvComp,
		"log-format": &c.LogFormat, "log-level": &c.LogLevel, "max-event-age": &c.MaxEventAge,
		"quota-project-5m": &c.Quota[0], "quota-project-hour": &c.Quota[1], "quota-project-month": &c.Quota[2],
		"quota-install-5m": &c.Quota[3], "quota-install-hour": &c.Quota[4], "quota-install-month": &c.Quota[5],
		"smtp-host": &c.SMTP.Host, "smtp-port": &c.SMTP.Port, "smtp-user": &c.SMTP.User, "smtp-password": &c.SMTP.Password,
		"smtp-from": &c.SMTP.From, "smtp-tls": &c.SMTP.TLS, "emails-per-hour": &c.EmailsPerHr,
		"alert-allow": &c.AlertAllow, "alert-deny": &c.AlertDeny, "telegram-api": &c.TelegramAPI,
		"max-disk": &c.MaxDisk, "min-free-disk": &c.MinFreeDisk, "metrics-addr": &c.MetricsAddr,
		"max-conns": &c.MaxConns,
	}
	for _, s := range settings {
		help := fmt.Sprintf("%s (env %s)", s.help, s.env)
		if b, ok := map[string]*bool{"trust-proxy": &c.TrustProxy, "alert-deny-non-public": &c.AlertDenyNP}[s.flag]; ok {
			def, _ := strconv.ParseBool(envDefault(s))
			fs.BoolVar(b, s.flag, def, help)
			continue
		}
		fs.StringVar(dst[s.flag], s.flag, envDefault(s), help)
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage:\n  tinysink [serve] [flags]\n  tinysink project create NAME [flags]\n  tinysink project list [flags]\n  tinysink token create [flags]\n  tinysink backup FILE [-url URL] [-token TOKEN] [flags]\n  tinysink restore FILE [flags]\n\nFlags (before or after the arguments; each defaults to its environment variable):\n")
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nFirst start: TINYSINK_ADMIN_USER (default admin) and TINYSINK_ADMIN_PASSWORD (default: generated and printed once).\n")
	}
	for _, f := range extra {
		f(fs)
	}
	pos, err := parseInterspersed(fs, args)
	return c, pos, err
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	privateUmask()
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = cmdServe(args, stdout, stderr)
	case "project":
		err = cmdProject(args, stdout, stderr)
	case "token":
		err = cmdToken(args, stdout, stderr)
	case "backup":
		err = cmdBackup(args, stdout, stderr)
	case "restore":
		err = cmdRestore(args, stdout, stderr)
	case "budget":
		return profile.Run(args, stdout, stderr)
	case "idle":
		// A process that only sleeps: the "bare binary" row of the profile.
		for {
			time.Sleep(time.Hour)
		}
	case "version":
		fmt.Fprintln(stdout, buildVersion())
	case "help":
		parseFlags("tinysink", []string{"-h"}, stderr)
	default:
		err = fmt.Errorf("unknown command %q (try tinysink -h)", cmd)
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "tinysink:", err)
		return 1
	}
	return 0
}

// openStore opens the data directory for a command, with a clear message
// when a running server holds it.
func openStore(dir string) (*store.DB, error) {
	db, err := store.Open(dir)
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("the data directory %s is in use by a running tinysink; stop it first", dir)
	}
	return db, err
}

func cmdProject(args []string, stdout, stderr io.Writer) error {
	const usage = "tinysink project create NAME [-key KEY] | tinysink project list"
	var key string
	// -key KEY keeps a DSN key from another installation.
	c, pos, err := parseFlags("tinysink project", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&key, "key", "", "project create: the DSN key to keep (from another installation)")
	})
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return errors.New("usage: " + usage)
	}
	sub, name := pos[0], ""
	switch sub {
	case "create":
		if err := wantArgs(pos, 2, 2, "tinysink project create NAME [-key KEY]"); err != nil {
			return err
		}
		name = pos[1]
	case "list":
		if err := wantArgs(pos, 1, 1, "tinysink project list"); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown project command %q", sub)
	}
	db, err := openStore(c.Data)
	if err != nil {
		return err
	}
	defer db.Close()
	base := baseURL(c, nil)
	switch sub {
	case "create":
		p, err := db.CreateProject(name)
		if err != nil {
			return err
		}
		if key != "" {
			if err := db.SetProjectKey(p.ID, key); err != nil {
				return err
			}
			p.Key = key
		}
		fmt.Fprintln(stdout, ui.DSN(base, p))
	case "list":
		ps, err := db.Projects()
		if err != nil {
			return err
		}
		for i := range ps {
			fmt.Fprintf(stdout, "%d\t%s\t%s\n", ps[i].ID, ps[i].Slug, ui.DSN(base, &ps[i]))
		}
	}
	return nil
}

func cmdToken(args []string, stdout, stderr io.Writer) error {
	c, pos, err := parseFlags("tinysink token", args, stderr)
	if err != nil {
		return err
	}
	if len(pos) != 1 || pos[0] != "create" {
		return errors.New("usage: tinysink token create")
	}
	db, err := openStore(c.Data)
	if err != nil {
		return err
	}
	defer db.Close()
	tok, err := db.CreateToken()
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

// cmdBackup writes a backup archive to FILE. When a server holds the data
// directory, the server makes it (POST /api/canonical/0/backup/ with an API
// token from -token, TINYSINK_TOKEN or the file api-token in the data
// directory, at -url or TINYSINK_URL, by default the local -addr);
// otherwise the store is opened directly.
func cmdBackup(args []string, stdout, stderr io.Writer) error {
	var url, token string
	c, pos, err := parseFlags("tinysink backup", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&url, "url", os.Getenv("TINYSINK_URL"), "URL of the running server (env TINYSINK_URL; default: the local -addr)")
		fs.StringVar(&token, "token", os.Getenv("TINYSINK_TOKEN"), "API token (env TINYSINK_TOKEN; default: <data>/api-token)")
	})
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "tinysink backup FILE [-url URL] [-token TOKEN] [flags]"); err != nil {
		return err
	}
	file := pos[0]
	if _, err := os.Stat(filepath.Join(c.Data, "store.db")); err != nil {
		return fmt.Errorf("no tinysink data directory at %s (-data)", c.Data)
	}
	db, err := store.Open(c.Data)
	switch {
	case err == nil:
		err = ops.WriteBackup(db, file)
		db.Close()
	case errors.Is(err, store.ErrLocked):
		if token == "" {
			// The Debian package leaves a token for this in the data directory.
			b, _ := os.ReadFile(filepath.Join(c.Data, "api-token"))
			token = strings.TrimSpace(string(b))
		}
		if token == "" {
			return ops.ErrNoToken
		}
		if url == "" {
			url = baseURL(&config{Addr: strings.Replace(c.Addr, "0.0.0.0:", "127.0.0.1:", 1)}, nil)
		}
		err = ops.FetchBackup(context.Background(), url, token, file)
	}
	if err != nil {
		return err
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	m, err := store.ReadManifest(f)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d projects, %d stored events, %d spool files\n", file, len(m.Projects), m.StoredEvents(), m.SpoolFiles)
	return nil
}

// cmdRestore rebuilds the data directory -data, which must be empty, from
// a backup archive, and opens it once to check it.
func cmdRestore(args []string, stdout, stderr io.Writer) error {
	c, pos, err := parseFlags("tinysink restore", args, stderr)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "tinysink restore FILE -data DIR"); err != nil {
		return err
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return err
	}
	defer f.Close()
	m, err := store.Restore(f, c.Data)
	if err != nil {
		return err
	}
	db, err := store.Open(c.Data)
	if err != nil {
		return fmt.Errorf("the restored directory %s does not open: %w", c.Data, err)
	}
	defer db.Close()
	ps, err := db.Projects()
	if err != nil {
		return err
	}
	var events int64
	for _, p := range ps {
		events += p.StoredEventCount
	}
	fmt.Fprintf(stdout, "restored %s into %s: %d projects, %d stored events (backup of %s); undigested events in the spool are digested at the next start\n",
		pos[0], c.Data, len(ps), events, m.Created.Format(time.RFC3339))
	return nil
}

// baseURL is the configured base URL, or http://localhost:<port> from the
// listener (or the -addr setting).
func baseURL(c *config, ln net.Listener) string {
	if c.BaseURL != "" {
		return strings.TrimRight(c.BaseURL, "/")
	}
	host, port, err := net.SplitHostPort(c.Addr)
	if ln != nil {
		host, port, err = net.SplitHostPort(ln.Addr().String())
	}
	if err != nil {
		return "http://localhost:8000"
	}
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func newLogger(c *config, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, fmt.Errorf("bad -log-level %q", c.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.LogFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("bad -log-format %q (text or json)", c.LogFormat)
}

// parseAge parses a duration that may also be given in days ("90d").
func parseAge(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("bad age %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	if s == "0" {
		return 0, nil
	}
	return time.ParseDuration(s)
}

// alertsConfig builds the alert sender's settings.
func (c *config) alertsConfig() (*alerts.SMTP, int, alerts.OutboundPolicy, error) {
	var smtp *alerts.SMTP
	if c.SMTP.Host != "" {
		port, err := strconv.Atoi(c.SMTP.Port)
		if err != nil {
			return nil, 0, alerts.OutboundPolicy{}, fmt.Errorf("-smtp-port: bad number %q", c.SMTP.Port)
		}
		smtp = &alerts.SMTP{Host: c.SMTP.Host, Port: port, User: c.SMTP.User, Password: c.SMTP.Password, From: c.SMTP.From, TLS: c.SMTP.TLS}
		if err := smtp.Validate(); err != nil {
			return nil, 0, alerts.OutboundPolicy{}, err
		}
	}
	perHour, err := strconv.Atoi(c.EmailsPerHr)
	if err != nil {
		return nil, 0, alerts.OutboundPolicy{}, fmt.Errorf("-emails-per-hour: bad number %q", c.EmailsPerHr)
	}
	pol := alerts.OutboundPolicy{DenyNonPublic: c.AlertDenyNP, Allow: splitList(c.AlertAllow), Deny: splitList(c.AlertDeny)}
	if err := pol.Validate(); err != nil {
		return nil, 0, pol, err
	}
	return smtp, perHour, pol, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// quotas parses the quota settings.
func (c *config) quotas() (project, install quota.Limits, err error) {
	var n [6]int64
	for i, s := range c.Quota {
		if n[i], err = strconv.ParseInt(strings.TrimSpace(s), 10, 64); err != nil || n[i] < 0 {
			return project, install, fmt.Errorf("bad quota %q", s)
		}
	}
	return quota.Limits{FiveMin: n[0], Hour: n[1], Month: n[2]}, quota.Limits{FiveMin: n[3], Hour: n[4], Month: n[5]}, nil
}

// sizes parses the size settings.
func (c *config) sizes() (limit, ev, evc, env, envc int64, err error) {
	parse := func(name, s string) int64 {
		if err != nil {
			return 0
		}
		var n int64
		n, err = budget.ParseSize(s)
		if err != nil {
			err = fmt.Errorf("-%s: %w", name, err)
		}
		return n
	}
	limit = parse("memory-limit", c.MemoryLimit)
	ev = parse("max-event-size", c.MaxEvent)
	evc = parse("max-event-compressed-size", c.MaxEventComp)
	env = parse("max-envelope-size", c.MaxEnv)
	envc = parse("max-envelope-compressed-size", c.MaxEnvComp)
	return
}

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

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return s.serve(ctx)
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
	ops      *ops.Watch
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
	maxConns, err := strconv.Atoi(strings.TrimSpace(c.MaxConns))
	if err != nil || maxConns < 0 {
		return nil, fmt.Errorf("-max-conns: bad number %q", c.MaxConns)
	}
	smtp, perHour, outbound, err := c.alertsConfig()
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
	s.quota = quota.New(quota.Config{
		Project: projQuota, Install: installQuota,
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

	refusals := ops.NewRefusals(log.With("component", "ingest"))
	ing := ingest.New(ingest.Config{
		// The quota goes last: it holds a place for each request it admits
		// (given back through OnRelease when no event is spooled).
		Projects: s.db, Admit: quota.Admitters{s.disk, s.sp, s.quota}, Memory: s.limiter, Spool: s.sp,
		Logger: log.With("component", "ingest"), BaseURL: s.base, TrustProxy: c.TrustProxy,
		OnAccept:     func(project int) { s.quota.Count(project); refusals.Accepted(project) },
		OnRefuse:     refusals.Refused,
		OnRelease:    s.quota.Release,
		MaxEventSize: maxEv, MaxEventCompressedSize: maxEvC, MaxEnvelopeSize: maxEnv, MaxEnvelopeCompressedSize: maxEnvC,
	})
	mux := http.NewServeMux()
	ing.Register(mux)
	api := ui.NewAPI(s.db, s.base, log.With("component", "api"))
	api.ReleaseEpoch = digest.ReleaseEpoch
	api.LatestRelease = digest.LatestRelease
	api.Register(mux)
	s.alerts.RegisterAPI(mux, s.requireToken)
	// UI routes (the web UI registers its pages here).
	ui.New(ui.Config{
		DB: s.db, BaseURL: s.base, Log: log.With("component", "ui"), TrustProxy: c.TrustProxy,
		SendTest: s.alerts.SendTest, QuotaDefaults: new(store.QuotaLimits(projQuota)),
		Status:   func() any { return struct{ Spool, Digest any }{s.sp.Stats(), s.worker.Stats()} },
		Problems: func() []string { return s.ops.Ready().Reasons },
	}).Register(mux)
	mux.Handle("GET /debug/budget", s.requireToken(http.HandlerFunc(s.handleBudget)))
	s.ops = ops.New(ops.Config{DB: s.db, Spool: s.sp, Worker: s.worker, Ingest: ing, Refusals: refusals, Disk: s.disk, MaxDisk: maxDisk, Version: buildVersion()})
	s.ops.Register(mux, s.requireToken)
	mux.Handle("POST "+ops.BackupPath, s.requireToken(ops.BackupHandler(s.db, log.With("component", "backup"))))
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
	wg.Go(func() { s.worker.Run(wctx) })
	wg.Go(func() { s.worker.RunScheduler(wctx) })
	wg.Go(func() { s.alerts.Run(wctx) })
	wg.Go(func() { s.ops.KeepMaxDisk(wctx, s.log.With("component", "retention")) })
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
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// requireToken lets through requests with a valid API bearer token.
func (s *server) requireToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !s.db.CheckToken(strings.TrimSpace(tok)) {
			w.Header().Set("WWW-Authenticate", "Bearer")
			http.Error(w, `{"detail":"Invalid or missing bearer token."}`, http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
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
