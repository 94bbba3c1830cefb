package event

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tinysink/tinysink/internal/jtree"
)

// sanitize returns s with every run of invalid UTF-8 replaced by U+FFFD (as
// strings.ToValidUTF8 does) and NUL bytes removed. The result never aliases
// b.
func sanitize(b []byte) string {
	if isClean(b) {
		return string(b)
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "")
}

// isClean reports whether b is valid UTF-8 without NUL bytes.
func isClean(b []byte) bool {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c == 0 {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return false
		}
		i += size
	}
	return true
}

// keyIs reports whether the object key raw, once sanitised, equals the ASCII
// name want.
func keyIs(raw []byte, want string) bool {
	j := 0
	for _, c := range raw {
		if c == 0 {
			continue
		}
		if j == len(want) || want[j] != c {
			return false
		}
		j++
	}
	return j == len(want)
}

// get returns the value of key in the object v (first occurrence), or nil
// when v is not an object or has no such key.
func get(v *jtree.Value, key string) *jtree.Value {
	if v == nil || v.Type() != jtree.TypeObject {
		return nil
	}
	return v.Get(key)
}

// strOf returns the sanitised string value of v, or "" when v is not a
// string.
func strOf(v *jtree.Value) string {
	if v == nil || v.Type() != jtree.TypeString {
		return ""
	}
	b, _ := v.StringBytes()
	if v.Plain() {
		return string(b) // printable ASCII: nothing to sanitise
	}
	return sanitize(b)
}

// scalarOf returns v as text for fields that are strings by contract but
// sometimes arrive as other scalars: strings as themselves, numbers as their
// JSON text, booleans as "true"/"false". Objects, arrays and null give "".
func scalarOf(v *jtree.Value) string {
	if v == nil {
		return ""
	}
	switch typeOf(v) {
	case jtree.TypeString:
		return strOf(v)
	case jtree.TypeNumber:
		return string(appendNumber(nil, v))
	case jtree.TypeTrue:
		return "true"
	case jtree.TypeFalse:
		return "false"
	}
	return ""
}

// pyStr renders v roughly as Python's str() would after json.loads, which is
// how Bugsink turns non-string exception values and fingerprint parts into
// text: strings as themselves, numbers as their JSON text, True/False/None,
// and objects and arrays as compact JSON (Python would print a repr; no SDK
// sends those).
func pyStr(v *jtree.Value) string {
	if v == nil {
		return "None"
	}
	switch typeOf(v) {
	case jtree.TypeString:
		return strOf(v)
	case jtree.TypeNumber:
		return string(appendNumber(nil, v))
	case jtree.TypeTrue:
		return "True"
	case jtree.TypeFalse:
		return "False"
	case jtree.TypeNull:
		return "None"
	}
	w := writer{}
	if w.value(v, 1) != nil {
		return ""
	}
	return string(w.buf)
}

// truncate cuts s to at most n characters (runes).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := 0
	for k := range s {
		if i == n {
			return s[:k]
		}
		i++
	}
	return s
}

// truncateEllipsis cuts s to at most n characters, the last of which is "…"
// when anything was cut.
func truncateEllipsis(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return truncate(s, n-1) + "…"
}

// firstLine returns s up to its first newline, without a trailing "\r".
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSuffix(s, "\r")
}

// appendNumber appends the JSON number v to dst. fastjson accepts number
// tokens that are not valid JSON (NaN, Inf, 01, 1., --1); valid ones are
// kept verbatim, others are re-formatted when they parse as a finite float
// and written as null otherwise.
func appendNumber(dst []byte, v *jtree.Value) []byte {
	start := len(dst)
	dst = append(dst, v.Number()...)
	raw := dst[start:]
	if validNumber(raw) {
		return dst
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	dst = dst[:start]
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}

// validNumber reports whether b is a number as JSON's grammar defines it.
func validNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i == len(b) {
		return false
	}
	if b[i] == '0' {
		i++
	} else if b[i] >= '1' && b[i] <= '9' {
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	} else {
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	return i == len(b)
}
