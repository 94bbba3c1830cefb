// Package scrub removes secrets from an event before it is stored: the
// server-side PII scrubbing that works whatever the SDK was configured to
// send.
//
// Scrub reads the normalised event document that digest stores and replaces
// secrets by "[Filtered]". The digest itself has the normaliser scrub the
// document while writing it, guided by a Walker (walker.go), which applies
// the same rules value by value and gives the same bytes. Scrubbing looks
// only in the parts of an event where SDKs put user data:
//
//	request   headers, cookies, query_string, data, env, url, fragment
//	extra, user, contexts, tags, message, logentry, transaction, culprit
//	exception.values[].value
//	exception.values[].stacktrace.frames[].vars, context_line,
//	  pre_context, post_context (and raw_stacktrace, threads and the
//	  top-level stacktrace the same way)
//	breadcrumbs.values[].data and .message
//	spans[].description, .data and .tags
//
// and leaves the rest (the exception's type, the frames' file and function
// names, the SDK's own fields) as it is. digest indexes the event (title,
// tags, transaction) after scrubbing, so what is filtered here is filtered
// there too.
//
// Within those parts:
//
//   - The value of a key that is secret (see keys.go: matched word by
//     word, so "pass", "X-Signature" and "api_key" match and
//     "session:duration" and "max_tokens" do not; plus Options.ExtraKeys
//     by substring) is replaced whatever its type: "password": {"a": 1}
//     becomes "password": "[Filtered]". A null stays null. Keys are HTTP
//     header names, cookie names, query and form parameter names and the
//     keys of JSON objects at any depth.
//   - Query strings, form-encoded bodies and cookie strings are filtered
//     per parameter: "a=1&password=x" becomes "a=1&password=[Filtered]".
//     The Cookie header is a cookie string like request.cookies; cookies
//     are also secret when their name says "session", "login" or "remember"
//     in one of the common ways (see cookieKeys).
//   - A request body (request.data) that is a string holding JSON is parsed
//     and scrubbed like an object; one that holds form data like a query
//     string.
//   - Every other string is scanned as free text, and only the secret part
//     of it is replaced ("card [Filtered] declined"): key=value and
//     key: value pairs with a secret key ("token=abc", "key=abc",
//     "Authorization: Bearer abc", "{'password': 'x'}"), passwords in URLs
//     ("postgres://app:pw@db"), card numbers, and secrets recognisable by
//     their shape (shapes.go): bearer tokens, Stripe, Slack, GitHub, Google
//     and AWS keys, JWTs and PEM private keys.
//   - Context lines are source code: there a key=value pair counts only
//     when the value is a quoted literal (`password = "x"`).
//   - Card numbers are runs of 13 to 19 digits, in groups separated by
//     single spaces or dashes, starting with 2 to 6 and passing the Luhn
//     check, in strings or as JSON integers. Only the number is replaced.
//   - With Options.ScrubIP, the client's IP address is filtered too:
//     user.ip_address, request.env.REMOTE_ADDR, and the X-Forwarded-For,
//     X-Real-IP, Forwarded, CF-Connecting-IP and True-Client-IP headers.
//
// Scrubbing is idempotent, and a document without secrets costs one scan
// of its bytes and no allocation.
//
// Not covered: multipart bodies, secrets under keys with none of the words
// and in no recognisable shape, and file names, function names and
// exception types.
package scrub

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/tinysink/tinysink/internal/xsort"
)

// Options adjusts what Scrub filters. The zero value scrubs the default keys
// and keeps IP addresses.
type Options struct {
	// ExtraKeys are more key names to scrub (case-insensitive substring
	// match, ignoring '-', '_', '.' and spaces).
	ExtraKeys []string
	// ScrubIP removes client IP addresses (user.ip_address,
	// request.env.REMOTE_ADDR, X-Forwarded-For/X-Real-IP headers).
	ScrubIP bool
}

// Scrub returns doc with the values of secret-looking keys replaced by
// "[Filtered]", and whether anything changed. It never fails: a document it
// cannot parse is returned unchanged with false. When nothing changed the
// result is doc itself, not a copy; otherwise it is a new slice and doc is
// not modified. The output is valid JSON whenever doc is.
func Scrub(doc []byte, opts Options) ([]byte, bool) {
	s := scrubbers.Get().(*scrubber)
	defer s.release()
	s.reset(doc)
	s.setOptions(opts)
	out, changed, ok := s.run(mRoot)
	if !ok || !changed {
		return doc, false
	}
	return out, true
}

