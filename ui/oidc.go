package ui

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	_ "crypto/sha512" // SHA-384 and SHA-512 for RS384, RS512, ES384
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// OIDC is an OpenID Connect provider users may log in with: the
// authorization code flow with PKCE (S256), a state and a nonce, and the
// ID token's signature checked against the provider's published keys
// (RS256/384/512, PS256/384/512, ES256/384).
type OIDC struct {
	// Issuer is the provider's issuer URL; its discovery document is at
	// Issuer + "/.well-known/openid-configuration".
	Issuer       string
	ClientID     string
	ClientSecret string // empty for a public client
	// UsernameClaim names the ID token claim that is the local user name;
	// default "preferred_username".
	UsernameClaim string
	// Scopes requested; default "openid profile email".
	Scopes string
	// AutoCreate creates a local (non-admin) user on a first login whose
	// name does not exist yet; otherwise an admin creates it first.
	AutoCreate bool
	// Client makes the requests to the provider; default one with a
	// 10-second timeout.
	Client *http.Client
}

const (
	oidcCookie      = "tinysink_oidc"
	oidcCookiePath  = "/accounts/oidc/"
	oidcFlowTTL     = 10 * time.Minute
	oidcLeeway      = time.Minute      // clock skew allowed on exp, nbf, iat
	oidcCacheTTL    = time.Hour        // how long discovery and keys are kept
	oidcKeyRefetch  = time.Minute      // unknown kid: refetch keys at most this often
	oidcMaxResponse = 1 << 20          // largest provider response read
	oidcTimeout     = 10 * time.Second // default client timeout
)

// oidcClient is the relying party: the settings, the discovery and key
// caches (a few KB, fetched on the first login), and the key that signs
// the flow cookie.
type oidcClient struct {
	cfg    OIDC
	hmac   []byte // signs the flow cookie; new on every start
	client *http.Client

	mu      sync.Mutex // guards the fields below
	disc    *oidcDiscovery
	discAt  time.Time
	keys    []jwk
	keysAt  time.Time
	keysURI string
}

func newOIDCClient(cfg OIDC) *oidcClient {
	if cfg.UsernameClaim == "" {
		cfg.UsernameClaim = "preferred_username"
	}
	if cfg.Scopes == "" {
		cfg.Scopes = "openid profile email"
	}
	if !slices.Contains(strings.Fields(cfg.Scopes), "openid") {
		cfg.Scopes = "openid " + cfg.Scopes
	}
	c := &oidcClient{cfg: cfg, client: cfg.Client, hmac: make([]byte, 32)}
	if c.client == nil {
		c.client = &http.Client{Timeout: oidcTimeout}
	}
	rand.Read(c.hmac)
	return c
}

// oidcDiscovery is the part of the discovery document used.
type oidcDiscovery struct {
	Issuer           string   `json:"issuer"`
	AuthEndpoint     string   `json:"authorization_endpoint"`
	TokenEndpoint    string   `json:"token_endpoint"`
	JWKSURI          string   `json:"jwks_uri"`
	UserinfoEndpoint string   `json:"userinfo_endpoint"`
	TokenAuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	ChallengeMethods []string `json:"code_challenge_methods_supported"`
	// EndSessionEndpoint is RP-Initiated Logout's (OpenID Connect
	// RP-Initiated Logout 1.0); "" when the provider has none.
	EndSessionEndpoint string `json:"end_session_endpoint"`
}

// discovery returns the provider's discovery document, fetched on first
// use and kept for oidcCacheTTL.
func (c *oidcClient) discovery(ctx context.Context, now time.Time) (*oidcDiscovery, error) {
	c.mu.Lock()
	d, at := c.disc, c.discAt
	c.mu.Unlock()
	if d != nil && now.Sub(at) < oidcCacheTTL {
		return d, nil
	}
	d = new(oidcDiscovery)
	if err := c.getJSON(ctx, strings.TrimRight(c.cfg.Issuer, "/")+"/.well-known/openid-configuration", d); err != nil {
		return nil, fmt.Errorf("oidc discovery: %w", err)
	}
	if strings.TrimRight(d.Issuer, "/") != strings.TrimRight(c.cfg.Issuer, "/") {
		return nil, fmt.Errorf("oidc discovery: the document names issuer %q, not %q", d.Issuer, c.cfg.Issuer)
	}
	if d.AuthEndpoint == "" || d.TokenEndpoint == "" || d.JWKSURI == "" {
		return nil, errors.New("oidc discovery: the document lacks an authorization, token or jwks endpoint")
	}
	if len(d.ChallengeMethods) > 0 && !slices.Contains(d.ChallengeMethods, "S256") {
		return nil, errors.New("oidc discovery: the provider does not support PKCE with S256")
	}
	c.mu.Lock()
	c.disc, c.discAt = d, now
	c.mu.Unlock()
	return d, nil
}

