package sketch

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestQuantilesWithinRelativeError(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var s Sketch
	var vals []float64
	for range 100000 {
		v := math.Exp(r.NormFloat64()*1.5 + 4) // log-normal, ~55 ms median
		vals = append(vals, v)
		s.Add(v)
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.95, 0.99} {
		want := vals[int(q*float64(len(vals)-1))]
		got := s.Quantile(q)
		if math.Abs(got-want)/want > RelativeError+0.001 {
			t.Errorf("q%.2f = %.3f, want %.3f ±2%%", q, got, want)
		}
	}
	if len(s.counts) > MaxBuckets {
		t.Errorf("%d buckets, want at most %d", len(s.counts), MaxBuckets)
	}
}

func TestMergeEqualsOneSketch(t *testing.T) {
	var a, b, all Sketch
	for i := 1; i <= 2000; i++ {
		v := float64(i) * 0.7
		all.Add(v)
		if i%2 == 0 {
			a.Add(v)
		} else {
			b.Add(v)
		}
	}
	a.Merge(&b)
	for _, q := range []float64{0, 0.5, 0.95, 0.99, 1} {
		if got, want := a.Quantile(q), all.Quantile(q); got != want {
			t.Errorf("merged q%.2f = %v, want %v", q, got, want)
		}
	}
}

func TestBucketsAreBounded(t *testing.T) {
	var s Sketch
	var vals []float64
	for v := 1e-2; v < 1e9; v *= 1.01 {
		s.Add(v)
		vals = append(vals, v)
	}
	if len(s.counts) > MaxBuckets {
		t.Fatalf("%d buckets, want at most %d", len(s.counts), MaxBuckets)
	}
	if got := s.Quantile(1); got != s.max {
		t.Errorf("q1 = %v, want max %v", got, s.max)
	}
	if got, want := s.Quantile(0.99), vals[int(0.99*float64(len(vals)-1))]; math.Abs(got-want)/want > RelativeError {
		t.Errorf("q0.99 = %v, want about %v", got, want)
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	var s Sketch
	for _, v := range []float64{0, 0.5, 3, 3, 150, 9000} {
		s.Add(v)
	}
	d, err := Decode(s.Encode(nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []float64{0, 0.3, 0.5, 0.9, 1} {
		if got, want := d.Quantile(q), s.Quantile(q); got != want {
			t.Errorf("q%.1f after round trip = %v, want %v", q, got, want)
		}
	}
	if d.Count() != 6 {
		t.Errorf("Count = %d, want 6", d.Count())
	}
	if _, err := Decode([]byte{1, 5}); err == nil {
		t.Error("Decode of a truncated sketch: no error")
	}
}

func FuzzDecode(f *testing.F) {
	var s Sketch
	s.Add(12)
	s.Add(400)
	f.Add(s.Encode(nil))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Decode(b)
		if err != nil {
			return
		}
		d.Quantile(0.5)
		d.Add(3)
		d.Add(1e300)
		if len(d.counts) > MaxBuckets {
			t.Fatalf("%d buckets after Add", len(d.counts))
		}
		var m Sketch
		m.Merge(d)
		if len(m.counts) > MaxBuckets {
			t.Fatalf("%d buckets after merge", len(m.counts))
		}
	})
}