// setOptions sets the options of a scrubber whose extra keys reset emptied.
func (s *scrubber) setOptions(opts Options) {
	s.scrubIP = opts.ScrubIP
	for _, k := range opts.ExtraKeys {
		start := len(s.extraBuf)
		s.extraBuf = normalize(s.extraBuf, []byte(k))
		if len(s.extraBuf) > start {
			s.extra = append(s.extra, span{start, len(s.extraBuf)})
		}
	}
	s.extraKeys = s.extraBuf
	s.optsKey = 0
	if len(s.extra) > 0 || s.scrubIP {
		// Each key with its length, so that ["ab", "c"] and ["a", "bc"]
		// differ.
		var h maphash.Hash
		h.SetSeed(cleanSeed)
		var n [binary.MaxVarintLen64]byte
		for _, e := range s.extra {
			h.Write(binary.AppendUvarint(n[:0], uint64(e.to-e.from)))
			h.Write(s.extraKeys[e.from:e.to])
		}
		if s.scrubIP {
			h.WriteString("ip")
		}
		s.optsKey = h.Sum64()
	}
}

var scrubbers = sync.Pool{New: func() any { return new(scrubber) }}

// scrubber walks one JSON document and collects its edits.
type scrubber struct {
	src   []byte
	pos   int
	depth int

	// out holds src[:last] with the edits so far; nil until the first.
	out  []byte
	last int

	scrubIP bool
	// extra are the normalised Options.ExtraKeys, as ranges of extraKeys.
	extra     []span
	extraKeys []byte
	extraBuf  []byte // owns extraKeys in a top-level scrubber

	key   []byte // the current object key, decoded
	norm  []byte // a key being matched, normalised
	words []byte // a key being matched, split into words (parts)
	parts []span
	dec   []byte // a query parameter name, percent-decoded
	str   []byte // the current string's contents, decoded
	enc   []byte // a replacement string, encoded
	spans []span // the current string's edits

	// optsKey identifies the options (extra keys, scrubIP) in the clean
	// cache's hashes; 0 for the defaults.
	optsKey uint64

	// secret remembers matchWords' answer per key kind and name: the
	// same few hundred keys come back in every event. Cleared when it
	// holds secretCacheSize names.
	secret map[string]bool
	key1   []byte // the key of secret being looked up
}

const secretCacheSize = 1024

func (s *scrubber) reset(src []byte) {
	s.src, s.pos, s.depth = src, 0, 0
	s.out, s.last = nil, 0
	s.extra, s.extraBuf = s.extra[:0], s.extraBuf[:0]
	s.extraKeys = nil
}

// release puts s back in the pool without keeping the caller's memory.
func (s *scrubber) release() {
	s.src, s.out, s.extraKeys = nil, nil, nil
	s.extra = s.extra[:0]
	s.dropBig()
	scrubbers.Put(s)
}

// dropBig drops the string buffers when a huge string grew them, so that
// a kept scrubber does not pin one huge body forever.
func (s *scrubber) dropBig() {
	if cap(s.str) > 64<<10 || cap(s.enc) > 64<<10 {
		s.str, s.enc = nil, nil
	}
}

// run walks the whole document as a value in mode m. It returns the
// scrubbed document, whether it differs from src, and whether src is
// well-formed JSON.
func (s *scrubber) run(m mode) (out []byte, changed, ok bool) {
	if !s.value(m) {
		return nil, false, false
	}
	s.ws()
	if s.pos != len(s.src) {
		return nil, false, false
	}
	if s.out == nil {
		return s.src, false, true
	}
	return append(s.out, s.src[s.last:]...), true, true
}

// edit replaces src[from:to] by repl. Edits come in increasing order.
func (s *scrubber) edit(from, to int, repl string) {
	if s.out == nil {
		s.out = make([]byte, 0, len(s.src)+64)
	}
	s.out = append(s.out, s.src[s.last:from]...)
	s.out = append(s.out, repl...)
	s.last = to
}

