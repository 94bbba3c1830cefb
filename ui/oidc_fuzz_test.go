package ui

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// noNetwork fails every request: the fuzz targets must not fetch.
type noNetwork struct{}

func (noNetwork) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("no network in fuzzing")
}

// FuzzParseJWKS: any key set parses or is refused, never a crash.
func FuzzParseJWKS(f *testing.F) {
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","kid":"a","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"},{"kty":"oct","k":"c2VjcmV0"},{"kty":"EC","crv":"P-521"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-384","x":"","y":"//"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := parseJWKS(b)
		if err == nil {
			for _, k := range keys {
				if k.Key == nil {
					t.Fatal("a parsed key without a key")
				}
			}
		}
	})
}

// FuzzVerifyIDToken: any ID token is verified or refused, never a crash,
// and only the seed signed with the key passes.
func FuzzVerifyIDToken(f *testing.F) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	d := &oidcDiscovery{Issuer: "https://id.example", JWKSURI: "https://id.example/keys"}
	c := newOIDCClient(OIDC{Issuer: d.Issuer, ClientID: "ts", Client: &http.Client{Transport: noNetwork{}}})
	c.keys, c.keysAt, c.keysURI = []jwk{{Kid: "k", Key: &priv.PublicKey}}, now, d.JWKSURI

	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signed := enc(map[string]string{"alg": "ES256", "kid": "k"}) + "." +
		enc(map[string]any{"iss": d.Issuer, "aud": "ts", "exp": now.Unix() + 60, "sub": "x", "nonce": "n"})
	sum := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, priv, sum[:])
	if err != nil {
		f.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	good := signed + "." + base64.RawURLEncoding.EncodeToString(sig)
	if _, err := c.verify(context.Background(), d, good, now); err != nil {
		f.Fatalf("the good token: %v", err)
	}
	f.Add(good)
	f.Add(signed + ".")
	f.Add(enc(map[string]string{"alg": "none"}) + "." + enc(map[string]any{"iss": d.Issuer, "aud": []string{"ts"}, "exp": 1e300}) + ".")
	f.Add("..")
	f.Fuzz(func(t *testing.T, tok string) {
		claims, err := c.verify(context.Background(), d, tok, now)
		if err == nil && claims["iss"] != d.Issuer {
			t.Fatalf("verified a token of issuer %v", claims["iss"])
		}
	})
}

// FuzzLogoutState: any state on the login page is refused unless this
// process signed it, never a crash.
func FuzzLogoutState(f *testing.F) {
	c := newOIDCClient(OIDC{Issuer: "https://id.example", ClientID: "ts", Client: &http.Client{Transport: noNetwork{}}})
	now := time.Unix(1_800_000_000, 0)
	good := c.logoutState(now)
	f.Add(good)
	f.Add("logout.1800000600.")
	f.Add("logout..")
	f.Add("logout.-1.AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		// (Base64 without strict decoding lets the signature's last
		// character vary in its unused bits; the signed part may not.)
		if c.loggedOutState(s, now) && s[:strings.LastIndexByte(s, '.')] != good[:strings.LastIndexByte(good, '.')] {
			t.Fatalf("accepted a state this process did not make: %q", s)
		}
	})
}
