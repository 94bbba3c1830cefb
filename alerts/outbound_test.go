package alerts

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tinysink/tinysink/store"
)

func TestIsPublic(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		addr string
		want bool
	}{
		{"8.8.8.8", true}, {"1.1.1.1", true}, {"2606:4700:4700::1111", true},
		{"127.0.0.1", false}, {"10.1.2.3", false}, {"172.16.0.1", false}, {"192.168.1.5", false},
		{"169.254.169.254", false}, {"100.64.0.1", false}, {"0.0.0.0", false}, {"255.255.255.255", false},
		{"224.0.0.1", false}, {"192.0.2.1", false}, {"198.18.0.1", false},
		{"::1", false}, {"::", false}, {"fe80::1", false}, {"fd00::1", false}, {"2001:db8::1", false},
		{"::ffff:127.0.0.1", false}, {"::ffff:8.8.8.8", true},
		{"64:ff9b::7f00:1", false}, {"64:ff9b::808:808", true}, // NAT64 of 127.0.0.1 / 8.8.8.8
		{"2002:c0a8:105::1", false}, // 6to4 of 192.168.1.5
	} {
		if got := isPublic(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("isPublic(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

func TestVetterLists(t *testing.T) {
	t.Parallel()
	dns := map[string][]string{
		"hooks.slack.com":   {"52.1.2.3"},
		"nas.lan":           {"192.168.1.5"},
		"mixed.example.org": {"52.1.2.3", "10.0.0.1"},
		"a.evil.example":    {"52.9.9.9"},
	}
	lookup := func(_ context.Context, host string) ([]netip.Addr, error) {
		var out []netip.Addr
		for _, a := range dns[host] {
			out = append(out, netip.MustParseAddr(a))
		}
		if out == nil {
			return nil, errors.New("no such host")
		}
		return out, nil
	}
	for _, tt := range []struct {
		name   string
		policy OutboundPolicy
		host   string
		allow  bool
	}{
		{"open by default", OutboundPolicy{}, "nas.lan", true},
		{"open: loopback", OutboundPolicy{}, "127.0.0.1", true},
		{"non-public refused", OutboundPolicy{DenyNonPublic: true}, "nas.lan", false},
		{"public allowed", OutboundPolicy{DenyNonPublic: true}, "hooks.slack.com", true},
		{"one bad address refuses the host", OutboundPolicy{DenyNonPublic: true}, "mixed.example.org", false},
		{"allowed address", OutboundPolicy{DenyNonPublic: true, Allow: []string{"192.168.1.5"}}, "nas.lan", true},
		{"allowed prefix", OutboundPolicy{DenyNonPublic: true, Allow: []string{"192.168.0.0/16"}}, "nas.lan", true},
		{"allowed host", OutboundPolicy{DenyNonPublic: true, Allow: []string{"NAS.lan"}}, "nas.lan", true},
		{"denied host", OutboundPolicy{Deny: []string{"hooks.slack.com"}}, "hooks.slack.com", false},
		{"denied subdomain", OutboundPolicy{Deny: []string{"*.evil.example"}}, "a.evil.example", false},
		{"wildcard subdomain", OutboundPolicy{Deny: []string{"*.slack.com"}}, "hooks.slack.com", false},
		{"wildcard not the domain itself", OutboundPolicy{Deny: []string{"*.nas.lan"}}, "nas.lan", true},
		{"denied prefix", OutboundPolicy{Deny: []string{"52.0.0.0/8"}}, "hooks.slack.com", false},
		{"denied literal", OutboundPolicy{Deny: []string{"127.0.0.1"}}, "127.0.0.1", false},
		{"allowlist only: listed", OutboundPolicy{Deny: []string{"0.0.0.0/0", "::/0"}, Allow: []string{"hooks.slack.com"}}, "hooks.slack.com", true},
		{"allowlist only: unlisted", OutboundPolicy{Deny: []string{"0.0.0.0/0", "::/0"}, Allow: []string{"hooks.slack.com"}}, "a.evil.example", false},
		{"mapped literal", OutboundPolicy{DenyNonPublic: true}, "::ffff:10.0.0.1", false},
	} {
		v, err := newVetter(tt.policy)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		v.lookup = lookup
		_, err = v.resolve(context.Background(), tt.host)
		var refused *RefusedError
		if tt.allow && err != nil {
			t.Errorf("%s: resolve(%s) = %v, want allowed", tt.name, tt.host, err)
		}
		if !tt.allow && !errors.As(err, &refused) {
			t.Errorf("%s: resolve(%s) = %v, want a RefusedError", tt.name, tt.host, err)
		}
	}
	if err := (OutboundPolicy{Allow: []string{"ok.example", "10.0.0.0/8"}, Deny: []string{"bad host!", "300.1.1.1/8"}}).Validate(); err == nil ||
		!strings.Contains(err.Error(), "bad host!") || !strings.Contains(err.Error(), "300.1.1.1/8") {
		t.Errorf("Validate = %v", err)
	}
}

func TestDenyNonPublicEndToEnd(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		policy    OutboundPolicy
		delivered bool
	}{
		{"off by default", OutboundPolicy{}, true},
		{"on refuses loopback", OutboundPolicy{DenyNonPublic: true}, false},
		{"on, with loopback allowed", OutboundPolicy{DenyNonPublic: true, Allow: []string{"127.0.0.0/8"}}, true},
		{"deny list", OutboundPolicy{Deny: []string{"127.0.0.1"}}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{}
			db := newDB(t, c)
			p, iss := seed(t, db, "App")
			rc := newReceiver(t, nil)
			b := addBackend(t, db, p.ID, "webhook", map[string]string{"webhook_url": rc.URL + "/hook"})
			s := newSender(t, db, c, func(cfg *Config) { cfg.Outbound = tt.policy })
			run(t, s)
			enqueue(t, db, store.Alert{Project: p.ID, Issue: iss.ID, Reason: store.ReasonNew})
			s.Poke()
			waitFor(t, "the outbox to empty", 5*time.Second, func() bool {
				out, _ := db.Outbox()
				return len(out) == 0
			})
			got, _ := db.AlertBackend(b.ID)
			if tt.delivered {
				if rc.count(200) != 1 || got.LastFailure != nil {
					t.Errorf("not delivered: %d requests, failure %+v", rc.count(0), got.LastFailure)
				}
				return
			}
			if rc.count(0) != 0 {
				t.Errorf("refused destination got %d requests", rc.count(0))
			}
			if got.LastFailure == nil || !strings.Contains(got.LastFailure.Error, "outbound policy refuses 127.0.0.1") {
				t.Errorf("refusal not recorded: %+v", got.LastFailure)
			}
		})
	}
}

// TestConnectionPinned shows that the connection goes to the address the
// policy checked while the request keeps its host name: "hook.test" does
// not resolve in DNS, only in the vetter.
func TestConnectionPinned(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	u, _ := url.Parse(rc.URL)
	v, _ := newVetter(OutboundPolicy{DenyNonPublic: true, Allow: []string{"127.0.0.1"}})
	var asked []string
	v.lookup = func(_ context.Context, host string) ([]netip.Addr, error) {
		asked = append(asked, host)
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	resp, err := newClient(v).Get("http://hook.test:" + u.Port() + "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if h := rc.got(); len(h) != 1 || h[0].host != "hook.test:"+u.Port() {
		t.Errorf("receiver saw %+v", h)
	}
	if len(asked) != 1 || asked[0] != "hook.test" {
		t.Errorf("lookups = %v", asked)
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	c := &clock{}
	db := newDB(t, c)
	p, iss := seed(t, db, "App")
	target := newReceiver(t, nil)
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) int {
		http.Redirect(w, r, target.URL+"/elsewhere", http.StatusTemporaryRedirect)
		return 307
	})
	b := addBackend(t, db, p.ID, "webhook", map[string]string{"webhook_url": rc.URL + "/hook"})
	s := newSender(t, db, c, nil)
	run(t, s)
	enqueue(t, db, store.Alert{Project: p.ID, Issue: iss.ID, Reason: store.ReasonNew})
	s.Poke()
	waitFor(t, "the outbox to empty", 5*time.Second, func() bool {
		out, _ := db.Outbox()
		return len(out) == 0
	})
	if rc.count(0) != 1 || target.count(0) != 0 {
		t.Errorf("redirecting endpoint got %d requests, its target %d", rc.count(0), target.count(0))
	}
	if got, _ := db.AlertBackend(b.ID); got.LastFailure == nil || got.LastFailure.Status != 307 || !strings.Contains(got.LastFailure.Error, "not followed") {
		t.Errorf("failure = %+v", got.LastFailure)
	}
}