func (c *oidcClient) getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	return c.doJSON(req, v)
}

// doJSON sends req and decodes a 2xx JSON answer into v; an OAuth error
// answer becomes an error naming its code.
func (c *oidcClient) doJSON(req *http.Request, v any) error {
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, oidcMaxResponse+1))
	if err != nil {
		return err
	}
	if len(body) > oidcMaxResponse {
		return fmt.Errorf("%s: answer larger than %d bytes", req.URL.Redacted(), oidcMaxResponse)
	}
	if resp.StatusCode/100 != 2 {
		var oe struct {
			Error string `json:"error"`
			Desc  string `json:"error_description"`
		}
		if json.Unmarshal(body, &oe) == nil && oe.Error != "" {
			return fmt.Errorf("%s: %s (%s)", req.URL.Redacted(), oe.Error, oe.Desc)
		}
		return fmt.Errorf("%s: status %d", req.URL.Redacted(), resp.StatusCode)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s: %w", req.URL.Redacted(), err)
	}
	return nil
}

// oidcFlow is what the flow cookie carries from the redirect to the
// provider back to the callback.
type oidcFlow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Next     string `json:"x"`
	Expires  int64  `json:"e"` // Unix seconds
}

// sealFlow encodes f as a cookie value signed with the process's key, so
// a cookie planted by someone else (from a sibling subdomain, say) is
// refused.
func (c *oidcClient) sealFlow(f *oidcFlow) string {
	b, _ := json.Marshal(f)
	p := base64.RawURLEncoding.EncodeToString(b)
	return p + "." + base64.RawURLEncoding.EncodeToString(c.mac(p))
}

func (c *oidcClient) openFlow(v string, now time.Time) (*oidcFlow, error) {
	p, sig, ok := strings.Cut(v, ".")
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err != nil || !hmac.Equal(mac, c.mac(p)) {
		return nil, errors.New("the login cookie is not ours")
	}
	b, err := base64.RawURLEncoding.DecodeString(p)
	var f oidcFlow
	if err != nil || json.Unmarshal(b, &f) != nil {
		return nil, errors.New("the login cookie is malformed")
	}
	if now.Unix() > f.Expires {
		return nil, errors.New("the login took too long")
	}
	return &f, nil
}

func (c *oidcClient) mac(p string) []byte {
	h := hmac.New(sha256.New, c.hmac)
	h.Write([]byte(p))
	return h.Sum(nil)
}

func randomToken() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// authURL starts a login: it returns the provider's authorization URL and
// the flow cookie's value.
func (c *oidcClient) authURL(ctx context.Context, redirectURI, next string, now time.Time) (string, string, error) {
	d, err := c.discovery(ctx, now)
	if err != nil {
		return "", "", err
	}
	f := &oidcFlow{State: randomToken(), Nonce: randomToken(), Verifier: randomToken(), Next: next, Expires: now.Add(oidcFlowTTL).Unix()}
	challenge := sha256.Sum256([]byte(f.Verifier))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {c.cfg.ClientID},
		"redirect_uri":          {redirectURI},
		"scope":                 {c.cfg.Scopes},
		"state":                 {f.State},
		"nonce":                 {f.Nonce},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(challenge[:])},
		"code_challenge_method": {"S256"},
	}
	sep := "?"
	if strings.Contains(d.AuthEndpoint, "?") {
		sep = "&"
	}
	return d.AuthEndpoint + sep + q.Encode(), c.sealFlow(f), nil
}

