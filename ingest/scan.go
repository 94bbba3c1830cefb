package ingest

import (
	"bytes"
	"strconv"

	"github.com/valyala/fastjson"

	"github.com/tinysink/tinysink/digest/rawevent"
	"github.com/tinysink/tinysink/internal/jtree"
)

// Ingest reads a handful of top-level fields (an event's event_id, an item
// header's type and length, an envelope header's event_id and dsn) and never
// needs the rest. A JSON parser that builds a tree costs memory in proportion
// to the number of values: fastjson spends ~80 bytes per value, so a 1 MiB
// event of 520,000 zeros (which gzip sends in 1 KB) cost ~200 MiB. The
// scanner below walks the top-level members of an object instead, skipping
// every value with a byte scan, and counts the values it skips. It allocates
// nothing.
//
// It expects valid JSON (callers check with fastjson.ValidateBytes, which
// does not allocate either) and never panics on anything else.

// objectScanner iterates over the members of a JSON object.
type objectScanner struct {
	b []byte
	i int // next byte to read
	// values counts the JSON values met so far: the object itself, the
	// members' values and everything nested in them (keys are not values).
	values int
	n      int  // members returned so far
	bad    bool // the input is not a JSON object
}

// newObjectScanner returns a scanner for the object that b holds.
func newObjectScanner(b []byte) objectScanner {
	s := objectScanner{b: b}
	s.i = s.skipSpace(0)
	if s.i >= len(b) || b[s.i] != '{' {
		s.bad = true
		return s
	}
	s.i++
	s.values = 1
	return s
}

func (s *objectScanner) skipSpace(i int) int {
	for i < len(s.b) && isSpace(s.b[i]) {
		i++
	}
	return i
}

// next returns the next member: its key as it appears between the quotes
// (escapes intact) and its value's bytes. ok is false at the end of the
// object or when the input is not valid JSON (then s.bad is set).
func (s *objectScanner) next() (key, val []byte, ok bool) {
	if s.bad {
		return nil, nil, false
	}
	i := s.skipSpace(s.i)
	if i < len(s.b) && s.b[i] == '}' {
		s.i = i + 1
		return nil, nil, false
	}
	if s.n > 0 {
		if i >= len(s.b) || s.b[i] != ',' {
			return s.fail()
		}
		i = s.skipSpace(i + 1)
	}
	if i >= len(s.b) || s.b[i] != '"' {
		return s.fail()
	}
	end := rawevent.StringEnd(s.b, i+1)
	if end >= len(s.b) {
		return s.fail()
	}
	key = s.b[i+1 : end]
	i = s.skipSpace(end + 1)
	if i >= len(s.b) || s.b[i] != ':' {
		return s.fail()
	}
	start := s.skipSpace(i + 1)
	end = s.skipValue(start)
	if end < 0 {
		return s.fail()
	}
	s.i = end
	s.n++
	return key, s.b[start:end], true
}

func (s *objectScanner) fail() ([]byte, []byte, bool) {
	s.bad = true
	return nil, nil, false
}

// skipValue returns the end of the value starting at b[i], or -1 if there
// is no well-formed one, counting the values in it. It keeps no stack:
// brackets are only counted, which is enough for valid JSON.
func (s *objectScanner) skipValue(i int) int {
	depth := 0
	for i < len(s.b) {
		switch s.b[i] {
		case '"':
			s.values++
			i = rawevent.StringEnd(s.b, i+1)
			if i >= len(s.b) {
				return -1
			}
			i++
		case '{', '[':
			s.values++
			depth++
			i++
			continue
		case '}', ']':
			depth--
			if depth < 0 {
				return -1
			}
			i++
		case ':':
			if depth == 0 {
				return -1
			}
			s.values-- // the string before it was a key
			i++
			continue
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return -1
			}
			i++
			continue
		default: // a number, true, false or null
			s.values++
			for i < len(s.b) && !literalEnd(s.b[i]) {
				i++
			}
		}
		if depth == 0 {
			return i
		}
	}
	return -1
}

