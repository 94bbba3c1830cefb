package rawevent

import (
	"crypto/rand"
	"encoding/hex"
)

// The one rule for event ids, which ingest (envelope and payload ids),
// digest (the normal form) and the UI and API (lookups) all follow.

// ParseID parses an event id: 32 hex digits in any case, or a UUID in its
// dashed 8-4-4-4-12 form. The nil UUID is not an id: sentry-cli sends it
// for every --raw event, which would make them all one event.
func ParseID[T ~string | ~[]byte](s T) (id [16]byte, ok bool) {
	switch len(s) {
	case 32:
	case 36:
		if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
			return id, false
		}
	default:
		return id, false
	}
	n, zero := 0, true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '-' && len(s) == 36 && (i == 8 || i == 13 || i == 18 || i == 23) {
			continue
		}
		v, ok := hexValue(c)
		if !ok {
			return id, false
		}
		id[n/2] |= v << (4 * (1 - n%2))
		zero = zero && v == 0
		n++
	}
	return id, !zero
}

func hexValue(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// NormalizeID returns the id s as 32 lowercase hex digits, or "" when
// ParseID refuses it.
func NormalizeID[T ~string | ~[]byte](s T) string {
	id, ok := ParseID(s)
	if !ok {
		return ""
	}
	return hex.EncodeToString(id[:])
}

// NewID returns a random (version 4) UUID as 32 lowercase hex digits.
func NewID() string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails (Go 1.24+)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return hex.EncodeToString(u[:])
}
