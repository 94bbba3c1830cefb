// Package sketch is a fixed-size, mergeable quantile sketch for durations,
// in the manner of DDSketch: values fall into buckets whose bounds grow
// geometrically, so every quantile is within a relative error of the true
// one, and two sketches merge by adding their bucket counts. The number of
// buckets is bounded: when a sketch would hold more, its lowest buckets
// are folded into one, which keeps the high quantiles (p95, p99) exact to
// the error bound and costs only the accuracy of the lowest values.
package sketch

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
)

const (
	// RelativeError is the accuracy of every quantile not in a folded
	// bucket: the answer is within 2 % of a value of the right rank.
	RelativeError = 0.02
	// MaxBuckets bounds the buckets of one sketch (each ~2–4 bytes
	// encoded); at 2 % error 256 buckets span 0.1 ms to 80 min.
	MaxBuckets = 256
)

var (
	gamma    = (1 + RelativeError) / (1 - RelativeError)
	logGamma = math.Log(gamma)
)

// ErrCorrupt is returned by Decode for bytes that are not a sketch.
var ErrCorrupt = errors.New("sketch: corrupt encoding")

// Sketch counts values (milliseconds) in log-spaced buckets. The zero
// value is an empty sketch.
type Sketch struct {
	zero     uint64 // values ≤ minValue
	offset   int32  // bucket index of counts[0]
	counts   []uint64
	n        uint64
	min, max float64
}

// minValue is the smallest value with a bucket of its own (1 µs).
const minValue = 1e-3

func index(v float64) int32 { return int32(math.Ceil(math.Log(v) / logGamma)) }

// value is the representative of bucket i: the midpoint, in relative
// terms, of its bounds.
func value(i int32) float64 { return 2 * math.Pow(gamma, float64(i)) / (1 + gamma) }

// Add counts v.
func (s *Sketch) Add(v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	if s.n == 0 || v < s.min {
		s.min = v
	}
	if s.n == 0 || v > s.max {
		s.max = v
	}
	s.n++
	if v <= minValue {
		s.zero++
		return
	}
	s.addAt(index(v), 1)
}

func (s *Sketch) addAt(i int32, c uint64) {
	if len(s.counts) == 0 {
		s.offset = i
		s.counts = append(s.counts, c)
		return
	}
	top := s.offset + int32(len(s.counts)) - 1
	switch {
	case i < s.offset && int64(top)-int64(i) >= MaxBuckets:
		// Below the lowest bucket kept: it would be folded into it.
		s.counts[0] += c
		return
	case i > top && int64(i)-int64(s.offset) >= MaxBuckets:
		// Far above: fold what would fall out of the window first, so the
		// slice never grows past MaxBuckets.
		lo := i - MaxBuckets + 1
		var low uint64
		for j, n := range s.counts {
			if s.offset+int32(j) <= lo {
				low += n
			}
		}
		var kept []uint64
		if top > lo {
			kept = s.counts[lo-s.offset+1:]
		}
		s.counts = append(append(make([]uint64, 0, MaxBuckets), low), kept...)
		s.offset = lo
	}
	switch {
	case i < s.offset:
		grow := int(s.offset - i)
		s.counts = append(make([]uint64, grow, grow+len(s.counts)), s.counts...)
		s.offset = i
	case int(i-s.offset) >= len(s.counts):
		s.counts = append(s.counts, make([]uint64, int(i-s.offset)-len(s.counts)+1)...)
	}
	s.counts[i-s.offset] += c
	s.fold()
}

// fold merges the lowest buckets while there are more than MaxBuckets.
func (s *Sketch) fold() {
	if extra := len(s.counts) - MaxBuckets; extra > 0 {
		var sum uint64
		for _, c := range s.counts[:extra+1] {
			sum += c
		}
		s.counts = slices.Delete(s.counts, 0, extra)
		s.counts[0] = sum
		s.offset += int32(extra)
	}
}

// Count returns the number of values added.
func (s *Sketch) Count() uint64 { return s.n }

// Merge adds the counts of o to s.
func (s *Sketch) Merge(o *Sketch) {
	if o.n == 0 {
		return
	}
	if s.n == 0 || o.min < s.min {
		s.min = o.min
	}
	if s.n == 0 || o.max > s.max {
		s.max = o.max
	}
	s.n += o.n
	s.zero += o.zero
	for j, c := range o.counts {
		if c != 0 {
			s.addAt(o.offset+int32(j), c)
		}
	}
}

// Quantile returns the value at quantile q (0 ≤ q ≤ 1), or 0 for an
// empty sketch.
func (s *Sketch) Quantile(q float64) float64 {
	if s.n == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	if q == 1 {
		return s.max
	}
	rank := uint64(q * float64(s.n-1))
	if rank < s.zero {
		return max(s.min, 0)
	}
	seen := s.zero
	for j, c := range s.counts {
		seen += c
		if seen > rank {
			return min(max(value(s.offset+int32(j)), s.min), s.max)
		}
	}
	return s.max
}

// Encode appends the sketch's compact binary form to dst.
func (s *Sketch) Encode(dst []byte) []byte {
	dst = append(dst, 1) // version
	dst = binary.AppendUvarint(dst, s.n)
	dst = binary.AppendUvarint(dst, s.zero)
	dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(s.min))
	dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(s.max))
	dst = binary.AppendVarint(dst, int64(s.offset))
	dst = binary.AppendUvarint(dst, uint64(len(s.counts)))
	for _, c := range s.counts {
		dst = binary.AppendUvarint(dst, c)
	}
	return dst
}

// Decode reads a sketch written by Encode.
func Decode(b []byte) (*Sketch, error) {
	s := &Sketch{}
	if len(b) == 0 || b[0] != 1 {
		return nil, ErrCorrupt
	}
	b = b[1:]
	uv := func() uint64 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			b = nil
			return 0
		}
		b = b[n:]
		return v
	}
	s.n, s.zero = uv(), uv()
	if len(b) < 16 {
		return nil, ErrCorrupt
	}
	s.min = math.Float64frombits(binary.LittleEndian.Uint64(b))
	s.max = math.Float64frombits(binary.LittleEndian.Uint64(b[8:]))
	b = b[16:]
	off, n := binary.Varint(b)
	if n <= 0 || off < math.MinInt32 || off > math.MaxInt32 {
		return nil, ErrCorrupt
	}
	b = b[n:]
	s.offset = int32(off)
	nb := uv()
	if b == nil || nb > MaxBuckets || nb > uint64(len(b)) {
		return nil, ErrCorrupt
	}
	s.counts = make([]uint64, nb)
	for i := range s.counts {
		s.counts[i] = uv()
		if b == nil {
			return nil, ErrCorrupt
		}
	}
	return s, nil
}
