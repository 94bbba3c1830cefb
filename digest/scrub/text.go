package scrub

import "bytes"

// This file holds the scanners for string values: each one appends to
// s.spans the byte ranges of its input that are to become "[Filtered]", in
// increasing order and not overlapping.

// filtered is what a secret is replaced by.
const filtered = "[Filtered]"

// span is a byte range [from, to) of a string's contents.
type span struct{ from, to int }

func (s *scrubber) add(from, to int) {
	s.spans = append(s.spans, span{from, to})
}

// textHot marks the bytes scanText stops at: digits (card numbers), '='
// and ':' (key=value pairs, passwords in URLs), and the first bytes of the
// secret shapes (see shapeAt).
var textHot = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	t['='], t[':'] = true, true
	for _, c := range []byte(shapeFirst) {
		t[c] = true
	}
	return t
}()

// shapeFirst are the bytes a secret shape starts with.
const shapeFirst = "BbsrxgAe-"

// alnum marks ASCII letters and digits.
var alnum = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	return t
}()

// keyChar marks the bytes of the key in a key=value pair found in free text.
var keyChar = func() (t [256]bool) {
	t = alnum
	t['_'], t['-'], t['.'], t['['], t[']'] = true, true, true, true, true
	return t
}()

// valueEnd marks the bytes that end an unquoted value after '='.
var valueEnd = func() (t [256]bool) {
	for _, c := range []byte("&;, \t\r\n\"'<>)]}") {
		t[c] = true
	}
	return t
}()

// lineEnd marks the bytes that end an unquoted value after ':'. Spaces do
// not, so that "Authorization: Bearer abc" keeps nothing.
var lineEnd = func() (t [256]bool) {
	for _, c := range []byte("&;,\r\n\"'<>)]}") {
		t[c] = true
	}
	return t
}()

// userinfoEnd marks the bytes that cannot be in a URL's user:password@ part.
var userinfoEnd = func() (t [256]bool) {
	for _, c := range []byte("/?#@ \t\r\n\"'<>") {
		t[c] = true
	}
	return t
}()

// scanText scans free text for
//   - card numbers (see cards);
//   - secrets recognised by their shape (see shapeAt);
//   - the values of key=value and key: value pairs whose key is secret, the
//     key optionally quoted and the value optionally quoted:
//     "GET /login?password=x", "token=abc; path=/",
//     "Authorization: Bearer abc", "{'password': 'hunter2'}",
//     `{"api_key": "abc"}`;
//   - the password of a URL ("postgres://app:hunter2@db/app").
func (s *scrubber) scanText(b []byte) {
	s.scanFree(b, false)
}

// scanCode scans a line of source code (a frame's context lines) like
// scanText, except that a key=value pair counts only when its value is a
// quoted literal: `password = "hunter2"` is filtered, `password =
// request.form["password"]` is code and stays.
func (s *scrubber) scanCode(b []byte) {
	s.scanFree(b, true)
}

func (s *scrubber) scanFree(b []byte, code bool) {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !textHot[c] {
			if alnum[c] {
				i = skipWord(b, i)
			}
			continue
		}
		switch c {
		case '=':
			i = s.textPair(b, i, code) - 1
		case ':':
			if bytes.HasPrefix(b[i+1:], []byte("//")) {
				i = s.urlPassword(b, i) - 1
			} else {
				i = s.textPair(b, i, code) - 1
			}
		case '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			if i > 0 && alnum[b[i-1]] {
				i = skipDigits(b, i) - 1 // part of a word or hex number
				continue
			}
			i = s.cards(b, i) - 1
		default:
			if from, to := shapeAt(b, i); to > 0 {
				s.add(from, to)
				i = to - 1
			} else if c != '-' {
				i = skipWord(b, i)
			}
		}
	}
}

// skipWord returns the last index of the run of letters and digits that
// goes on from b[i], a letter or digit. Nothing in the rest of a word
// is hot: a digit after a letter or digit is no card number, and a secret
// shape starts only at the start of a word (see shapeAt).
func skipWord(b []byte, i int) int {
	for i+1 < len(b) && alnum[b[i+1]] {
		i++
	}
	return i
}

