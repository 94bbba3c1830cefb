package jsonscan

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"strconv"
	"testing"
)

func naive(b []byte, i int) int {
	for ; i < len(b); i++ {
		c := b[i]
		if c == '"' || c == '\\' || c < 0x20 {
			return i
		}
	}
	return len(b)
}

func naiveHigh(b []byte, i int) int {
	for ; i < len(b); i++ {
		c := b[i]
		if c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
			return i
		}
	}
	return len(b)
}

func check(t *testing.T, b []byte) {
	t.Helper()
	if len(b) >= 8 {
		got := 8
		if m := WordSpecialOrHigh(binary.LittleEndian.Uint64(b)); m != 0 {
			got = bits.TrailingZeros64(m) >> 3
		}
		if want := naiveHigh(b[:8], 0); got != want {
			t.Fatalf("WordSpecialOrHigh(%q) flags byte %d, want %d", b[:8], got, want)
		}
	}
	for i := 0; i <= len(b); i++ {
		if got, want := Special(b, i), naive(b, i); got != want {
			t.Fatalf("Special(%q, %d) = %d, want %d", b, i, got, want)
		}
		if got, want := SpecialOrHigh(b, i), naiveHigh(b, i); got != want {
			t.Fatalf("SpecialOrHigh(%q, %d) = %d, want %d", b, i, got, want)
		}
	}
}

// TestEveryByteEveryLane puts each of the 256 byte values at each offset
// of runs of plain text of 1 to 19 bytes, alone and next to another
// special byte, so every lane of the whole words, of the shifted last
// word and of the short runs' byte loop meets every value, and a match's
// borrow into the next lane cannot hide or invent one.
func TestEveryByteEveryLane(t *testing.T) {
	for n := 1; n <= 19; n++ {
		everyByte(t, []byte("abcdefghijklmnopqrs")[:n])
	}
}

func everyByte(t *testing.T, plain []byte) {
	for c := 0; c < 256; c++ {
		for at := 0; at < len(plain); at++ {
			b := bytes.Clone(plain)
			b[at] = byte(c)
			check(t, b)
			for _, d := range []byte{0, 0x1f, 0x20, '"', '\\', 0x7f, 0x80, 0xff, 0x21, 0x5b, 0x5d, 0x01} {
				if at+1 < len(b) {
					e := bytes.Clone(b)
					e[at+1] = d
					check(t, e)
				}
				if at > 0 {
					e := bytes.Clone(b)
					e[at-1] = d
					check(t, e)
				}
			}
		}
	}
}

func FuzzSpecial(f *testing.F) {
	for _, s := range []string{"", "a", `hello "world"`, "tab\there", "\x00\x01", "ünïcödé text", `back\\slash`, "0123456789abcdef\"", "\x7f\x80\x9f\xa0\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 64 {
			b = b[:64]
		}
		check(t, b)
	})
}

var sink int

func BenchmarkSpecial(b *testing.B) {
	s := []byte(`/usr/src/app/node_modules/express/lib/router/index.js in handle at line 284, column 15"`)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		sink += Special(s, 0)
	}
}

func BenchmarkNaive(b *testing.B) {
	s := []byte(`/usr/src/app/node_modules/express/lib/router/index.js in handle at line 284, column 15"`)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		sink += naive(s, 0)
	}
}

// TestHex4 checks Hex4 against strconv.ParseUint on every four-byte
// string of hex digits and of the bytes around them.
func TestHex4(t *testing.T) {
	alphabet := "0123456789abcdefABCDEFgG/:@`+-_xX \x00\xff"
	for _, a := range alphabet {
		for _, b := range alphabet {
			for _, c := range []byte("0fF9g") {
				for _, d := range []byte("0aA9_") {
					in := []byte(string(a) + string(b) + string([]byte{c, d}))
					if len(in) != 4 {
						continue
					}
					x, err := strconv.ParseUint(string(in), 16, 16)
					got, ok := Hex4(in)
					if ok != (err == nil) || ok && got != rune(x) {
						t.Fatalf("Hex4(%q) = %x, %v; ParseUint: %x, %v", in, got, ok, x, err)
					}
				}
			}
		}
	}
	if _, ok := Hex4([]byte("abc")); ok {
		t.Fatal("Hex4 of three bytes")
	}
}

// TestUnescaped checks Unescaped against encoding/json for the escape \c
// of every byte c.
func TestUnescaped(t *testing.T) {
	for c := range 256 {
		var want string
		err := json.Unmarshal([]byte{'"', '\\', byte(c), '"'}, &want)
		got, ok := Unescaped(byte(c))
		if ok != (err == nil) || ok && string(got) != want {
			t.Errorf("Unescaped(%q) = %q, %v; encoding/json: %q, %v", byte(c), got, ok, want, err)
		}
	}
}
