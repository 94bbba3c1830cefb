// Package jtree parses JSON into a tree of values, as the digest reads
// events. It accepts and builds exactly what fastjson (v1.6) does, quirks
// included, so that the digest's output does not change with the parser:
// the same numbers (NaN, Inf and other non-JSON number text included), the
// same best-effort unescaping, the same depth limit, the same lookups of
// duplicate and escaped keys. jtree_test.go checks it against fastjson
// on every input its fuzz target meets.
//
// What it adds is what its scan of each string learns for free: whether
// the string, as received, is plain, that is holds no escape, no control
// character and no byte of 0x80 or more. A writer can copy a plain string
// as it is, where fastjson's values make it scan every string again.
package jtree

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/valyala/fastjson/fastfloat"

	"github.com/tinysink/tinysink/internal/jsonscan"
)

// MaxDepth is the deepest nesting parsed, counted as fastjson counts it:
// every value, scalars included, is one level below its container.
const MaxDepth = 300

// Type is a value's JSON type; the values are fastjson's. A byte, so that
// a Value with its plain flag is no bigger than fastjson's.
type Type uint8

const (
	TypeNull   Type = 0
	TypeObject Type = 1
	TypeArray  Type = 2
	TypeString Type = 3
	TypeNumber Type = 4
	TypeTrue   Type = 5
	TypeFalse  Type = 6
	// typeRawString is a string not yet unescaped.
	typeRawString Type = 7
)

func (t Type) String() string {
	switch t {
	case TypeObject:
		return "object"
	case TypeArray:
		return "array"
	case TypeString, typeRawString:
		return "string"
	case TypeNumber:
		return "number"
	case TypeTrue:
		return "true"
	case TypeFalse:
		return "false"
	default:
		return "null"
	}
}

// Value is a parsed JSON value. It lives until the next Parse of its
// parser.
type Value struct {
	o Object
	a []*Value
	s string // a string's contents (raw until unescaped) or a number's text
	t Type
	// plain is set for a string that, as received, held no escape, no
	// control character and no byte of 0x80 or more.
	plain bool
}

type kv struct {
	k     string
	v     *Value
	plain bool // k, as received, was plain (see Value.plain)
}

// Object is a parsed JSON object: its members in order, duplicates kept.
type Object struct {
	kvs           []kv
	keysUnescaped bool
}

// Parser parses JSON. Its values and buffer are reused by the next Parse.
type Parser struct {
	b  []byte
	vs []Value
}

var (
	valueTrue  = &Value{t: TypeTrue}
	valueFalse = &Value{t: TypeFalse}
	valueNull  = &Value{t: TypeNull}
)

// ParseBytes parses b (which it copies).
func (p *Parser) ParseBytes(b []byte) (*Value, error) {
	return p.Parse(unsafe.String(unsafe.SliceData(b), len(b)))
}

// Parse parses s (which it copies) as one JSON value, whitespace around it
// allowed.
func (p *Parser) Parse(s string) (*Value, error) {
	s = s[skipWS(s, 0):]
	// Quotes past the end let a string's scan read whole words without
	// checking for the end of the input in each (see scanString).
	p.b = append(append(p.b[:0], s...), pad...)
	for i := range p.vs {
		v := &p.vs[i]
		clear(v.o.kvs)
		v.o.kvs = v.o.kvs[:0]
		v.o.keysUnescaped = false
		clear(v.a)
		v.a = v.a[:0]
		v.s = ""
		v.plain = false
	}
	p.vs = p.vs[:0]
	ps := parse{src: unsafe.String(unsafe.SliceData(p.b), len(s)), p: p}
	v, i, err := ps.value(0, 0)
	if err != nil {
		return nil, err
	}
	if i = skipWS(ps.src, i); i < len(ps.src) {
		return nil, errors.New("unexpected tail")
	}
	return v, nil
}