// editBytes is edit for a replacement held in a byte slice.
func (s *scrubber) editBytes(from, to int, repl []byte) {
	if s.out == nil {
		s.out = make([]byte, 0, len(s.src)+len(repl))
	}
	s.out = append(s.out, s.src[s.last:from]...)
	s.out = append(s.out, repl...)
	s.last = to
}

const quotedFiltered = `"` + filtered + `"`

// filter replaces the value src[from:to] by "[Filtered]" unless it is null
// or already that.
func (s *scrubber) filter(from, to int) {
	switch string(s.src[from:to]) {
	case "null", quotedFiltered:
		return
	}
	s.edit(from, to, quotedFiltered)
}

// sensitive reports whether the key name (raw bytes, not normalised) is
// secret: its words match (see matchWords), it contains an extra key, or,
// for a cookie name, matchCookie.
func (s *scrubber) sensitive(name []byte, kind keyKind) bool {
	if string(name) == "PWD" {
		return false // the shell's working directory, in every environment dump
	}
	if s.matchWords(name, kind) {
		return true
	}
	if kind != keyCookie && len(s.extra) == 0 {
		return false
	}
	s.norm = normalize(s.norm[:0], name)
	n := s.norm
	if kind == keyCookie && matchCookie(n) {
		return true
	}
	for _, e := range s.extra {
		if bytes.Contains(n, s.extraKeys[e.from:e.to]) {
			return true
		}
	}
	return false
}

// matchWords is matchWords of name split into words, remembered.
func (s *scrubber) matchWords(name []byte, kind keyKind) bool {
	if len(name) > 64 {
		s.words, s.parts = splitWords(s.words[:0], s.parts[:0], name)
		return matchWords(s.words, s.parts, kind)
	}
	s.key1 = append(append(s.key1[:0], byte(kind)), name...)
	if v, ok := s.secret[string(s.key1)]; ok {
		return v
	}
	s.words, s.parts = splitWords(s.words[:0], s.parts[:0], name)
	v := matchWords(s.words, s.parts, kind)
	if s.secret == nil || len(s.secret) >= secretCacheSize {
		s.secret = make(map[string]bool, 64)
	}
	s.secret[string(s.key1)] = v
	return v
}

// ipHeader reports whether the normalised header name n carries a client IP
// address.
func ipHeader(n []byte) bool {
	switch string(n) {
	case "xforwardedfor", "xrealip", "forwarded", "cfconnectingip", "trueclientip":
		return true
	}
	return false
}

// value walks the value at the cursor in mode m and reports whether it is
// well-formed.
func (s *scrubber) value(m mode) bool {
	s.ws()
	start := s.pos
	switch c := s.peek(); {
	case c == '{':
		if !s.object(m) {
			return false
		}
	case c == '[':
		if !s.array(m) {
			return false
		}
	case c == '"':
		if m != mFilter {
			return s.string(m, start)
		}
		if _, ok := s.skipString(); !ok {
			return false
		}
	case c == '-' || c >= '0' && c <= '9':
		if !s.skipNumber() {
			return false
		}
		if m != mFilter && strKind[m] != kNone && cardNumber(s.src[start:s.pos]) {
			s.edit(start, s.pos, quotedFiltered)
		}
	default:
		if !s.skipLiteral() {
			return false
		}
	}
	if m == mFilter {
		s.filter(start, s.pos)
	}
	return true
}

// cardNumber reports whether the JSON number n is an integer that looks
// like a card number.
func cardNumber(n []byte) bool {
	if len(n) < 13 || len(n) > 19 || n[0] < '2' || n[0] > '6' {
		return false
	}
	for _, c := range n {
		if c < '0' || c > '9' {
			return false
		}
	}
	return luhnWindow(n, 0, len(n))
}

// object walks the object at the cursor; each member's value is walked in
// the mode child(m, key).
func (s *scrubber) object(m mode) bool {
	if s.depth++; s.depth > maxDepth {
		return false
	}
	s.pos++ // '{'
	s.ws()
	if s.peek() == '}' {
		s.pos++
		s.depth--
		return true
	}
	for {
		s.ws()
		if s.peek() != '"' {
			return false
		}
		ks := s.pos
		esc, ok := s.skipString()
		if !ok {
			return false
		}
		cm := mSkip
		if m != mSkip && m != mFilter {
			key := s.src[ks+1 : s.pos-1]
			if esc {
				s.key = decodeString(s.key[:0], key)
				key = s.key
			}
			cm = s.child(m, key)
		}
		s.ws()
		if s.peek() != ':' {
			return false
		}
		s.pos++
		if !s.value(cm) {
			return false
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			s.depth--
			return true
		default:
			return false
		}
	}
}

