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

func TestLimiterAdmit(t *testing.T) {
	l := NewLimiter(100 << 20)
	defer NewLimiter(0)
	live := uint64(10 << 20)
	l.LiveHeap = func() uint64 { return live }
	if ok, _, _ := l.Admit(1); !ok {
		t.Error("refused at 10% of the limit")
	}
	live = 90 << 20
	ok, retry, reason := l.Admit(1)
	if ok || retry < time.Second || reason != "memory" {
		t.Errorf("Admit at 90%% = %v, %v, %q", ok, retry, reason)
	}
	if ok, _, _ := (&Limiter{}).Admit(1); !ok {
		t.Error("a Limiter without a limit refused")
	}
}

func TestReadProc(t *testing.T) {
	p := ReadProc()
	if p.RSS <= 0 || p.RSSAnon <= 0 || p.HWM < p.RSS {
		t.Errorf("ReadProc = %+v", p)
	}
}
