package scrub

import (
	"unicode/utf16"
	"unicode/utf8"

	"github.com/tinysink/tinysink/internal/jsonscan"
)

// This file holds the byte-level JSON scanning that the walker in scrub.go
// is built on: skipping whitespace, strings, numbers and literals while
// checking their syntax, and decoding and encoding string contents.

// maxDepth bounds nesting, so a hostile document cannot exhaust the stack.
// Documents digest stores are at most fastjson.MaxDepth (300) deep.
const maxDepth = 512

// space marks JSON whitespace.
var space = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

// strPlain marks the bytes a JSON string may hold as they are: everything
// but '"', '\\' and control characters.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func (s *scrubber) ws() {
	for s.pos < len(s.src) && space[s.src[s.pos]] {
		s.pos++
	}
}

// peek returns the byte at the cursor, or 0 at the end.
func (s *scrubber) peek() byte {
	if s.pos < len(s.src) {
		return s.src[s.pos]
	}
	return 0
}

// skipString moves the cursor from an opening quote past the closing one. It
// reports whether the string holds escapes, and whether it is well formed.
func (s *scrubber) skipString() (escaped, ok bool) {
	src := s.src
	i := s.pos + 1
	for {
		if i = jsonscan.Special(src, i); i >= len(src) {
			return escaped, false
		}
		switch src[i] {
		case '"':
			s.pos = i + 1
			return escaped, true
		case '\\':
			escaped = true
			if i+1 >= len(src) {
				return escaped, false
			}
			switch src[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if _, hex := jsonscan.Hex4(src[i+2:]); !hex {
					return escaped, false
				}
				i += 6
			default:
				return escaped, false
			}
		default: // a control character
			return escaped, false
		}
	}
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// skipNumber moves the cursor past a JSON number and reports whether it is
// well formed: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scrubber) skipNumber() bool {
	src, i := s.src, s.pos
	if i < len(src) && src[i] == '-' {
		i++
	}
	switch {
	case i < len(src) && src[i] == '0':
		i++
	case i < len(src) && src[i] >= '1' && src[i] <= '9':
		i = skipDigits(src, i)
	default:
		return false
	}
	if i < len(src) && src[i] == '.' {
		j := skipDigits(src, i+1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(src) && (src[i] == 'e' || src[i] == 'E') {
		i++
		if i < len(src) && (src[i] == '+' || src[i] == '-') {
			i++
		}
		j := skipDigits(src, i)
		if j == i {
			return false
		}
		i = j
	}
	s.pos = i
	return true
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// skipLiteral moves the cursor past true, false or null.
func (s *scrubber) skipLiteral() bool {
	rest := s.src[s.pos:]
	for _, lit := range [...]string{"true", "false", "null"} {
		if len(rest) >= len(lit) && string(rest[:len(lit)]) == lit {
			s.pos += len(lit)
			return true
		}
	}
	return false
}

// decodeString appends the contents of the well-formed JSON string body raw
// (without its quotes) to dst, resolving escapes. Lone surrogates become
// U+FFFD.
func decodeString(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		e := raw[i+1]
		i += 2
		if b, ok := jsonscan.Unescaped(e); ok {
			dst = append(dst, b)
			continue
		}
		switch e {
		case 'u':
			r, _ := jsonscan.Hex4(raw[i:])
			i += 4
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					y, _ := jsonscan.Hex4(raw[i+2:])
					r2 = utf16.DecodeRune(r, y)
				}
				if r2 != utf8.RuneError {
					i += 6
				}
				r = r2
			}
			dst = utf8.AppendRune(dst, r)
		default: // none in well-formed text (the one-letter escapes are above)
			dst = append(dst, e)
		}
	}
	return dst
}

// appendString appends s to dst as a quoted JSON string.
func appendString(dst, s []byte) []byte {
	dst = append(dst, '"')
	dst = appendEscaped(dst, s)
	return append(dst, '"')
}

// appendEscaped appends s to dst as the inside of a JSON string. Bytes that
// are not valid UTF-8 are copied as they are, as they came in.
func appendEscaped(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	start := 0
	for i, c := range s {
		if strPlain[c] {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	return append(dst, s[start:]...)
}