func (p *Parser) value() *Value {
	if len(p.vs) < cap(p.vs) {
		p.vs = p.vs[:len(p.vs)+1]
	} else {
		// The values parsed so far stay where they are: a new array
		// leaves them in the old one, which they keep alive.
		p.vs = append(p.vs, Value{})
	}
	return &p.vs[len(p.vs)-1]
}

type parse struct {
	src string
	p   *Parser
}

var (
	errDepth  = fmt.Errorf("too big depth for the nested JSON; it exceeds %d", MaxDepth)
	errEnd    = errors.New("unexpected end of JSON")
	errSyntax = errors.New("unexpected character")
	errString = errors.New(`missing closing '"'`)
)

func isWS(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

func skipWS(s string, i int) int {
	for i < len(s) && s[i] <= ' ' && isWS(s[i]) {
		i++
	}
	return i
}

// value parses the value at src[i], i past any whitespace, at the given
// depth of its container, and returns the index after it.
func (ps *parse) value(i, depth int) (*Value, int, error) {
	s := ps.src
	if i >= len(s) {
		return nil, i, errEnd
	}
	depth++
	if depth > MaxDepth {
		return nil, i, errDepth
	}
	switch c := s[i]; c {
	case '{':
		return ps.object(i+1, depth)
	case '[':
		return ps.array(i+1, depth)
	case '"':
		str, end, plain, err := scanString(s, i+1)
		if err != nil {
			return nil, end, err
		}
		v := ps.p.value()
		v.t, v.s, v.plain = typeRawString, str, plain
		return v, end, nil
	case 't':
		if strings.HasPrefix(s[i:], "true") {
			return valueTrue, i + 4, nil
		}
		return nil, i, errSyntax
	case 'f':
		if strings.HasPrefix(s[i:], "false") {
			return valueFalse, i + 5, nil
		}
		return nil, i, errSyntax
	case 'n':
		if strings.HasPrefix(s[i:], "null") {
			return valueNull, i + 4, nil
		}
		if len(s)-i >= 3 && strings.EqualFold(s[i:i+3], "nan") {
			v := ps.p.value()
			v.t, v.s = TypeNumber, s[i:i+3]
			return v, i + 3, nil
		}
		return nil, i, errSyntax
	}
	end, err := numberEnd(s, i)
	if err != nil {
		return nil, i, err
	}
	v := ps.p.value()
	v.t, v.s = TypeNumber, s[i:end]
	return v, end, nil
}

// numberEnd returns the end of the number text at s[i]: a run of digits,
// signs, dots and exponent letters (fastjson checks nothing more), or, when
// no digit starts it, Inf or NaN after at most one sign.
func numberEnd(s string, i int) (int, error) {
	start := i
	for ; i < len(s); i++ {
		if c := s[i]; c >= '0' && c <= '9' || c == '.' || c == '-' || c == 'e' || c == 'E' || c == '+' {
			continue
		}
		if i == start || i == start+1 && (s[start] == '-' || s[start] == '+') {
			if len(s)-i >= 3 && (strings.EqualFold(s[i:i+3], "inf") || strings.EqualFold(s[i:i+3], "nan")) {
				return i + 3, nil
			}
			return i, errSyntax
		}
		return i, nil
	}
	return i, nil
}

func (ps *parse) array(i, depth int) (*Value, int, error) {
	s := ps.src
	i = skipWS(s, i)
	if i >= len(s) {
		return nil, i, errEnd
	}
	a := ps.p.value()
	a.t = TypeArray
	if s[i] == ']' {
		return a, i + 1, nil
	}
	for {
		v, j, err := ps.value(skipWS(s, i), depth)
		if err != nil {
			return nil, j, err
		}
		a.a = append(a.a, v)
		if i = skipWS(s, j); i >= len(s) {
			return nil, i, errEnd
		}
		switch s[i] {
		case ',':
			i++
		case ']':
			return a, i + 1, nil
		default:
			return nil, i, errSyntax
		}
	}
}

func (ps *parse) object(i, depth int) (*Value, int, error) {
	s := ps.src
	i = skipWS(s, i)
	if i >= len(s) {
		return nil, i, errEnd
	}
	o := ps.p.value()
	o.t = TypeObject
	if s[i] == '}' {
		return o, i + 1, nil
	}
	for {
		if i = skipWS(s, i); i >= len(s) || s[i] != '"' {
			return nil, i, errSyntax
		}
		k, j, plain, err := scanString(s, i+1)
		if err != nil {
			return nil, j, err
		}
		if i = skipWS(s, j); i >= len(s) || s[i] != ':' {
			return nil, i, errSyntax
		}
		v, j, err := ps.value(skipWS(s, i+1), depth)
		if err != nil {
			return nil, j, err
		}
		o.o.kvs = append(o.o.kvs, kv{k: k, v: v, plain: plain})
		if i = skipWS(s, j); i >= len(s) {
			return nil, i, errEnd
		}
		switch s[i] {
		case ',':
			i++
		case '}':
			return o, i + 1, nil
		default:
			return nil, i, errSyntax
		}
	}
}

// pad follows the input in the parser's buffer: a string's scan may start
// a word one byte past the input's end (after a backslash that ends it),
// and its eight bytes must lie within the buffer and stop the scan.
const pad = `""""""""""""""""`

// scanString returns the raw contents of the string whose first byte is
// s[i], the index after its closing quote, and whether it is plain. A
// backslash escapes the byte after it, whatever that is, as in fastjson.
// s must be followed in memory by pad (Parse puts it there): the scan
// reads whole words, up to nine bytes past the end of s.
func scanString(s string, i int) (string, int, bool, error) {
	start := i
	plain := true
	base := unsafe.StringData(s)
	for {
		for {
			x := binary.LittleEndian.Uint64(unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(base), i)), 8))
			if m := jsonscan.WordSpecialOrHigh(x); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(s) {
			return s[start:], len(s), false, errString
		}
		switch s[i] {
		case '"':
			return s[start:i], i + 1, plain, nil
		case '\\':
			i += 2
		default:
			i++
		}
		plain = false
	}
}

