package scrub

import (
	"bytes"
	"slices"
)

// Key names are matched word by word. A key is split into words at every
// byte that is not an ASCII letter or digit ('_', '-', '.', ':', ' ', '[',
// …) and at camelCase humps ("refreshToken", "XSRFToken"), and lowered.
// It is secret when
//
//   - a word, or two or three adjacent words written together, is one of
//     secretWords: "pass", "X-Auth-Token", "api_key" ("api"+"key"),
//     "session_id" ("session"+"id"), but not "session", "passenger",
//     "max_tokens" or "authority";
//   - a word contains one of secretStems, long names no ordinary word
//     holds, or ends in "token": "csrfmiddlewaretoken", "PHPSESSID",
//     "JSESSIONID", "userpassword", "accesstoken".
//
// A key whose last word says what kind of thing it names about the secret
// rather than the secret itself ("SSH_AUTH_SOCK", "token_type",
// "password_length", "auth_url") is not secret: see describingWords. (A
// URL with credentials in it is still caught by its value.)
//
// In key=value text and query strings, the bare key "key" is secret too
// ("?key=AIza…"); as a JSON key it names cache entries and list items far
// more often.

// secretWords are the words (after splitting and lowering) that make a key
// secret.
var secretWords = [...]string{
	"pass", "pwd", "passwd", "password", "passphrase", "passcode",
	"secret", "token", "apikey", "auth", "authorization",
	"credential", "credentials", "pin", "cvv", "cvc", "sig", "signature",
	"csrf", "xsrf", "cookie", "privatekey", "ssn", "jwt",
	"sessionid", "sessionkey", "sessid",
}

// describingWords, as the last word of a key of two or more words, make it
// name something about a secret (where it is, how long, of which kind)
// rather than hold one.
var describingWords = [...]string{
	"sock", "socket", "path", "file", "dir", "url", "uri", "host", "port",
	"type", "method", "scheme", "mode", "enabled", "required", "length", "len",
	"count", "expires", "expiry", "ttl", "timeout", "policy", "provider",
	"endpoint", "realm", "version",
}

// secretStems are the names that make a key secret wherever they appear
// inside one word.
var secretStems = [...]string{
	"password", "passwd", "passphrase", "secret", "credential", "apikey",
	"privatekey", "csrf", "xsrf", "cookie", "sessid", "sessionid", "authorization",
}

// cookieKeys are the extra names that mark a cookie (in request.cookies or
// the Cookie header) as secret: session and login cookies whose names carry
// none of the secret words, such as Express's connect.sid, GitHub's
// _gh_sess, Laravel's remember_web_… and WordPress's wordpress_logged_in_….
var cookieKeys = [...]string{"sess", "remember", "loggedin", "wordpress"}

// DefaultKeys returns the words whose keys Scrub filters by default, as a
// compliance reader would want to see them. Matching is case-insensitive
// and by word: "token" covers "access_token", "X-Auth-Token" and
// "refreshToken" but not "max_tokens"; "api_key" is "apikey". Cookies are
// also filtered when their name contains "sess", "remember", "loggedin" or
// "wordpress", or ends in "sid".
func DefaultKeys() []string {
	return slices.Clone(secretWords[:])
}

// keyKind says where a key name was found.
type keyKind uint8

const (
	keyField  keyKind = iota // a JSON key or header name
	keyParam                 // the key of a key=value pair in text, or a query parameter
	keyCookie                // a cookie name
)

// normalize appends name to dst in the form extra keys are matched in:
// ASCII lower case, without '-', '_', '.' and spaces.
func normalize(dst, name []byte) []byte {
	for _, c := range name {
		switch {
		case c >= 'A' && c <= 'Z':
			dst = append(dst, c+'a'-'A')
		case c == '-' || c == '_' || c == '.' || c == ' ':
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// splitWords appends the words of name, lowered, to dst, and their ranges
// in dst to parts.
func splitWords(dst []byte, parts []span, name []byte) ([]byte, []span) {
	start := len(dst)
	end := func() {
		if len(dst) > start {
			parts = append(parts, span{start, len(dst)})
		}
		start = len(dst)
	}
	for i, c := range name {
		switch {
		case isUpper(c):
			// A hump: "aB", "1B", or the last capital of "XSRFToken".
			if i > 0 && (isLower(name[i-1]) || isDigit(name[i-1]) ||
				isUpper(name[i-1]) && i+1 < len(name) && isLower(name[i+1])) {
				end()
			}
			dst = append(dst, c+'a'-'A')
		case isLower(c) || isDigit(c) || c >= 0x80:
			dst = append(dst, c)
		default:
			end()
		}
	}
	end()
	return dst, parts
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// matchWords reports whether the words parts of w make a secret key.
func matchWords(w []byte, parts []span, kind keyKind) bool {
	if len(w) < 3 {
		return false // every secret word has three letters or more
	}
	if kind != keyField && len(parts) == 1 && string(w[parts[0].from:parts[0].to]) == "key" {
		return true
	}
	if len(parts) > 1 {
		last := parts[len(parts)-1]
		if slices.Contains(describingWords[:], string(w[last.from:last.to])) {
			return false
		}
	}
	for i, p := range parts {
		word := w[p.from:p.to]
		if bytes.HasSuffix(word, []byte("token")) {
			return true
		}
		for _, st := range secretStems {
			if bytes.Contains(word, []byte(st)) {
				return true
			}
		}
		// The word alone and with its next one or two: parts are
		// adjacent in w, so the joined words are a slice of it.
		for j := i; j < len(parts) && j < i+3; j++ {
			if isSecretWord(w[p.from:parts[j].to]) {
				return true
			}
		}
	}
	return false
}

func isSecretWord(w []byte) bool {
	for _, k := range secretWords {
		if string(w) == k {
			return true
		}
	}
	return false
}

// matchCookie reports whether the normalised cookie name n is secret.
func matchCookie(n []byte) bool {
	if bytes.HasSuffix(n, []byte("sid")) {
		return true
	}
	for _, k := range cookieKeys {
		if bytes.Contains(n, []byte(k)) {
			return true
		}
	}
	return false
}
