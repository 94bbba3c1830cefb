package store

import (
	"net/url"
	"strconv"
	"strings"
)

// The one masking rule for alert-backend secrets (the config keys whose
// BackendField is Secret). Every page and API reply shows a secret only
// through MaskSecret, and every failure text shown has been through
// ScrubSecrets.

// MaskSecret shows enough of a secret to recognise it, and nothing that
// would let anyone use it: a URL's scheme and host and, for a long path,
// its last four characters (a webhook URL's path is its secret); a bot
// token's bot id and, for a long token, its last four characters. Anything
// else becomes "…".
func MaskSecret(v string) string {
	if u, err := url.Parse(v); err == nil && u.Scheme != "" && u.Host != "" {
		return u.Scheme + "://" + u.Host + maskPath(u.RequestURI())
	}
	if id, secret, ok := strings.Cut(v, ":"); ok && allDigits(id) {
		return id + ":…" + lastFour(secret)
	}
	return "…"
}

// maskPath hides a URL's path and query, keeping the last four characters
// of a long one.
func maskPath(p string) string {
	if len(p) <= 1 {
		return "/"
	}
	return "/…" + lastFour(p)
}

// lastFour returns the last four bytes of s when s is at least 16 long,
// so that at most a quarter of a secret shows; else "".
func lastFour(s string) string {
	if len(s) < 16 {
		return ""
	}
	return s[len(s)-4:]
}

// IsSecretKey reports whether config key holds a secret: one that some kind
// of backend declares Secret (whatever the backend's own kind, so that a
// key out of place is never shown).
func IsSecretKey(key string) bool {
	for _, bk := range backendKinds {
		for _, f := range bk.Fields {
			if f.Key == key && f.Secret {
				return true
			}
		}
	}
	return false
}

// Secrets returns the backend's secret config values.
func (b *AlertBackend) Secrets() []string {
	var out []string
	for k, v := range b.Config {
		if v != "" && IsSecretKey(k) {
			out = append(out, v)
		}
	}
	return out
}

// MaskedConfig returns a copy of the backend's config with its secrets
// masked.
func (b *AlertBackend) MaskedConfig() map[string]string {
	out := make(map[string]string, len(b.Config))
	for k, v := range b.Config {
		if IsSecretKey(k) {
			v = MaskSecret(v)
		}
		out[k] = v
	}
	return out
}

// ScrubSecrets returns s with the backend's secrets replaced by their
// masks: whole, as Go quotes them, a URL's path and query on their own
// (net/http's errors quote a URL with its password replaced), and a bot
// token's part after the bot id.
func (b *AlertBackend) ScrubSecrets(s string) string {
	for _, sec := range b.Secrets() {
		m := MaskSecret(sec)
		s = strings.ReplaceAll(s, sec, m)
		if q := strconv.Quote(sec); len(q) > 2 {
			s = strings.ReplaceAll(s, q[1:len(q)-1], m)
		}
		if u, err := url.Parse(sec); err == nil && u.Host != "" {
			if rest := u.RequestURI(); len(rest) > 1 {
				s = strings.ReplaceAll(s, rest, maskPath(rest))
			}
		} else if _, tok, ok := strings.Cut(sec, ":"); ok && len(tok) >= 8 {
			s = strings.ReplaceAll(s, tok, "…"+lastFour(tok))
		}
	}
	return s
}

// Scrubbed returns a copy of f with the backend's secrets masked in its
// texts; nil for nil.
func (b *AlertBackend) Scrubbed(f *Failure) *Failure {
	if f == nil {
		return nil
	}
	ff := *f
	ff.Error = b.ScrubSecrets(ff.Error)
	ff.Body = b.ScrubSecrets(ff.Body)
	return &ff
}
