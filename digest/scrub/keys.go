package scrub

import (
	"bytes"
	"slices"
)

// defaultKeys are the key names whose values Scrub filters, in the
// normalised form that matching uses (see normalize). A key matches when its
// normalised form contains one of them. Names that another one already
// covers ("authorization" by "auth", "set-cookie" by "cookie") are left out.
var defaultKeys = [...]string{
	"password",
	"passwd",
	"passphrase",
	"secret",
	"token",
	"apikey",
	"auth", // but see authorWord
	"cookie",
	"session",
	"sessid",
	"csrf",
	"xsrf",
	"credential",
	"privatekey",
	"jwt",
}

// cookieKeys are the extra names that mark a cookie (in request.cookies or
// the Cookie header) as secret: session and login cookies whose names carry
// none of the default words, such as PHP's PHPSESSID (caught by "sessid"),
// Express's connect.sid, GitHub's _gh_sess, Laravel's remember_web_… and
// WordPress's wordpress_logged_in_….
var cookieKeys = [...]string{"sess", "remember", "loggedin", "wordpress"}

// DefaultKeys returns the key names Scrub filters by default, as a
// compliance reader would want to see them. Matching is case-insensitive,
// ignores '-', '_', '.' and spaces, and is by substring: "auth" covers
// "Authorization", "X-Auth-Token" and "oauth_state". Cookies are also
// filtered when their name contains "sess", "remember", "loggedin" or
// "wordpress", or ends in "sid".
func DefaultKeys() []string {
	return slices.Clone(defaultKeys[:])
}

// keysByFirst indexes defaultKeys by their first byte, so that matching a key
// costs one table lookup per byte of the key.
var keysByFirst = func() (t [256][]string) {
	for _, k := range defaultKeys {
		t[k[0]] = append(t[k[0]], k)
	}
	return t
}()

// normalize appends name to dst in the form keys are matched in: ASCII
// lower case, without '-', '_', '.' and spaces.
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

// matchDefault reports whether the normalised key n contains one of
// defaultKeys.
//
// "auth" alone does not match where it starts "author" or "authority"
// ("author", "authors", "authored", "authority", the HTTP/2 ":authority"
// pseudo-header), since those name people and hosts, not secrets; it does
// match "authorization", "authorize" and "authorise" and every other
// "auth…" ("authenticated", "oauth", "x-auth-token"). A key such as
// "author_password" still matches through "password".
func matchDefault(n []byte) bool {
	for i, c := range n {
		for _, k := range keysByFirst[c] {
			if !bytes.HasPrefix(n[i:], []byte(k)) {
				continue
			}
			if k == "auth" && authorWord(n[i+len(k):]) {
				continue
			}
			return true
		}
	}
	return false
}

// authorWord reports whether rest, what follows "auth" in a key, makes it
// "author…" other than "authoriz…" / "authoris…".
func authorWord(rest []byte) bool {
	return bytes.HasPrefix(rest, []byte("or")) &&
		!bytes.HasPrefix(rest, []byte("oriz")) && !bytes.HasPrefix(rest, []byte("oris"))
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
