package event

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

// refStr is writer.str as a plain byte loop: printable ASCII but '"' and
// '\\' copied, the escapes JSON needs, NUL dropped, valid UTF-8 copied,
// each run of invalid bytes written as U+FFFD.
func refStr(b []byte) []byte {
	out := []byte{'"'}
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\':
			out = append(out, c)
			i++
		case c < utf8.RuneSelf:
			switch c {
			case 0:
			case '"':
				out = append(out, `\"`...)
			case '\\':
				out = append(out, `\\`...)
			case '\n':
				out = append(out, `\n`...)
			case '\r':
				out = append(out, `\r`...)
			case '\t':
				out = append(out, `\t`...)
			default:
				out = append(out, '\\', 'u', '0', '0', hexDigit[c>>4], hexDigit[c&0xf])
			}
			i++
		default:
			if r, size := utf8.DecodeRune(b[i:]); r != utf8.RuneError || size > 1 {
				out = append(out, b[i:i+size]...)
				i += size
				continue
			}
			for i < len(b) {
				if r, size := utf8.DecodeRune(b[i:]); r != utf8.RuneError || size > 1 {
					break
				}
				i++
			}
			out = append(out, "\uFFFD"...)
		}
	}
	return append(out, '"')
}

// checkStr writes b into an empty writer, behind a byte in a buffer with
// no room to spare, and behind one in a buffer with room for it all.
func checkStr(t *testing.T, b []byte) {
	t.Helper()
	want := refStr(b)
	for _, prefix := range [][]byte{nil, []byte("["), append(make([]byte, 0, len(want)+8), '[')} {
		w := writer{buf: prefix}
		w.str(b)
		if got := w.buf[len(prefix):]; !bytes.Equal(got, want) || len(prefix) > 0 && w.buf[0] != '[' {
			t.Fatalf("str(%q) after %q = %s, want %s", b, prefix, w.buf, want)
		}
	}
}

// TestWriterStr puts each byte value, and a few multi-byte sequences, at
// each offset of a run of plain text long enough for the word-at-a-time
// scan, and checks str against refStr.
func TestWriterStr(t *testing.T) {
	plain := []byte("abcdefghijklmnopqrstuvwxyz0123456789")
	var inserts [][]byte
	for c := range 256 {
		inserts = append(inserts, []byte{byte(c)})
	}
	inserts = append(inserts, []byte("é"), []byte("€"), []byte("😀"), []byte("\xe2\x82"), []byte("\xff\xfe"), []byte("\xed\xa0\x80"))
	for _, ins := range inserts {
		for at := 0; at <= len(plain); at++ {
			b := append(append(append([]byte{}, plain[:at]...), ins...), plain[at:]...)
			checkStr(t, b)
		}
	}
	checkStr(t, nil)
}

func FuzzWriterStr(f *testing.F) {
	for _, s := range []string{"", "plain text", "quote\" and \\ back", "tab\tnl\n\x00nul", "ünïcödé", "\xff\xfe bad", "😀 emoji"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkStr(t, b) })
}