// array walks the array at the cursor; each element is walked in the mode
// elem(m). For the list-of-pairs modes, an element that is an array is a
// [name, value] pair.
func (s *scrubber) array(m mode) bool {
	if s.depth++; s.depth > maxDepth {
		return false
	}
	s.pos++ // '['
	s.ws()
	if s.peek() == ']' {
		s.pos++
		s.depth--
		return true
	}
	em := elem[m]
	for {
		s.ws()
		var ok bool
		if em == mPair {
			if s.peek() == '[' {
				ok = s.pair(m)
			} else {
				ok = s.value(m) // a lone string in a header list, say
			}
		} else {
			ok = s.value(em)
		}
		if !ok {
			return false
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.pos++
		case ']':
			s.pos++
			s.depth--
			return true
		default:
			return false
		}
	}
}

// pair walks a [name, value...] pair in a list whose elements are keyed as
// members of a container in mode m: the values are walked in child(m,
// name). A pair whose first element is not a string is walked as mArea.
func (s *scrubber) pair(m mode) bool {
	if s.depth++; s.depth > maxDepth {
		return false
	}
	s.pos++ // '['
	s.ws()
	if s.peek() == ']' {
		s.pos++
		s.depth--
		return true
	}
	cm := mArea
	if s.peek() == '"' {
		ks := s.pos
		esc, ok := s.skipString()
		if !ok {
			return false
		}
		key := s.src[ks+1 : s.pos-1]
		if esc {
			s.key = decodeString(s.key[:0], key)
			key = s.key
		}
		cm = s.child(m, key)
	} else if !s.value(mArea) {
		return false
	}
	for {
		s.ws()
		switch s.peek() {
		case ',':
			s.pos++
			if !s.value(cm) {
				return false
			}
		case ']':
			s.pos++
			s.depth--
			return true
		default:
			return false
		}
	}
}

// string walks the string at the cursor (starting at start) and scans it
// as strKind[m] says.
func (s *scrubber) string(m mode, start int) bool {
	esc, ok := s.skipString()
	if !ok {
		return false
	}
	kind := strKind[m]
	if kind == kNone {
		return true
	}
	end := s.pos
	content := s.src[start+1 : end-1]
	if esc {
		s.str = decodeString(s.str[:0], content)
		content = s.str
	}
	s.scanString(kind, content, esc, start, end)
	return true
}

// scanString scans content, the decoded contents of the string
// src[start:end] (with esc, one written with escapes), as kind says, and
// edits what it finds.
func (s *scrubber) scanString(kind uint8, content []byte, esc bool, start, end int) {
	if kind == kBody && s.jsonBody(content, start, end) {
		return
	}
	s.spans = s.spans[:0]
	var h uint64
	if (kind == kText || kind == kCode) && len(content) >= cleanMin {
		if h = cleanHash(content, kind, s.optsKey); cleanKnown(h) {
			return
		}
	}
	switch kind {
	case kText:
		s.scanText(content)
	case kCode:
		s.scanCode(content)
	case kQuery:
		s.scanQuery(content, 0, len(content))
	case kCookie:
		s.scanCookies(content)
	case kURL:
		s.scanURL(content)
	case kBody:
		if bytes.IndexByte(content, '=') >= 0 && bytes.IndexByte(content, '\n') < 0 {
			s.scanQuery(content, 0, len(content))
		} else {
			s.scanText(content)
		}
	}
	if len(s.spans) == 0 {
		if h != 0 {
			cleanNote(h)
		}
		return
	}
	s.sortSpans()
	if !esc {
		// The contents are the raw bytes: splice in place.
		for _, sp := range s.spans {
			s.edit(start+1+sp.from, start+1+sp.to, filtered)
		}
		return
	}
	enc := append(s.enc[:0], '"')
	last := 0
	for _, sp := range s.spans {
		enc = appendEscaped(enc, content[last:sp.from])
		enc = append(enc, filtered...)
		last = sp.to
	}
	enc = appendEscaped(enc, content[last:])
	s.enc = append(enc, '"')
	s.editBytes(start, end, s.enc)
}