func literalEnd(c byte) bool {
	switch c {
	case ',', ']', '}', ':', '"', '[', '{', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

// field remembers the value of one top-level key the way fastjson's
// Object.Get picks it among duplicates: the first member whose key is
// written exactly as name; if there is none, the first whose key, once
// unescaped, is name.
type field struct {
	name  string
	val   []byte
	exact bool // val's key was written exactly as name
	found bool
}

// offer considers the member key: val.
func (f *field) offer(key, val []byte) {
	if f.exact {
		return
	}
	if string(key) == f.name {
		f.val, f.exact, f.found = val, true, true
		return
	}
	if !f.found && bytes.IndexByte(key, '\\') >= 0 && unescapedIs(key, f.name) {
		f.val, f.found = val, true
	}
}

// str returns the field's value if it is a JSON string, unescaped, appended
// to dst; ok is false when the field is absent or not a string.
func (f *field) str(dst []byte) (s []byte, ok bool) {
	if !f.found || len(f.val) < 2 || f.val[0] != '"' {
		return dst, false
	}
	return jtree.AppendUnescaped(dst, f.val[1:len(f.val)-1]), true
}

// unescapedIs reports whether the JSON string contents raw unescape to name.
func unescapedIs(raw []byte, name string) bool {
	if len(raw) > 6*len(name)+12 { // each byte of name is at most \uXXXX
		return false
	}
	var buf [128]byte
	return string(jtree.AppendUnescaped(buf[:0], raw)) == name
}

// maxIDField bounds the JSON text of a string field worth unescaping to
// look at: a 36-character id written entirely in \u escapes is 218 bytes.
const maxIDField = 256

// scanEvent returns the normalised top-level event_id of the JSON object b
// ("" if it has none or an unusable one) and the number of JSON values in b.
// b must be valid JSON (see checkEventJSON); for anything else the results
// mean nothing, but it does not fail. It allocates only the id.
func scanEvent(b []byte) (id string, values int) {
	s := newObjectScanner(b)
	f := field{name: "event_id"}
	for {
		key, val, ok := s.next()
		if !ok {
			break
		}
		f.offer(key, val)
	}
	return idOf(&f), s.values
}

// idOf returns the event id in the value of f ("" if it is absent or not
// one).
func idOf(f *field) string {
	var buf [maxIDField]byte
	if len(f.val) <= len(buf) { // else too long to be an id, escaped or not
		if raw, ok := f.str(buf[:0]); ok {
			return rawevent.NormalizeID(raw)
		}
	}
	return ""
}

// scanHeader reads the fields ingest uses from an envelope or item header
// line. what names the line in the error when it is not a JSON object.
func scanHeader(line []byte, what string) (h header, err error) {
	if fastjson.ValidateBytes(line) != nil {
		return h, malformedf("%s is not a JSON object", what)
	}
	s := newObjectScanner(line)
	typ, length := field{name: "type"}, field{name: "length"}
	evID, dsn := field{name: "event_id"}, field{name: "dsn"}
	atype, fname, ctype := field{name: "attachment_type"}, field{name: "filename"}, field{name: "content_type"}
	for {
		key, val, ok := s.next()
		if !ok {
			break
		}
		typ.offer(key, val)
		length.offer(key, val)
		evID.offer(key, val)
		dsn.offer(key, val)
		atype.offer(key, val)
		fname.offer(key, val)
		ctype.offer(key, val)
	}
	if s.bad {
		return h, malformedf("%s is not a JSON object", what)
	}
	var buf [maxIDField]byte
	if len(typ.val) <= len(buf) {
		if t, ok := typ.str(buf[:0]); ok {
			h.isEvent = string(t) == "event"
			h.isAttachment = string(t) == "attachment"
			h.typ = itemType(t)
		}
	}
	if length.found && string(length.val) != "null" {
		h.length = length.val
	}
	if len(evID.val) <= len(buf) {
		if id, ok := evID.str(buf[:0]); ok {
			h.eventID = rawevent.NormalizeID(id)
		}
	}
	if d, ok := dsn.str(nil); ok {
		h.dsnKey = dsnKey(d)
	}
	if h.isAttachment {
		for _, f := range []struct {
			f   *field
			dst *string
		}{{&atype, &h.attachmentType}, {&fname, &h.filename}, {&ctype, &h.contentType}} {
			if len(f.f.val) <= 1024 {
				if v, ok := f.f.str(nil); ok {
					*f.dst = string(v)
				}
			}
		}
	}
	return h, nil
}

// header holds what ingest reads from an envelope or item header.
type header struct {
	isEvent bool   // type is "event"
	typ     string // the item type, see itemType; "" if absent
	length  []byte // the length's JSON text; nil if absent or null
	eventID string // event_id, normalised; "" if absent or unusable
	dsnKey  string // the public key in dsn; "" if none

	// Attachment items only.
	isAttachment                          bool
	attachmentType, filename, contentType string
}

// itemLength returns the declared payload length, or -1 if there is none.
func (h *header) itemLength() (int64, error) {
	if h.length == nil {
		return -1, nil
	}
	n, err := strconv.ParseInt(string(h.length), 10, 64)
	if err != nil || n < 0 {
		return 0, malformedf("An item length is not a non-negative integer")
	}
	return n, nil
}
