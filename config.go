package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tinysink/tinysink/alerts"
	"github.com/tinysink/tinysink/budget"
	"github.com/tinysink/tinysink/ingest"
	"github.com/tinysink/tinysink/ingest/httpserve"
	"github.com/tinysink/tinysink/ingest/quota"
	"github.com/tinysink/tinysink/store/disk"
	"github.com/tinysink/tinysink/ui"
)

// config is every setting; each is a flag whose default comes from an
// environment variable (see newSettings).
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
	Quota        struct{ Project, Install quotaSetting }
	ItemQuota    struct{ Transaction, Session, CheckIn string }
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
	Attach       struct{ EventSize, ProjectSize, MaxAge string }
	Forward      struct{ DSN, MaxBacklog string }
	Store        bool
	Login        struct {
		Password                        bool
		ProxyHeader, TrustedProxies     string
		ProxyAutoCreate                 bool
		Issuer, ClientID, Secret, Claim string
		Scopes                          string
		OIDCAutoCreate                  bool
	}
}

// quotaSetting is one subject's quota settings, as given; config.quotas
// parses them.
type quotaSetting struct{ FiveMin, Hour, Month string }

// setting is one flag: its name, environment variable, default and help
// (for -h and the README), and the value it sets.
type setting struct {
	flag, env, def, help string
	value                flag.Value
}

// textValue is a setting kept as given, parsed where it is used.
type textValue string

func (v *textValue) String() string     { return string(*v) }
func (v *textValue) Set(s string) error { *v = textValue(s); return nil }

// boolValue is an on/off setting.
type boolValue bool

func (v *boolValue) String() string   { return strconv.FormatBool(bool(*v)) }
func (v *boolValue) IsBoolFlag() bool { return true }
func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	*v = boolValue(b)
	return err
}

