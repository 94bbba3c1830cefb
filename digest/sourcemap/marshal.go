package sourcemap

import (
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// marshal appends v as JSON. fastjson's own MarshalTo quotes strings with
// Go syntax (\x01) that JSON does not allow; this writes JSON escapes, and
// invalid UTF-8 as U+FFFD.
func marshal(dst []byte, v *fastjson.Value) []byte {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		dst = append(dst, '{')
		first := true
		o.Visit(func(k []byte, v *fastjson.Value) {
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = quote(dst, string(k))
			dst = append(dst, ':')
			dst = marshal(dst, v)
		})
		return append(dst, '}')
	case fastjson.TypeArray:
		a, _ := v.Array()
		dst = append(dst, '[')
		for i, x := range a {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = marshal(dst, x)
		}
		return append(dst, ']')
	case fastjson.TypeString:
		return quote(dst, string(v.GetStringBytes()))
	default:
		return v.MarshalTo(dst) // numbers, true, false, null
	}
}

const hexDigits = "0123456789abcdef"

func quote(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20 || c == 0x7f:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, "\ufffd"...)
		} else {
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return append(dst, '"')
}
