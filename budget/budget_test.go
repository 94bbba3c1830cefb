package budget

import (
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"24MiB", 24 << 20, false},
		{"16MB", 16 << 20, false},
		{"512k", 512 << 10, false},
		{"1g", 1 << 30, false},
		{"1.5KiB", 1536, false},
		{"1000", 1000, false},
		{"", 0, true},
		{"12 parsecs", 0, true},
		{"-1", 0, true},
	} {
		got, err := ParseSize(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, err %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestLazyBuildsOnceOnFirstUse(t *testing.T) {
	calls := 0
	get := Lazy("test-part", func() []byte { calls++; return make([]byte, 1<<20) })
	for _, p := range Parts() {
		if p.Name == "test-part" && p.Loaded {
			t.Fatal("part loaded before first use")
		}
	}
	a, b := get(), get()
	if calls != 1 || &a[0] != &b[0] {
		t.Fatalf("build ran %d times", calls)
	}
	var found bool
	for _, p := range Parts() {
		if p.Name == "test-part" {
			found = true
			if !p.Loaded || p.LoadedAt.IsZero() || p.HeapDelta <= 0 {
				t.Errorf("part = %+v", p)
			}
		}
	}
	if !found {
		t.Error("part not in registry")
	}
}

func TestLimiterReserve(t *testing.T) {
	l := NewLimiter(100 << 20)
	defer NewLimiter(0)
	base := uint64(10 << 20)
	l.Baseline = func() uint64 { return base }
	// room = 70 MiB - 10 MiB = 60 MiB.
	r1, ok, _ := l.Reserve(40 << 20)
	if !ok {
		t.Fatal("first request refused")
	}
	if _, ok, _ := l.Reserve(30 << 20); ok {
		t.Error("admitted 70 MiB in flight with 60 MiB of room")
	}
	r2, ok, _ := l.Reserve(20 << 20)
	if !ok {
		t.Fatal("refused 60 MiB in flight with 60 MiB of room")
	}
	if n, b := l.InFlight(); n != 2 || b != 60<<20 {
		t.Errorf("InFlight = %d, %d", n, b)
	}
	r1()
	r1() // a second call does nothing
	if n, b := l.InFlight(); n != 1 || b != 20<<20 {
		t.Errorf("InFlight after one release = %d, %d", n, b)
	}
	r2()

	// A baseline above the limit: one request at a time is always
	// admitted, and MinRoom (12.5 MiB) is left for requests in flight.
	base = 200 << 20
	r1, ok, _ = l.Reserve(50 << 20)
	if !ok {
		t.Fatal("a request with nothing in flight was refused")
	}
	if _, ok, retry := l.Reserve(12 << 20); ok || retry < time.Second {
		t.Errorf("Reserve beyond MinRoom = %v, %v", ok, retry)
	}
	r1()
	r1, _, _ = l.Reserve(4 << 20)
	r2, ok, _ = l.Reserve(4 << 20)
	if !ok {
		t.Error("refused 8 MiB in flight with MinRoom 12.5 MiB")
	}
	r1()
	r2()
	if _, ok, _ := (&Limiter{}).Reserve(1 << 40); !ok {
		t.Error("a Limiter without a limit refused")
	}
}

func TestReadProc(t *testing.T) {
	p := ReadProc()
	if p.RSS <= 0 || p.RSSAnon <= 0 || p.HWM < p.RSS {
		t.Errorf("ReadProc = %+v", p)
	}
}