// newSettings returns a config and its settings, each row with the value
// it sets in that config.
func newSettings() (*config, []setting) {
	c := &config{}
	text := func(p *string) flag.Value { return (*textValue)(p) }
	on := func(p *bool) flag.Value { return (*boolValue)(p) }
	return c, []setting{
		{"addr", "TINYSINK_ADDR", ":8000", "address to listen on", text(&c.Addr)},
		{"data", "TINYSINK_DATA", "./data", "data directory (created if missing)", text(&c.Data)},
		{"base-url", "TINYSINK_BASE_URL", "", "URL the server is reached at, used in DSNs and links (default http://localhost:<port>)", text(&c.BaseURL)},
		{"memory-limit", "TINYSINK_MEMORY_LIMIT", "24MiB", "Go memory limit; ingest answers 429 when requests in flight would push the heap past 70% of it, never when none is (0 = none)", text(&c.MemoryLimit)},
		{"max-event-size", "TINYSINK_MAX_EVENT_SIZE", "1MiB", "largest event, decompressed", text(&c.MaxEvent)},
		{"max-event-compressed-size", "TINYSINK_MAX_EVENT_COMPRESSED_SIZE", "200KiB", "largest /store/ request body as sent", text(&c.MaxEventComp)},
		{"max-envelope-size", "TINYSINK_MAX_ENVELOPE_SIZE", "100MiB", "largest envelope, decompressed", text(&c.MaxEnv)},
		{"max-envelope-compressed-size", "TINYSINK_MAX_ENVELOPE_COMPRESSED_SIZE", "20MiB", "largest /envelope/ request body as sent", text(&c.MaxEnvComp)},
		{"trust-proxy", "TINYSINK_TRUST_PROXY", "false", "take client addresses from X-Real-IP / X-Forwarded-For", on(&c.TrustProxy)},
		{"max-event-age", "TINYSINK_MAX_EVENT_AGE", "0", "delete events older than this, e.g. 90d or 72h (0 = keep until the count limit)", text(&c.MaxEventAge)},
		{"quota-project-5m", "TINYSINK_QUOTA_PROJECT_5M", "1000", "events a project may send per 5 minutes (0 = no limit)", text(&c.Quota.Project.FiveMin)},
		{"quota-project-hour", "TINYSINK_QUOTA_PROJECT_HOUR", "5000", "events a project may send per hour (0 = no limit)", text(&c.Quota.Project.Hour)},
		{"quota-project-month", "TINYSINK_QUOTA_PROJECT_MONTH", "1000000", "events a project may send per month (0 = no limit)", text(&c.Quota.Project.Month)},
		{"quota-install-5m", "TINYSINK_QUOTA_INSTALL_5M", "1000", "events the installation takes per 5 minutes (0 = no limit)", text(&c.Quota.Install.FiveMin)},
		{"quota-install-hour", "TINYSINK_QUOTA_INSTALL_HOUR", "5000", "events the installation takes per hour (0 = no limit)", text(&c.Quota.Install.Hour)},
		{"quota-install-month", "TINYSINK_QUOTA_INSTALL_MONTH", "1000000", "events the installation takes per month (0 = no limit)", text(&c.Quota.Install.Month)},
		{"quota-transactions", "TINYSINK_QUOTA_TRANSACTIONS", "", "transactions a project may send, PER_5M/PER_HOUR/PER_MONTH (0 = no limit; empty: the project event quota's numbers, counted apart)", text(&c.ItemQuota.Transaction)},
		{"quota-sessions", "TINYSINK_QUOTA_SESSIONS", "", "session items a project may send, PER_5M/PER_HOUR/PER_MONTH (0 = no limit; empty: ten times the project event quota's numbers)", text(&c.ItemQuota.Session)},
		{"quota-check-ins", "TINYSINK_QUOTA_CHECK_INS", "", "cron check-ins a project may send, PER_5M/PER_HOUR/PER_MONTH (0 = no limit; empty: the project event quota's numbers, counted apart)", text(&c.ItemQuota.CheckIn)},
		{"smtp-host", "TINYSINK_SMTP_HOST", "", "mail server for alert and password-reset emails (empty = no email)", text(&c.SMTP.Host)},
		{"smtp-port", "TINYSINK_SMTP_PORT", "0", "mail server port (0 = 587 for starttls, 465 for tls, 25 for none)", text(&c.SMTP.Port)},
		{"smtp-user", "TINYSINK_SMTP_USER", "", "SMTP AUTH user (empty = no AUTH)", text(&c.SMTP.User)},
		{"smtp-password", "TINYSINK_SMTP_PASSWORD", "", "SMTP AUTH password (better set through the environment)", text(&c.SMTP.Password)},
		{"smtp-from", "TINYSINK_SMTP_FROM", "", "sender of alert and password-reset emails, e.g. tinysink <alerts@example.org>", text(&c.SMTP.From)},
		{"smtp-tls", "TINYSINK_SMTP_TLS", "starttls", "starttls, tls (implicit) or none", text(&c.SMTP.TLS)},
		{"emails-per-hour", "TINYSINK_EMAILS_PER_HOUR", "60", "installation-wide cap on alert emails per hour (-1 = no cap)", text(&c.EmailsPerHr)},
		{"alert-deny-non-public", "TINYSINK_ALERT_DENY_NON_PUBLIC", "false", "refuse webhook targets on loopback, private and link-local addresses", on(&c.AlertDenyNP)},
		{"alert-allow", "TINYSINK_ALERT_ALLOW", "", "comma list of hosts (*.x for subdomains), IPs or CIDRs webhooks may always reach", text(&c.AlertAllow)},
		{"alert-deny", "TINYSINK_ALERT_DENY", "", "comma list of hosts, IPs or CIDRs webhooks may never reach", text(&c.AlertDeny)},
		{"telegram-api", "TINYSINK_TELEGRAM_API", "https://api.telegram.org", "Telegram Bot API base URL", text(&c.TelegramAPI)},
		{"max-disk", "TINYSINK_MAX_DISK", "0", "disk budget of stored events and metadata, e.g. 4GiB; the least relevant events are evicted to stay under it (0 = none)", text(&c.MaxDisk)},
		{"min-free-disk", "TINYSINK_MIN_FREE_DISK", disk.DefaultMinFree, "free space below which ingest refuses events (429, reason disk_full) and /health/ready fails: sizes and percentages, the largest counts (0 = no check)", text(&c.MinFreeDisk)},
		{"metrics-addr", "TINYSINK_METRICS_ADDR", "", "separate address serving /metrics and /health/* without a token (empty: /metrics on -addr with an API token)", text(&c.MetricsAddr)},
		{"max-conns", "TINYSINK_MAX_CONNS", strconv.Itoa(ingest.DefaultMaxConns), "open connections at most (~20 KB each); at the cap the connection idle the longest is closed to make room (0 = no cap)", text(&c.MaxConns)},
		{"max-attachments-per-event", "TINYSINK_MAX_ATTACHMENTS_PER_EVENT", "100MiB", "bytes of attachments (minidumps included) one event may keep; a larger attachment is dropped, a larger minidump refused (413)", text(&c.Attach.EventSize)},
		{"max-attachments-per-project", "TINYSINK_MAX_ATTACHMENTS_PER_PROJECT", "1GiB", "bytes of attachments one project may keep; over it new attachments are dropped until retention frees room", text(&c.Attach.ProjectSize)},
		{"attachment-max-age", "TINYSINK_ATTACHMENT_MAX_AGE", "90d", "delete attachments older than this, e.g. 30d (0 = keep them as long as their event)", text(&c.Attach.MaxAge)},
		{"forward-dsn", "TINYSINK_FORWARD_DSN", "", "forward every accepted event and item to this upstream DSN (Sentry or any Sentry-compatible server), from the spool; a project's own forward DSN takes precedence", text(&c.Forward.DSN)},
		{"forward-max-backlog", "TINYSINK_FORWARD_MAX_BACKLOG", "1GiB", "spool bytes not yet forwarded at most: over it the oldest are skipped, or with -store=false ingest refuses (429, reason forward_backlog) (0 = no bound)", text(&c.Forward.MaxBacklog)},
		{"store", "TINYSINK_STORE", "true", "store and digest events; false makes a relay that only spools and forwards to -forward-dsn (no UI, API or store), run as tinysink-relay when that binary lies beside this one", on(&c.Store)},
		{"password-login", "TINYSINK_PASSWORD_LOGIN", "true", "offer login with a user name and password (false: only the proxy header or OpenID Connect)", on(&c.Login.Password)},
		{"auth-proxy-header", "TINYSINK_AUTH_PROXY_HEADER", "", "request header in which a trusted reverse proxy names the logged-in user, e.g. Remote-User (empty = off)", text(&c.Login.ProxyHeader)},
		{"trusted-proxies", "TINYSINK_TRUSTED_PROXIES", "", "comma list of IPs or CIDRs whose connections may set -auth-proxy-header; the header is ignored from anywhere else", text(&c.Login.TrustedProxies)},
		{"auth-proxy-autocreate", "TINYSINK_AUTH_PROXY_AUTOCREATE", "false", "create a (non-admin) user the proxy names on its first visit", on(&c.Login.ProxyAutoCreate)},
		{"oidc-issuer", "TINYSINK_OIDC_ISSUER", "", "OpenID Connect provider's issuer URL, for a \"Log in with\" button (empty = off); register <base-url>/accounts/oidc/callback/ there as redirect URI and <base-url>/accounts/login/ as post-logout redirect URI", text(&c.Login.Issuer)},
		{"oidc-client-id", "TINYSINK_OIDC_CLIENT_ID", "", "OpenID Connect client ID", text(&c.Login.ClientID)},
		{"oidc-client-secret", "TINYSINK_OIDC_CLIENT_SECRET", "", "OpenID Connect client secret (empty for a public client; better set through the environment)", text(&c.Login.Secret)},
		{"oidc-username-claim", "TINYSINK_OIDC_USERNAME_CLAIM", "preferred_username", "ID token claim that names the local user at an identity's first login, e.g. email (then email_verified must be true); later logins go by the provider's subject", text(&c.Login.Claim)},
		{"oidc-scopes", "TINYSINK_OIDC_SCOPES", "openid profile email", "scopes requested from the OpenID Connect provider", text(&c.Login.Scopes)},
		{"oidc-autocreate", "TINYSINK_OIDC_AUTOCREATE", "false", "create a (non-admin) user on a first OpenID Connect login", on(&c.Login.OIDCAutoCreate)},
		{"log-format", "TINYSINK_LOG_FORMAT", "text", "log format: text or json", text(&c.LogFormat)},
		{"log-level", "TINYSINK_LOG_LEVEL", "info", "log level: debug, info, warn or error", text(&c.LogLevel)},
	}
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
	c, settings := newSettings()
	for _, s := range settings {
		// A bad boolean in the environment counts as false, as it always has.
		if err := s.value.Set(envDefault(s)); err != nil {
			s.value.Set("false")
		}
		fs.Var(s.value, s.flag, fmt.Sprintf("%s (env %s)", s.help, s.env))
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage:\n  tinysink [serve] [flags]\n  tinysink project create NAME [flags]\n  tinysink project list [flags]\n  tinysink token create [-scope read|write|admin] [-project ID] [-name NAME] [flags]\n  tinysink user create NAME [-admin] [flags]      (password on stdin)\n  tinysink user password NAME [flags]             (password on stdin)\n  tinysink backup FILE [-url URL] [-token TOKEN] [flags]\n  tinysink restore FILE [flags]\n  tinysink health [-url URL] [-live] [flags]\n  tinysink mcp [-url URL] -token TOKEN [flags]   (MCP server over stdio, for coding agents)\n  tinysink export DIR|- [-url URL] [-token TOKEN] [flags]\n  tinysink import DIR|- [-forward DSN [-project SLUG]] [flags]\n  tinysink budget [-max-rss SIZE] [-scenario new|old] ...   (the RAM profile; runs tinysink-budget)\n\nFlags (before or after the arguments; each defaults to its environment variable):\n")
		printDefaults(fs)
		fmt.Fprintf(stderr, "\nFirst start: TINYSINK_ADMIN_USER (default admin) and TINYSINK_ADMIN_PASSWORD (default: generated and printed once).\n")
	}
	for _, f := range extra {
		f(fs)
	}
	pos, err := parseInterspersed(fs, args)
	return c, pos, err
}

