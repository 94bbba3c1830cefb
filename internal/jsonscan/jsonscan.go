// Package jsonscan finds the bytes inside a JSON string that end a run of
// plain characters, eight bytes at a time. Ingest's validator and the
// scrubber scan every string of every event, and most strings hold long
// runs that need nothing done. It also reads escapes (Unescaped, Hex4)
// for the parsers, validators and unescapers of JSON text.
package jsonscan

import (
	"encoding/binary"
	"math/bits"
)

const (
	ones   = 0x0101010101010101
	highs  = 0x8080808080808080 // each byte's top bit
	flip   = 0x02 * ones        // takes '"' (0x22) to 0x20, control bytes to control bytes
	bslash = '\\' * ones
	below  = 0x21 * ones
)

// special reports, as a non-zero value, whether the word x holds a quote,
// a backslash or a byte below 0x20. Each term is the classic test for a
// zero byte (or a byte below n): exact as a whole, even though the bit
// positions past the first match may be wrong. Flipping bit 1 of each
// byte maps exactly the quote and the control bytes below 0x21, so one
// test finds both.
func special(x uint64) uint64 {
	q := x ^ flip
	b := x ^ bslash
	return ((q-below)&^q | (b-ones)&^b) & highs
}

// WordSpecial is special for the little-endian word x: non-zero when x
// holds a quote, a backslash or a control byte, with its lowest set bit in
// the first such byte's lane. For scanners that read words themselves.
func WordSpecial(x uint64) uint64 { return special(x) }

// WordSpecialOrHigh is special for the little-endian word x that also
// flags bytes of 0x80 and above: non-zero when x holds a quote, a
// backslash, a control byte or a high byte, with its lowest set bit in the
// first such byte's lane. For scanners that read words themselves (see
// internal/jtree).
func WordSpecialOrHigh(x uint64) uint64 {
	// special(x) | x&highs with the two masks by highs folded into one:
	// an instruction less a word, in the digest's hottest loop.
	q := x ^ flip
	b := x ^ bslash
	return ((q-below)&^q | (b-ones)&^b | x) & highs
}

// Special returns the index of the first byte of b at or after i that is
// '"', '\\' or a control character (below 0x20), or len(b) if none is.
// Bytes of 0x80 and above are plain.
func Special(b []byte, i int) int {
	return scan(b, i, 0)
}

// SpecialOrHigh is Special that also stops at bytes of 0x80 and above (the
// start or rest of a multi-byte UTF-8 sequence), for writers that check
// the encoding as they copy.
func SpecialOrHigh(b []byte, i int) int {
	return scan(b, i, highs)
}

// scan returns the index of the first byte at or after i that special
// flags or that has a bit of high set, or len(b). A word's lowest flagged
// byte is the first such byte (no borrow reaches a lane from below a
// flagged one), so a match's index is read from its bit position. The
// last fewer than eight bytes of a run at least eight long are read as
// the run's last word shifted down past the bytes before i: the zero
// bytes shifted in on top flag len(b). Most strings end with such a tail,
// which a byte loop took as long to read as the rest.
func scan(b []byte, i int, high uint64) int {
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		if m := special(x) | x&high; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	if i >= len(b) {
		return len(b)
	}
	if last := len(b) - 8; last >= 0 {
		x := binary.LittleEndian.Uint64(b[last:]) >> (8 * (i - last))
		return i + bits.TrailingZeros64(special(x)|x&high)>>3
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 || c&byte(high) != 0 {
			return i
		}
	}
	return len(b)
}

// Hex4 parses the four hex digits at the start of b (a \u escape's), as
// strconv.ParseUint(b[:4], 16, 16) does (digits only: no sign, prefix or
// underscore), without making a string of them.
func Hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var x rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		x = x<<4 | rune(c)
	}
	return x, true
}

// Unescaped returns the byte that the one-letter escape \c stands for
// (\" \\ \/ \b \f \n \r \t), and false for any other c (\u included).
func Unescaped(c byte) (byte, bool) {
	b := unescaped[c]
	return b, b != 0
}

var unescaped = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}