// exchange redeems code at the token endpoint and returns the verified
// ID token's claims and the token itself.
func (c *oidcClient) exchange(ctx context.Context, code, redirectURI string, f *oidcFlow, now time.Time) (map[string]any, string, error) {
	d, err := c.discovery(ctx, now)
	if err != nil {
		return nil, "", err
	}
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {redirectURI},
		"code_verifier": {f.Verifier},
	}
	basic := c.cfg.ClientSecret != "" &&
		(len(d.TokenAuthMethods) == 0 || slices.Contains(d.TokenAuthMethods, "client_secret_basic") || !slices.Contains(d.TokenAuthMethods, "client_secret_post"))
	if !basic {
		form.Set("client_id", c.cfg.ClientID)
		if c.cfg.ClientSecret != "" {
			form.Set("client_secret", c.cfg.ClientSecret)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if basic {
		// RFC 6749 §2.3.1: both parts form-encoded before Basic.
		req.SetBasicAuth(url.QueryEscape(c.cfg.ClientID), url.QueryEscape(c.cfg.ClientSecret))
	}
	var tok struct {
		IDToken     string `json:"id_token"`
		AccessToken string `json:"access_token"`
	}
	if err := c.doJSON(req, &tok); err != nil {
		return nil, "", fmt.Errorf("oidc token: %w", err)
	}
	if tok.IDToken == "" {
		return nil, "", errors.New("oidc token: the answer has no id_token")
	}
	claims, err := c.verify(ctx, d, tok.IDToken, now)
	if err != nil {
		return nil, "", err
	}
	if n, _ := claims["nonce"].(string); subtle.ConstantTimeCompare([]byte(n), []byte(f.Nonce)) != 1 {
		return nil, "", errors.New("oidc: the ID token's nonce is not this login's")
	}
	_, named := claims[c.cfg.UsernameClaim]
	_, verified := claims["email_verified"]
	if (!named || c.cfg.UsernameClaim == "email" && !verified) && d.UserinfoEndpoint != "" && tok.AccessToken != "" {
		// Many providers put profile claims only in the userinfo answer.
		if err := c.userinfo(ctx, d, tok.AccessToken, claims); err != nil {
			return nil, "", err
		}
	}
	return claims, tok.IDToken, nil
}

// userinfo adds the username claim (and email_verified) from the
// provider's userinfo endpoint to claims, whose sub it must match.
func (c *oidcClient) userinfo(ctx context.Context, d *oidcDiscovery, accessToken string, claims map[string]any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.UserinfoEndpoint, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+accessToken)
	var info map[string]any
	if err := c.doJSON(req, &info); err != nil {
		return fmt.Errorf("oidc userinfo: %w", err)
	}
	if sub, _ := info["sub"].(string); sub == "" || sub != claims["sub"] {
		return errors.New("oidc userinfo: the answer is about another subject than the ID token")
	}
	for _, k := range []string{c.cfg.UsernameClaim, "email_verified"} {
		if v, ok := info[k]; ok {
			claims[k] = v
		}
	}
	return nil
}

// verify checks an ID token's signature against the provider's keys and
// its iss, aud, azp, exp, nbf and iat claims, and returns its claims.
func (c *oidcClient) verify(ctx context.Context, d *oidcDiscovery, token string, now time.Time) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("oidc: the ID token is not a signed JWT")
	}
	var hdr struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := decodeSegment(parts[0], &hdr); err != nil {
		return nil, fmt.Errorf("oidc: ID token header: %w", err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, errors.New("oidc: ID token signature: bad base64")
	}
	alg, ok := lookupJWSAlg(hdr.Alg)
	if !ok {
		return nil, fmt.Errorf("oidc: ID token signed with %q, which is not supported", hdr.Alg)
	}
	signed := []byte(parts[0] + "." + parts[1])
	key, err := c.key(ctx, d, hdr.Kid, hdr.Alg, alg, now)
	if err != nil {
		return nil, err
	}
	if err := alg.verify(key, signed, sig); err != nil {
		return nil, fmt.Errorf("oidc: ID token signature: %w", err)
	}
	var claims map[string]any
	if err := decodeSegment(parts[1], &claims); err != nil {
		return nil, fmt.Errorf("oidc: ID token claims: %w", err)
	}
	if iss, _ := claims["iss"].(string); iss != d.Issuer {
		return nil, fmt.Errorf("oidc: the ID token's issuer is %q, not %q", iss, d.Issuer)
	}
	var aud []string
	switch a := claims["aud"].(type) {
	case string:
		aud = []string{a}
	case []any:
		for _, v := range a {
			if s, ok := v.(string); ok {
				aud = append(aud, s)
			}
		}
	}
	if !slices.Contains(aud, c.cfg.ClientID) {
		return nil, fmt.Errorf("oidc: the ID token is meant for %q, not this client", aud)
	}
	if azp, ok := claims["azp"].(string); ok && azp != c.cfg.ClientID {
		return nil, fmt.Errorf("oidc: the ID token was issued to %q, not this client", azp)
	}
	exp, ok := claims["exp"].(float64)
	if !ok {
		return nil, errors.New("oidc: the ID token has no exp")
	}
	if now.Add(-oidcLeeway).After(time.Unix(int64(exp), 0)) {
		return nil, errors.New("oidc: the ID token has expired")
	}
	if nbf, ok := claims["nbf"].(float64); ok && now.Add(oidcLeeway).Before(time.Unix(int64(nbf), 0)) {
		return nil, errors.New("oidc: the ID token is not valid yet")
	}
	if iat, ok := claims["iat"].(float64); ok && now.Add(oidcLeeway).Before(time.Unix(int64(iat), 0)) {
		return nil, errors.New("oidc: the ID token was issued in the future")
	}
	return claims, nil
}