// printDefaults writes fs's flags as flag.PrintDefaults does, naming a
// textValue's type "string" and quoting its default as for a string flag.
func printDefaults(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		if _, ok := f.Value.(*textValue); ok {
			typ = "string"
		}
		var b strings.Builder
		fmt.Fprintf(&b, "  -%s", f.Name)
		if typ != "" {
			b.WriteString(" " + typ)
		}
		if b.Len() <= 4 {
			b.WriteString("\t")
		} else {
			b.WriteString("\n    \t")
		}
		b.WriteString(strings.ReplaceAll(usage, "\n", "\n    \t"))
		switch {
		case typ == "string" && f.DefValue != "":
			fmt.Fprintf(&b, " (default %q)", f.DefValue)
		case typ != "string" && f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0":
			fmt.Fprintf(&b, " (default %v)", f.DefValue)
		}
		fmt.Fprintln(fs.Output(), b.String())
	})
}

// baseURL is the configured base URL, or http://localhost:<port> from the
// listener (or the -addr setting).
func baseURL(c *config, ln net.Listener) string {
	return httpserve.BaseURL(c.BaseURL, c.Addr, ln)
}

func newLogger(c *config, w io.Writer) (*slog.Logger, error) {
	return httpserve.NewLogger(c.LogLevel, c.LogFormat, w)
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
	parse := func(s string) int64 {
		n, perr := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if (perr != nil || n < 0) && err == nil {
			err = fmt.Errorf("bad quota %q", s)
		}
		return n
	}
	limits := func(q quotaSetting) quota.Limits {
		return quota.Limits{FiveMin: parse(q.FiveMin), Hour: parse(q.Hour), Month: parse(q.Month)}
	}
	project, install = limits(c.Quota.Project), limits(c.Quota.Install)
	return project, install, err
}