// textPair looks at the separator ('=' or ':') at b[i]. If the key before it
// is secret, it filters the value after it: the contents of a quoted value,
// else up to valueEnd ('=') or lineEnd (':'); with quoted set, only a
// quoted value. It returns where scanning goes on.
func (s *scrubber) textPair(b []byte, i int, quoted bool) int {
	k := i
	for k > 0 && (b[k-1] == ' ' || b[k-1] == '\t') {
		k--
	}
	var quote byte
	if k > 0 && (b[k-1] == '"' || b[k-1] == '\'') {
		quote = b[k-1]
		k--
	}
	ke := k
	for k > 0 && keyChar[b[k-1]] {
		k--
	}
	if k == ke || quote != 0 && (k == 0 || b[k-1] != quote) || !s.sensitive(b[k:ke], keyParam) {
		return i + 1
	}
	v := i + 1
	if b[i] == '=' && v < len(b) && b[v] == '>' {
		v++ // PHP's 'key' => 'value'
	}
	for v < len(b) && (b[v] == ' ' || b[v] == '\t') {
		v++
	}
	if v < len(b) && (b[v] == '"' || b[v] == '\'') {
		q := b[v]
		v++
		e := v
		for e < len(b) && (b[e] != q || b[e-1] == '\\') {
			e++
		}
		if e > v && string(b[v:e]) != filtered {
			s.add(v, e)
		}
		return min(e+1, len(b))
	}
	if quoted {
		return i + 1
	}
	if bytes.HasPrefix(b[v:], []byte(filtered)) {
		return v + len(filtered)
	}
	if v < len(b) && (b[v] == '{' || b[v] == '[') {
		e := balanced(b, v)
		s.add(v, e)
		return e
	}
	end := &valueEnd
	if b[i] == ':' {
		end = &lineEnd
	}
	e := v
	for e < len(b) && !end[b[e]] {
		e++
	}
	if e > v {
		s.add(v, e)
	}
	return max(e, i+1)
}

// balanced returns the end of the bracketed value that starts at b[v] ('{'
// or '['), skipping brackets in quoted strings; the end of b if it is not
// closed.
func balanced(b []byte, v int) int {
	depth := 0
	var quote byte
	for i := v; i < len(b); i++ {
		c := b[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth--; depth == 0 {
				return i + 1
			}
		}
	}
	return len(b)
}

// urlPassword looks at the ':' at b[i]. If it starts "://user:password@",
// it filters the password. It returns where scanning goes on.
func (s *scrubber) urlPassword(b []byte, i int) int {
	start := i + 3
	e := start
	for e < len(b) && !userinfoEnd[b[e]] {
		e++
	}
	if e == len(b) || b[e] != '@' {
		return start
	}
	colon := bytes.IndexByte(b[start:e], ':')
	if colon < 0 {
		return e + 1
	}
	pw := start + colon + 1
	if pw < e && string(b[pw:e]) != filtered {
		s.add(pw, e)
	}
	return e + 1
}

// scanValue filters the card numbers, secret shapes and URL passwords in
// b[from:to], the value of a parameter or cookie.
func (s *scrubber) scanValue(b []byte, from, to int) {
	b = b[:to]
	for i := from; i < to; i++ {
		c := b[i]
		switch {
		case c == ':':
			if bytes.HasPrefix(b[i+1:], []byte("//")) {
				i = s.urlPassword(b, i) - 1
			}
		case c < '0' || c > '9':
			if !textHot[c] {
				continue
			}
			if from, to := shapeAt(b, i); to > 0 {
				s.add(from, to)
				i = to - 1
			}
		case i > from && alnum[b[i-1]]:
			i = skipDigits(b, i) - 1
		default:
			i = s.cards(b, i) - 1
		}
	}
}

// maxGroups bounds the digit groups cards looks at in one run.
const maxGroups = 24

