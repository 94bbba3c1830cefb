// Package jsonscan finds the bytes inside a JSON string that end a run of
// plain characters, eight bytes at a time. Ingest's validator and the
// scrubber scan every string of every event, and most strings hold long
// runs that need nothing done.
package jsonscan

import "encoding/binary"

const (
	ones   = 0x0101010101010101
	highs  = 0x8080808080808080 // each byte's top bit
	quote  = '"' * ones
	bslash = '\\' * ones
	space  = ' ' * ones
)

// special reports, as a non-zero value, whether the word x holds a quote,
// a backslash or a byte below 0x20. Each term is the classic test for a
// zero byte (or a byte below n): exact as a whole, even though the bit
// positions past the first match may be wrong.
func special(x uint64) uint64 {
	q := x ^ quote
	b := x ^ bslash
	return ((q-ones)&^q | (b-ones)&^b | (x-space)&^x) & highs
}

// Special returns the index of the first byte of b at or after i that is
// '"', '\\' or a control character (below 0x20), or len(b) if none is.
// Bytes of 0x80 and above are plain.
func Special(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		if special(binary.LittleEndian.Uint64(b[i:])) != 0 {
			break
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 {
			return i
		}
	}
	return i
}

// SpecialOrHigh is Special that also stops at bytes of 0x80 and above (the
// start or rest of a multi-byte UTF-8 sequence), for writers that check
// the encoding as they copy.
func SpecialOrHigh(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		if special(x)|x&highs != 0 {
			break
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
			return i
		}
	}
	return i
}