// endSessionURL returns where to send the browser to end the login at
// the provider too (OpenID Connect RP-Initiated Logout 1.0), or "" when
// the provider has no end_session_endpoint. idToken is the ID token of
// the login; returnTo is where the provider sends the browser after.
func (c *oidcClient) endSessionURL(ctx context.Context, idToken, returnTo string, now time.Time) (string, error) {
	d, err := c.discovery(ctx, now)
	if err != nil || d.EndSessionEndpoint == "" {
		return "", err
	}
	q := url.Values{
		"id_token_hint":            {idToken},
		"client_id":                {c.cfg.ClientID},
		"post_logout_redirect_uri": {returnTo},
		"state":                    {c.logoutState(now)},
	}
	sep := "?"
	if strings.Contains(d.EndSessionEndpoint, "?") {
		sep = "&"
	}
	return d.EndSessionEndpoint + sep + q.Encode(), nil
}

// logoutState is the state sent with a logout at the provider: a signed
// expiry, which the login page it returns to checks (loggedOutState)
// before saying that the provider's session ended too.
func (c *oidcClient) logoutState(now time.Time) string {
	p := "logout." + strconv.FormatInt(now.Add(oidcFlowTTL).Unix(), 10)
	return p + "." + base64.RawURLEncoding.EncodeToString(c.mac(p))
}

// loggedOutState reports whether state is one logoutState made and not
// expired.
func (c *oidcClient) loggedOutState(state string, now time.Time) bool {
	i := strings.LastIndexByte(state, '.')
	if i < 0 || !strings.HasPrefix(state, "logout.") {
		return false
	}
	mac, err := base64.RawURLEncoding.DecodeString(state[i+1:])
	if err != nil || !hmac.Equal(mac, c.mac(state[:i])) {
		return false
	}
	exp, err := strconv.ParseInt(strings.TrimPrefix(state[:i], "logout."), 10, 64)
	return err == nil && now.Unix() <= exp
}

func decodeSegment(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return errors.New("bad base64")
	}
	return json.Unmarshal(b, v)
}

// jwk is one key of a JSON Web Key Set (RFC 7517), parsed.
type jwk struct {
	Kid string
	Alg string
	Key crypto.PublicKey // *rsa.PublicKey or *ecdsa.PublicKey
}

// key returns the provider's key kid for alg, fetching the key set on
// first use, when the cache is old, or when kid is unknown (keys rotate).
func (c *oidcClient) key(ctx context.Context, d *oidcDiscovery, kid, name string, alg jwsAlg, now time.Time) (crypto.PublicKey, error) {
	c.mu.Lock()
	keys, at, uri := c.keys, c.keysAt, c.keysURI
	c.mu.Unlock()
	fresh := uri == d.JWKSURI && now.Sub(at) < oidcCacheTTL
	if k := pickKey(keys, kid, name, alg); fresh && k != nil {
		return k, nil
	}
	if fresh && now.Sub(at) < oidcKeyRefetch {
		return nil, fmt.Errorf("oidc: no key %q for %s in the provider's key set", kid, name)
	}
	var raw json.RawMessage
	if err := c.getJSON(ctx, d.JWKSURI, &raw); err != nil {
		return nil, fmt.Errorf("oidc keys: %w", err)
	}
	keys, err := parseJWKS(raw)
	if err != nil {
		return nil, fmt.Errorf("oidc keys: %w", err)
	}
	c.mu.Lock()
	c.keys, c.keysAt, c.keysURI = keys, now, d.JWKSURI
	c.mu.Unlock()
	if k := pickKey(keys, kid, name, alg); k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("oidc: no key %q for %s in the provider's key set", kid, name)
}