// cards looks at the run of digit groups that starts at b[i] (a digit not
// preceded by a letter or digit). Groups are separated by one space or dash.
// It filters card numbers in it: consecutive groups holding 13 to 19
// digits in all, starting with 2 to 6 (the first digit of every major card
// scheme), passing the Luhn check, and not followed by a letter or digit.
// The longest such window wins at each start group. It returns the end of
// the run.
func (s *scrubber) cards(b []byte, i int) int {
	var starts, ends [maxGroups]int
	n := 0
	j := i
	for n < maxGroups {
		k := skipDigits(b, j)
		starts[n], ends[n] = j, k
		n++
		if k+1 < len(b) && (b[k] == ' ' || b[k] == '-') && b[k+1] >= '0' && b[k+1] <= '9' {
			j = k + 1
			continue
		}
		break
	}
	end := ends[n-1]
	if n == 1 && (end-i < 13 || end-i > 19) {
		return end // the common case: a plain number
	}
	tailOK := end == len(b) || !alnum[b[end]]
	for g1 := 0; g1 < n; g1++ {
		if c := b[starts[g1]]; c < '2' || c > '6' {
			continue
		}
		for g2 := n - 1; g2 >= g1; g2-- {
			if g2 == n-1 && !tailOK {
				continue
			}
			if luhnWindow(b, starts[g1], ends[g2]) {
				s.add(starts[g1], ends[g2])
				return ends[g2]
			}
		}
	}
	return end
}

// luhnWindow reports whether b[from:to], digits with single separators,
// holds 13 to 19 digits that pass the Luhn check.
func luhnWindow(b []byte, from, to int) bool {
	digits, sum := 0, 0
	for p := to - 1; p >= from; p-- {
		c := b[p]
		if c < '0' || c > '9' {
			continue
		}
		d := int(c - '0')
		if digits%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		digits++
		if digits > 19 {
			return false
		}
	}
	return digits >= 13 && sum%10 == 0
}

// scanQuery scans a form-encoded string (a query string or a form body):
// parameters are separated by '&'; the value of a parameter whose
// (percent-decoded) name is secret is filtered, and card numbers and URL
// passwords in the other values too.
func (s *scrubber) scanQuery(b []byte, from, to int) {
	for p := from; p <= to; {
		e := p + bytes.IndexByte(b[p:to], '&')
		if e < p {
			e = to
		}
		eq := bytes.IndexByte(b[p:e], '=')
		if eq < 0 {
			s.scanValue(b, p, e)
		} else {
			v := p + eq + 1
			s.dec = unescapeQuery(s.dec[:0], b[p:p+eq])
			if s.sensitive(s.dec, keyParam) {
				if v < e && string(b[v:e]) != filtered {
					s.add(v, e)
				}
			} else {
				s.scanValue(b, v, e)
			}
		}
		p = e + 1
	}
}

// unescapeQuery appends the percent-decoded name to dst ('+' is a space).
// A '%' not followed by two hex digits is kept as it is.
func unescapeQuery(dst, name []byte) []byte {
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '+':
			c = ' '
		case c == '%' && i+2 < len(name) && unhex(name[i+1]) >= 0 && unhex(name[i+2]) >= 0:
			c = byte(unhex(name[i+1])<<4 | unhex(name[i+2]))
			i += 2
		}
		dst = append(dst, c)
	}
	return dst
}

// scanCookies scans a Cookie header: cookies are separated by ';'; the value
// of a cookie whose name is secret (see matchCookie) is filtered, and card
// numbers and URL passwords in the other values too.
func (s *scrubber) scanCookies(b []byte) {
	for p := 0; p <= len(b); {
		e := p + bytes.IndexByte(b[p:], ';')
		if e < p {
			e = len(b)
		}
		q := p
		for q < e && (b[q] == ' ' || b[q] == '\t') {
			q++
		}
		eq := bytes.IndexByte(b[q:e], '=')
		if eq < 0 {
			s.scanValue(b, q, e)
		} else if v := q + eq + 1; s.sensitive(bytes.TrimSpace(b[q:q+eq]), keyCookie) {
			if v < e && string(b[v:e]) != filtered {
				s.add(v, e)
			}
		} else {
			s.scanValue(b, v, e)
		}
		p = e + 1
	}
}

// scanURL scans a URL: the password in its user:password@ part, and its
// query and fragment as form-encoded parameters (an OAuth implicit grant
// puts access_token in the fragment).
func (s *scrubber) scanURL(b []byte) {
	if i := bytes.Index(b, []byte("://")); i >= 0 {
		s.urlPassword(b, i) // spans from here come before the query's
	}
	q := bytes.IndexByte(b, '?')
	h := bytes.IndexByte(b, '#')
	switch {
	case q >= 0 && (h < 0 || q < h):
		end := len(b)
		if h >= 0 {
			end = h
		}
		s.scanQuery(b, q+1, end)
		if h >= 0 {
			s.scanQuery(b, h+1, len(b))
		}
	case h >= 0:
		s.scanQuery(b, h+1, len(b))
	}
}