// itemQuotas parses the per-category item quotas: "PER_5M/PER_HOUR/PER_MONTH",
// or "0" for no limit; empty takes the project event quota's numbers
// (sessions: ten times them, as an SDK sends a session item per session).
func (c *config) itemQuotas(project quota.Limits) (map[string]quota.Limits, error) {
	out := map[string]quota.Limits{}
	for _, it := range []struct {
		cat, value string
		scale      int64
	}{
		{quota.CatTransaction, c.ItemQuota.Transaction, 1},
		{quota.CatSession, c.ItemQuota.Session, 10},
		{quota.CatMonitor, c.ItemQuota.CheckIn, 1},
	} {
		v := strings.TrimSpace(it.value)
		switch v {
		case "":
			out[it.cat] = quota.Limits{FiveMin: project.FiveMin * it.scale, Hour: project.Hour * it.scale, Month: project.Month * it.scale}
			continue
		case "0":
			continue
		}
		parts := strings.Split(v, "/")
		if len(parts) != 3 {
			return nil, fmt.Errorf("bad %s quota %q: want PER_5M/PER_HOUR/PER_MONTH", it.cat, it.value)
		}
		var n [3]int64
		for i, p := range parts {
			x, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
			if err != nil || x < 0 {
				return nil, fmt.Errorf("bad %s quota %q: want PER_5M/PER_HOUR/PER_MONTH", it.cat, it.value)
			}
			n[i] = x
		}
		out[it.cat] = quota.Limits{FiveMin: n[0], Hour: n[1], Month: n[2]}
	}
	return out, nil
}

