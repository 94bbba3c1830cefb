package scrub

import "bytes"

// This file recognises secrets by their shape alone, wherever they appear
// in free text: credentials whose issuers gave them a fixed prefix, bearer
// tokens, JWTs and PEM private keys.

// b64url marks the bytes of base64url (and of most API keys): letters,
// digits, '-' and '_'.
var b64url = func() (t [256]bool) {
	t = alnum
	t['-'], t['_'] = true, true
	return t
}()

// tokenChar marks the bytes of an RFC 6750 bearer token (b64token).
var tokenChar = func() (t [256]bool) {
	t = b64url
	for _, c := range []byte(".~+/=") {
		t[c] = true
	}
	return t
}()

// prefixed are the credentials recognised by a fixed prefix: the prefix,
// the bytes that may follow it, and how many must.
var prefixed = [...]struct {
	prefix string
	body   *[256]bool
	min    int
}{
	{"sk_live_", &alnum, 8}, // Stripe secret keys
	{"sk_test_", &alnum, 8},
	{"rk_live_", &alnum, 8}, // Stripe restricted keys
	{"rk_test_", &alnum, 8},
	{"xoxb-", &b64url, 10}, // Slack bot, app, user tokens
	{"xoxa-", &b64url, 10},
	{"xoxp-", &b64url, 10},
	{"xoxr-", &b64url, 10},
	{"xoxs-", &b64url, 10},
	{"ghp_", &alnum, 20}, // GitHub tokens
	{"gho_", &alnum, 20},
	{"ghu_", &alnum, 20},
	{"ghs_", &alnum, 20},
	{"ghr_", &alnum, 20},
	{"github_pat_", &b64url, 20},
	{"AIza", &b64url, 35}, // Google API keys
}

// prefixedBy indexes prefixed by first byte.
var prefixedBy = func() (t [256][]int) {
	for k, p := range prefixed {
		t[p.prefix[0]] = append(t[p.prefix[0]], k)
	}
	return t
}()

// shapeAt looks for a secret that starts at b[i], a byte of shapeFirst at
// the start of a word. It returns the range to filter, or to == 0:
//
//   - "Bearer <token>" (any case; the token only), when the token is at
//     least 8 bytes and not a plain lower-case word ("Bearer
//     authentication" is prose);
//   - the prefixed credentials above, whole;
//   - AWS access key ids, AKIA or ASIA and 16 upper-case letters or digits;
//   - JWTs, eyJ… . eyJ… . …: two base64url segments of JSON objects and a
//     signature;
//   - PEM private keys, "-----BEGIN … PRIVATE KEY-----" up to the matching
//     END line (or the end of the text, when it was cut), whole.
func shapeAt(b []byte, i int) (from, to int) {
	if i > 0 && b64url[b[i-1]] {
		return 0, 0
	}
	rest := b[i:]
	switch b[i] {
	case 'B', 'b':
		return bearerAt(b, i)
	case '-':
		return pemAt(b, i)
	case 'e':
		return jwtAt(b, i)
	case 'A':
		if len(rest) >= 20 && (string(rest[:4]) == "AKIA" || string(rest[:4]) == "ASIA") {
			e := i + 4
			for e < len(b) && (isUpper(b[e]) || isDigit(b[e])) {
				e++
			}
			if e-i == 20 && (e == len(b) || !b64url[b[e]]) {
				return i, e
			}
			return 0, 0
		}
	}
	for _, k := range prefixedBy[b[i]] {
		p := &prefixed[k]
		if !bytes.HasPrefix(rest, []byte(p.prefix)) {
			continue
		}
		e := i + len(p.prefix)
		for e < len(b) && p.body[b[e]] {
			e++
		}
		if e-i-len(p.prefix) >= p.min {
			return i, e
		}
		return 0, 0
	}
	return 0, 0
}

// bearerAt is shapeAt for "Bearer <token>".
func bearerAt(b []byte, i int) (from, to int) {
	const word = "bearer"
	if len(b)-i < len(word)+1 || !bytes.EqualFold(b[i:i+len(word)], []byte(word)) {
		return 0, 0
	}
	v := i + len(word)
	if b[v] != ' ' {
		return 0, 0
	}
	for v < len(b) && b[v] == ' ' {
		v++
	}
	e := v
	plain := true // a lower-case word
	for e < len(b) && tokenChar[b[e]] {
		plain = plain && isLower(b[e])
		e++
	}
	if e-v < 8 || plain {
		return 0, 0
	}
	return v, e
}

// jwtAt is shapeAt for a JWT.
func jwtAt(b []byte, i int) (from, to int) {
	e := i
	for seg := 0; seg < 3; seg++ {
		if seg < 2 && !bytes.HasPrefix(b[e:], []byte("eyJ")) {
			return 0, 0
		}
		s := e
		for e < len(b) && b64url[b[e]] {
			e++
		}
		if seg < 2 && e-s < 10 {
			return 0, 0
		}
		if seg < 2 {
			if e == len(b) || b[e] != '.' {
				return 0, 0
			}
			e++
		}
	}
	return i, e
}

// pemAt is shapeAt for a PEM private key.
func pemAt(b []byte, i int) (from, to int) {
	const begin, end, keyEnd = "-----BEGIN ", "-----END ", "PRIVATE KEY-----"
	if !bytes.HasPrefix(b[i:], []byte(begin)) {
		return 0, 0
	}
	// The BEGIN line is short ("-----BEGIN ENCRYPTED PRIVATE KEY-----");
	// looking no further keeps a text of many BEGINs linear.
	line := b[i:min(len(b), i+64)]
	if n := bytes.IndexByte(line, '\n'); n >= 0 {
		line = line[:n]
	}
	if !bytes.Contains(line, []byte(keyEnd)) {
		return 0, 0
	}
	e := i + len(begin)
	n := bytes.Index(b[e:], []byte(end))
	if n < 0 {
		return i, len(b)
	}
	e += n + len(end)
	if n := bytes.Index(b[e:], []byte(keyEnd)); n >= 0 {
		return i, e + n + len(keyEnd)
	}
	return i, len(b)
}