// parseJWKS returns the signing keys of a JSON Web Key Set (RFC 7517)
// tinysink can use: RSA keys of 2048 bits or more, EC keys on P-256 and
// P-384 whose point is on the curve. Other keys are skipped.
func parseJWKS(b []byte) ([]jwk, error) {
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Use string `json:"use"`
			Alg string `json:"alg"`
			N   string `json:"n"`
			E   string `json:"e"`
			Crv string `json:"crv"`
			X   string `json:"x"`
			Y   string `json:"y"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, err
	}
	var keys []jwk
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		var pub crypto.PublicKey
		switch k.Kty {
		case "RSA":
			n, e := b64Int(k.N), b64Int(k.E)
			if n == nil || e == nil || !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31 || n.BitLen() < 2048 || n.BitLen() > 8192 {
				continue
			}
			pub = &rsa.PublicKey{N: n, E: int(e.Int64())}
		case "EC":
			var curve elliptic.Curve
			switch k.Crv {
			case "P-256":
				curve = elliptic.P256()
			case "P-384":
				curve = elliptic.P384()
			default:
				continue
			}
			x, y := b64Int(k.X), b64Int(k.Y)
			if x == nil || y == nil {
				continue
			}
			// The point must be on the curve; ecdsa.PublicKey.ECDH checks it.
			ek := &ecdsa.PublicKey{Curve: curve, X: x, Y: y}
			if _, err := ek.ECDH(); err != nil {
				continue
			}
			pub = ek
		default:
			continue
		}
		keys = append(keys, jwk{Kid: k.Kid, Alg: k.Alg, Key: pub})
	}
	return keys, nil
}

// pickKey returns the key named kid that fits alg; without a kid, the only
// key that fits.
func pickKey(keys []jwk, kid, name string, alg jwsAlg) crypto.PublicKey {
	var found crypto.PublicKey
	n := 0
	for _, k := range keys {
		if (kid != "" && k.Kid != kid) || (k.Alg != "" && k.Alg != name) || !alg.fits(k.Key) {
			continue
		}
		found = k.Key
		n++
	}
	if n != 1 {
		return nil
	}
	return found
}

func b64Int(s string) *big.Int {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil
	}
	return new(big.Int).SetBytes(b)
}

// jwsAlg is one supported JWS signature algorithm.
type jwsAlg struct {
	hash  crypto.Hash
	kind  byte           // 'R' RSASSA-PKCS1-v1_5, 'P' RSASSA-PSS, 'E' ECDSA
	curve elliptic.Curve // for 'E'
}

// lookupJWSAlg returns the algorithm named alg. A switch, not a
// package-level map: the map (and the curves it named) were built at
// start-up by every process, relays included, for a login few servers use.
func lookupJWSAlg(alg string) (jwsAlg, bool) {
	switch alg {
	case "RS256":
		return jwsAlg{crypto.SHA256, 'R', nil}, true
	case "RS384":
		return jwsAlg{crypto.SHA384, 'R', nil}, true
	case "RS512":
		return jwsAlg{crypto.SHA512, 'R', nil}, true
	case "PS256":
		return jwsAlg{crypto.SHA256, 'P', nil}, true
	case "PS384":
		return jwsAlg{crypto.SHA384, 'P', nil}, true
	case "PS512":
		return jwsAlg{crypto.SHA512, 'P', nil}, true
	case "ES256":
		return jwsAlg{crypto.SHA256, 'E', elliptic.P256()}, true
	case "ES384":
		return jwsAlg{crypto.SHA384, 'E', elliptic.P384()}, true
	}
	return jwsAlg{}, false
}

// fits reports whether key is of the kind a uses, so that a token cannot
// pick an algorithm the key was not made for.
func (a jwsAlg) fits(key crypto.PublicKey) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return a.kind == 'R' || a.kind == 'P'
	case *ecdsa.PublicKey:
		return a.kind == 'E' && k.Curve == a.curve
	}
	return false
}

func (a jwsAlg) verify(key crypto.PublicKey, signed, sig []byte) error {
	h := a.hash.New()
	h.Write(signed)
	sum := h.Sum(nil)
	switch k := key.(type) {
	case *rsa.PublicKey:
		if a.kind == 'P' {
			return rsa.VerifyPSS(k, a.hash, sum, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}
		return rsa.VerifyPKCS1v15(k, a.hash, sum, sig)
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return errors.New("ECDSA signature of the wrong length")
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		if !ecdsa.Verify(k, sum, r, s) {
			return errors.New("ECDSA signature does not verify")
		}
		return nil
	}
	return errors.New("unsupported key")
}