// Type returns v's type, unescaping a string the first time.
func (v *Value) Type() Type {
	if v.t == typeRawString {
		if !v.plain {
			v.s = unescape(v.s)
		}
		v.t = TypeString
	}
	return v.t
}

// Plain reports whether v is a string that, as received, held no escape,
// no control character and no byte of 0x80 or more: its contents are then
// valid JSON string text as they are.
func (v *Value) Plain() bool { return v.plain }

// Object returns v's object, or an error when v is not one.
func (v *Value) Object() (*Object, error) {
	if v.t != TypeObject {
		return nil, errors.New("value is not an object")
	}
	return &v.o, nil
}

// Array returns v's elements, or an error when v is not an array.
func (v *Value) Array() ([]*Value, error) {
	if v.t != TypeArray {
		return nil, errors.New("value is not an array")
	}
	return v.a, nil
}

// StringBytes returns a string's contents, or an error when v is not a
// string. They alias the parser's buffer.
func (v *Value) StringBytes() ([]byte, error) {
	if v.Type() != TypeString {
		return nil, errors.New("value is not a string")
	}
	return unsafe.Slice(unsafe.StringData(v.s), len(v.s)), nil
}

// Get returns the value of member key of the object v (see Object.Get),
// or nil when v is nil or not an object.
func (v *Value) Get(key string) *Value {
	if v == nil || v.t != TypeObject {
		return nil
	}
	return v.o.Get(key)
}

// GetFloat64 returns the number v as fastjson's best-effort parse reads
// it, or 0 when v is nil or not a number.
func (v *Value) GetFloat64() float64 {
	if v == nil || v.Type() != TypeNumber {
		return 0
	}
	return fastfloat.ParseBestEffort(v.s)
}

// Number returns a number's text as received (fastjson's rules, so NaN,
// Inf and other text that is no JSON number too), or "" when v is not a
// number.
func (v *Value) Number() string {
	if v.t != TypeNumber {
		return ""
	}
	return v.s
}

