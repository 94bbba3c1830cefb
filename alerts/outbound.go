package alerts

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// OutboundPolicy says which addresses webhooks (every messaging backend)
// may connect to. The SMTP server is the operator's own setting and is not
// subject to it.
//
// A destination's host is resolved and every address it resolves to is
// checked; the connection then goes to a checked address, so a DNS answer
// that changes between the check and the connection (DNS rebinding) cannot
// send it elsewhere. For each address, in order:
//
//   - the host or the address matches Allow: allowed;
//   - the host or the address matches Deny: refused;
//   - DenyNonPublic is set and the address is not a public unicast address
//     (loopback, private, link-local, CGNAT, documentation, ...): refused;
//   - otherwise allowed.
//
// So Deny "0.0.0.0/0" and "::/0" with a short Allow list gives an
// allowlist-only installation, and DenyNonPublic with Allow "192.168.1.5"
// opens one LAN host.
type OutboundPolicy struct {
	// DenyNonPublic refuses non-public addresses. It is off by default: a
	// webhook on the home LAN is a normal target.
	DenyNonPublic bool
	// Allow and Deny hold host names ("hooks.example.org", or
	// "*.example.org" for its subdomains), IP addresses and CIDR prefixes.
	Allow, Deny []string
}

// Validate reports entries of Allow and Deny that are neither host names
// nor addresses nor prefixes.
func (p OutboundPolicy) Validate() error {
	_, err := newVetter(p)
	return err
}

// RefusedError is returned for a connection the OutboundPolicy refuses.
type RefusedError struct {
	Host   string
	Addr   netip.Addr // invalid when the host itself was refused
	Reason string
}

func (e *RefusedError) Error() string {
	if e.Addr.IsValid() && e.Addr.String() != e.Host {
		return fmt.Sprintf("alerts: outbound policy refuses %s (%s): %s", e.Host, e.Addr, e.Reason)
	}
	return fmt.Sprintf("alerts: outbound policy refuses %s: %s", e.Host, e.Reason)
}

// vetter applies an OutboundPolicy.
type vetter struct {
	denyNonPublic         bool
	allowHosts, denyHosts []string // lower case; "*.x" matches subdomains of x
	allowNets, denyNets   []netip.Prefix
	lookup                func(ctx context.Context, host string) ([]netip.Addr, error)
}

func newVetter(p OutboundPolicy) (*vetter, error) {
	v := &vetter{denyNonPublic: p.DenyNonPublic, lookup: lookupHost}
	var errs []error
	parse := func(list []string, hosts *[]string, nets *[]netip.Prefix) {
		for _, e := range list {
			e = strings.ToLower(strings.TrimSpace(e))
			if e == "" {
				continue
			}
			if pfx, err := netip.ParsePrefix(e); err == nil {
				*nets = append(*nets, pfx.Masked())
			} else if a, err := netip.ParseAddr(strings.Trim(e, "[]")); err == nil {
				a = a.Unmap()
				*nets = append(*nets, netip.PrefixFrom(a, a.BitLen()))
			} else if validHostPattern(e) {
				*hosts = append(*hosts, strings.TrimSuffix(e, "."))
			} else {
				errs = append(errs, fmt.Errorf("alerts: %q is not a host name, address or CIDR prefix", e))
			}
		}
	}
	parse(p.Allow, &v.allowHosts, &v.allowNets)
	parse(p.Deny, &v.denyHosts, &v.denyNets)
	return v, errors.Join(errs...)
}

func validHostPattern(s string) bool {
	s = strings.TrimPrefix(strings.TrimSuffix(s, "."), "*.")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func lookupHost(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

func matchHost(patterns []string, host string) bool {
	for _, p := range patterns {
		if sfx, ok := strings.CutPrefix(p, "*."); ok {
			if strings.HasSuffix(host, "."+sfx) {
				return true
			}
		} else if host == p {
			return true
		}
	}
	return false
}

func inNets(nets []netip.Prefix, a netip.Addr) bool {
	for _, n := range nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// resolve returns the addresses of host that the policy allows, or a
// *RefusedError when it refuses any of them.
func (v *vetter) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		addrs = []netip.Addr{a.WithZone("")}
	} else {
		if addrs, err = v.lookup(ctx, host); err != nil {
			return nil, err
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("alerts: %s has no addresses", host)
		}
	}
	for i := range addrs {
		addrs[i] = addrs[i].Unmap()
	}
	if matchHost(v.allowHosts, host) {
		return addrs, nil
	}
	if matchHost(v.denyHosts, host) {
		return nil, &RefusedError{Host: host, Reason: "host is on the deny list"}
	}
	for _, a := range addrs {
		switch {
		case inNets(v.allowNets, a):
		case inNets(v.denyNets, a):
			return nil, &RefusedError{Host: host, Addr: a, Reason: "address is on the deny list"}
		case v.denyNonPublic && !isPublic(a):
			return nil, &RefusedError{Host: host, Addr: a, Reason: "address is not public"}
		}
	}
	return addrs, nil
}

// nonPublic lists the special-purpose ranges that net/netip's predicates
// do not cover.
var nonPublic = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4",
		"100::/64", "2001::/23", "2001:db8::/32", "fec0::/10",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// isPublic reports whether a is a globally routable unicast address. For
// NAT64 and 6to4 addresses the embedded IPv4 address decides.
func isPublic(a netip.Addr) bool {
	a = a.Unmap()
	if nat64.Contains(a) {
		b := a.As16()
		return isPublic(netip.AddrFrom4([4]byte(b[12:16])))
	}
	if sixToFour.Contains(a) {
		b := a.As16()
		return isPublic(netip.AddrFrom4([4]byte(b[2:6])))
	}
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsUnspecified() || a.IsMulticast() ||
		a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() {
		return false
	}
	return !inNets(nonPublic, a)
}

// dialContext resolves and checks addr's host, then dials the checked
// addresses in turn. The caller (http.Transport) keeps the original host
// for the Host header and TLS server name.
func (v *vetter) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	addrs, err := v.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: webhookTimeout}
	var errs []error
	for _, a := range addrs {
		c, err := d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// webhookTimeout bounds one webhook request, from dial to the last byte
// of the reply.
const webhookTimeout = 5 * time.Second

// newClient returns the HTTP client for webhooks: no proxy, no redirects,
// connections pinned to vetted addresses, a 5 s timeout.
func newClient(v *vetter) *http.Client {
	return &http.Client{
		Timeout: webhookTimeout,
		Transport: &http.Transport{
			Proxy:                 nil, // a proxy would be checked instead of the destination
			DialContext:           v.dialContext,
			ForceAttemptHTTP2:     true,
			TLSHandshakeTimeout:   webhookTimeout,
			ResponseHeaderTimeout: webhookTimeout,
			MaxIdleConns:          4,
			MaxIdleConnsPerHost:   1,
			IdleConnTimeout:       30 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