// maxConns parses -max-conns.
func (c *config) maxConns() (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(c.MaxConns))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("-max-conns: bad number %q", c.MaxConns)
	}
	return n, nil
}

// minFree parses -min-free-disk (see disk.ParseMinFree).
func (c *config) minFree() (bytes int64, frac float64, err error) {
	if bytes, frac, err = disk.ParseMinFree(c.MinFreeDisk); err != nil {
		return 0, 0, fmt.Errorf("-min-free-disk: %w", err)
	}
	return bytes, frac, nil
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

// login parses the login settings for ui.Config: whether the password
// form is off, the proxy header login and the OpenID Connect provider
// (each nil when not configured).
func (c *config) login() (noPassword bool, proxy *ui.ProxyAuth, oidc *ui.OIDC, err error) {
	l := &c.Login
	if h := strings.TrimSpace(l.ProxyHeader); h != "" {
		proxy = &ui.ProxyAuth{Header: h, AutoCreate: l.ProxyAutoCreate}
		for _, s := range splitList(l.TrustedProxies) {
			p, perr := netip.ParsePrefix(s)
			if perr != nil {
				a, aerr := netip.ParseAddr(s)
				if aerr != nil {
					return false, nil, nil, fmt.Errorf("-trusted-proxies: %q is not an IP or CIDR", s)
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			proxy.Trusted = append(proxy.Trusted, p.Masked())
		}
		if len(proxy.Trusted) == 0 {
			return false, nil, nil, fmt.Errorf("-auth-proxy-header needs -trusted-proxies: the addresses of the proxies allowed to set it")
		}
	}
	if iss := strings.TrimSpace(l.Issuer); iss != "" {
		u, perr := url.Parse(iss)
		if perr != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return false, nil, nil, fmt.Errorf("-oidc-issuer: %q is not an http(s) URL", iss)
		}
		if l.ClientID == "" {
			return false, nil, nil, fmt.Errorf("-oidc-issuer needs -oidc-client-id")
		}
		oidc = &ui.OIDC{Issuer: iss, ClientID: l.ClientID, ClientSecret: l.Secret, UsernameClaim: l.Claim, Scopes: l.Scopes, AutoCreate: l.OIDCAutoCreate}
	}
	if !l.Password && proxy == nil && oidc == nil {
		return false, nil, nil, fmt.Errorf("-password-login=false needs -auth-proxy-header or -oidc-issuer: there would be no way to log in")
	}
	return !l.Password, proxy, oidc, nil
}