// Len returns the number of members, duplicates included.
func (o *Object) Len() int { return len(o.kvs) }

func (o *Object) unescapeKeys() {
	if o.keysUnescaped {
		return
	}
	for i := range o.kvs {
		if kv := &o.kvs[i]; !kv.plain {
			kv.k = unescape(kv.k)
		}
	}
	o.keysUnescaped = true
}

// Get returns the value of the first member named key, or nil. As in
// fastjson, before the keys are first unescaped (by Visit or a lookup that
// missed) the first member whose key as received equals key wins, even
// after an escaped key that unescapes to it.
func (o *Object) Get(key string) *Value {
	if !o.keysUnescaped && strings.IndexByte(key, '\\') < 0 {
		for i := range o.kvs {
			if o.kvs[i].k == key {
				return o.kvs[i].v
			}
		}
	}
	o.unescapeKeys()
	for i := range o.kvs {
		if o.kvs[i].k == key {
			return o.kvs[i].v
		}
	}
	return nil
}

// Visit calls f with each member in order, keys unescaped. The key aliases
// the parser's buffer.
func (o *Object) Visit(f func(key []byte, v *Value)) {
	if o == nil {
		return
	}
	o.unescapeKeys()
	for i := range o.kvs {
		kv := &o.kvs[i]
		f(unsafe.Slice(unsafe.StringData(kv.k), len(kv.k)), kv.v)
	}
}

// VisitPlain is Visit that also says whether each key was plain as
// received (see Value.Plain).
func (o *Object) VisitPlain(f func(key []byte, plain bool, v *Value)) {
	if o == nil {
		return
	}
	o.unescapeKeys()
	for i := range o.kvs {
		kv := &o.kvs[i]
		f(unsafe.Slice(unsafe.StringData(kv.k), len(kv.k)), kv.plain, kv.v)
	}
}

// unescape decodes s's escapes best effort, as fastjson does (see
// AppendUnescaped), in place: s lies in the parser's buffer, and what an
// escape decodes to is never longer than the escape.
func unescape(s string) string {
	n := strings.IndexByte(s, '\\')
	if n < 0 {
		return s
	}
	b := unsafe.Slice(unsafe.StringData(s), len(s))
	b = AppendUnescaped(b[:n], b[n:])
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// AppendUnescaped appends the JSON string contents raw, unescaped best
// effort as fastjson does, to dst: an unknown escape, or a \u without
// four hex digits, stays as written; a \u escape of a surrogate not
// followed by a \u escape stays as written; one followed by a \u escape
// decodes with it as a pair (U+FFFD when the two are no pair). dst may be
// raw[:k] for any k up to the first backslash: what it writes never
// overtakes what it reads. (A lone backslash ending raw, which no string
// that parses can end with, is kept; fastjson drops it.)
func AppendUnescaped(dst, raw []byte) []byte {
	for {
		n := bytes.IndexByte(raw, '\\')
		if n < 0 || n == len(raw)-1 {
			return append(dst, raw...)
		}
		dst = append(dst, raw[:n]...)
		c := raw[n+1]
		raw = raw[n+2:]
		if b, ok := jsonscan.Unescaped(c); ok {
			dst = append(dst, b)
			continue
		}
		switch c {
		case 'u':
			x, ok := jsonscan.Hex4(raw)
			if !ok {
				dst = append(dst, `\u`...)
				continue
			}
			xs := raw[:4]
			raw = raw[4:]
			if !utf16.IsSurrogate(x) {
				dst = utf8.AppendRune(dst, x)
				continue
			}
			if len(raw) < 6 || raw[0] != '\\' || raw[1] != 'u' {
				dst = append(append(dst, `\u`...), xs...)
				continue
			}
			y, ok := jsonscan.Hex4(raw[2:])
			if !ok {
				dst = append(append(dst, `\u`...), xs...)
				continue
			}
			dst = utf8.AppendRune(dst, utf16.DecodeRune(x, y))
			raw = raw[6:]
		default:
			dst = append(dst, '\\', c)
		}
	}
}