// sortSpans puts s.spans in order and merges overlapping ones, for the few
// scanners (a URL inside a query) that can find them out of order.
func (s *scrubber) sortSpans() {
	sorted := true
	for i := 1; i < len(s.spans); i++ {
		if s.spans[i].from < s.spans[i-1].to {
			sorted = false
			break
		}
	}
	if sorted {
		return
	}
	xsort.SortFunc(s.spans, func(a, b span) int { return a.from - b.from })
	out := s.spans[:1]
	for _, sp := range s.spans[1:] {
		if last := &out[len(out)-1]; sp.from < last.to {
			last.to = max(last.to, sp.to)
			continue
		}
		out = append(out, sp)
	}
	s.spans = out
}

// jsonBody scrubs a request body that holds a JSON object or array. It
// reports whether content was JSON (and so has been dealt with).
func (s *scrubber) jsonBody(content []byte, start, end int) bool {
	t := bytes.TrimLeft(content, " \t\r\n")
	if len(t) == 0 || t[0] != '{' && t[0] != '[' {
		return false
	}
	sub := scrubbers.Get().(*scrubber)
	defer sub.release()
	sub.reset(content)
	sub.scrubIP, sub.extra, sub.extraKeys, sub.optsKey = s.scrubIP, append(sub.extra, s.extra...), s.extraKeys, s.optsKey
	out, changed, ok := sub.run(mArea)
	if !ok {
		return false
	}
	if changed {
		s.enc = appendString(s.enc[:0], out)
		s.editBytes(start, end, s.enc)
	}
	return true
}

// The clean cache remembers, by a keyed 64-bit hash, free-text strings
// (kText, kCode) that were scanned and held no secret, so that the same
// string in the next event is not scanned again: the events of one issue
// repeat their frames' context lines and messages, and the free-text scan
// was ~5 % of the server's CPU at full speed. The hash covers the string,
// its kind and the options (optsKey); the seed is random per process, so a
// client cannot choose strings that collide, and a collision by chance
// (one in 2^64 per pair) is the only way a cached verdict can differ
// from a scan. Strings shorter than cleanMin are scanned: that costs less
// than the hash.
//
// The slots are in sets of cleanWays, which a hash's top bits choose; a
// new hash goes first in its set and pushes the oldest out. With one slot
// per set, chosen by the low bits (of which the lowest is always set, so
// half the slots stayed empty), the 1,300 long strings of loadgen's ten
// events missed 27 % of the time; four ways in the same 32 KiB miss
// 0.4-2 % (the seed differs per process). Hits only read, so the digest's
// normalisers do not write to the cache lines they share; a race between
// two of them costs only a miss.
const (
	cleanSetBits = 10                        // 1,024 sets
	cleanWays    = 4                         // slots per set: 32 bytes
	cleanSize    = cleanWays << cleanSetBits // slots: 32 KiB
	cleanMin     = 24
)

var (
	cleanSeed  = maphash.MakeSeed()
	cleanSlots [cleanSize]atomic.Uint64
)

// cleanSet returns the set of slots hash h belongs to, chosen by its top
// bits (the lowest is always set).
func cleanSet(h uint64) []atomic.Uint64 {
	i := (h >> (64 - cleanSetBits)) * cleanWays
	return cleanSlots[i : i+cleanWays : i+cleanWays]
}

// cleanKnown reports whether h is remembered as clean.
func cleanKnown(h uint64) bool {
	set := cleanSet(h)
	for i := range set {
		if set[i].Load() == h {
			return true
		}
	}
	return false
}

// cleanNote remembers h as clean, first in its set.
func cleanNote(h uint64) {
	set := cleanSet(h)
	for i := len(set) - 1; i > 0; i-- {
		set[i].Store(set[i-1].Load())
	}
	set[0].Store(h)
}

func cleanHash(content []byte, kind uint8, optsKey uint64) uint64 {
	h := maphash.Bytes(cleanSeed, content)
	h ^= optsKey + uint64(kind+1)*0x9e3779b97f4a7c15
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return h | 1 // 0 is an empty slot
}
