package store

import (
	"encoding/base64"
	"math"
	"math/bits"
)

// hll is a HyperLogLog sketch of 2^hllP one-byte registers: an
// approximate count of distinct strings (release health's users) in 256
// bytes, whatever their number, with a standard error of about 6.5 %.
// Sketches merge by taking each register's maximum, so days add up to
// weeks without counting a user twice.
type hll [1 << hllP]byte

const hllP = 8

// hash64 is FNV-1a, finished with splitmix64's mixer so that every bit
// depends on every input byte. It must never change: sketches on disk
// depend on it.
func hash64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// add counts s.
func (h *hll) add(s string) {
	x := hash64(s)
	i := x >> (64 - hllP)
	rank := byte(bits.LeadingZeros64(x<<hllP|1<<(hllP-1)) + 1)
	if rank > h[i] {
		h[i] = rank
	}
}

// merge folds o into h.
func (h *hll) merge(o *hll) {
	for i, r := range o {
		if r > h[i] {
			h[i] = r
		}
	}
}

// count returns the estimated number of distinct strings added.
func (h *hll) count() int64 {
	const m = float64(len(h))
	sum, zeros := 0.0, 0
	for _, r := range h {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	est := 0.7213 / (1 + 1.079/m) * m * m / sum
	if est <= 2.5*m && zeros > 0 {
		est = m * math.Log(m/float64(zeros)) // linear counting for small sets
	}
	return int64(math.Round(est))
}

func (h *hll) empty() bool { return *h == hll{} }

// encode returns h as text for a tree value ("" when empty).
func (h *hll) encode() string {
	if h.empty() {
		return ""
	}
	return base64.RawStdEncoding.EncodeToString(h[:])
}

// decodeHLL parses what encode returned; anything else reads as empty.
func decodeHLL(s string) hll {
	var h hll
	if s == "" {
		return h
	}
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h
	}
	copy(h[:], b)
	return h
}
