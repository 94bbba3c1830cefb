package disk

import (
	"errors"
	"testing"
	"time"

	"github.com/tinysink/tinysink/budget"
)

func TestParseMinFree(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in    string
		bytes int64
		frac  float64
		bad   bool
	}{
		{DefaultMinFree, 64 << 20, 0.01, false},
		{"0", 0, 0, false},
		{"1GiB", 1 << 30, 0, false},
		{"5%", 0, 0.05, false},
		{"5%, 10MiB, 2%", 10 << 20, 0.05, false},
		{"101%", 0, 0, true},
		{"lots", 0, 0, true},
	} {
		b, f, err := ParseMinFree(tt.in)
		if (err != nil) != tt.bad || b != tt.bytes || f != tt.frac {
			t.Errorf("ParseMinFree(%q) = %d, %v, %v", tt.in, b, f, err)
		}
	}
}

// fakeDisk is a file system whose free space a test sets.
type fakeDisk struct {
	avail, total int64
	err          error
	calls        int
}

func (d *fakeDisk) statfs(dir string) (Space, error) {
	d.calls++
	return Space{Avail: d.avail, Total: d.total}, d.err
}

// The guard refuses below the larger threshold, admits again as soon as
// space returns, and reads the file system at most once a second.
func TestDiskGuard(t *testing.T) {
	t.Parallel()
	disk := &fakeDisk{avail: 10 << 30, total: 100 << 30}
	now := time.Unix(1000, 0)
	g := &Guard{Dir: "/x", MinFree: 64 << 20, MinFreeFrac: 0.01, Statfs: disk.statfs, Now: func() time.Time { return now }}
	admit := func() (bool, error) {
		err := g.Admit(1)
		return err == nil, err
	}
	if ok, _ := admit(); !ok {
		t.Fatal("refused with 10 GiB free")
	}
	// 1% of 100 GiB is 1 GiB: 500 MiB free is full although above 64 MiB.
	disk.avail = 500 << 20
	if ok, _ := admit(); !ok {
		t.Error("the reading was not cached for a second")
	}
	now = now.Add(time.Second)
	if ok, err := admit(); ok || !errors.Is(err, ErrFull) {
		t.Errorf("Admit with 500 MiB of 100 GiB free = %v %v, want refused disk_full", ok, err)
	}
	if ae, ok := errors.AsType[*budget.AdmitError](g.Admit(1)); !ok || ae.RetryAfter != time.Minute {
		t.Errorf("refusal %v, want a retry after 1m", ae)
	}
	// A small disk: 64 MiB is the larger threshold.
	disk.avail, disk.total = 70<<20, 1<<30
	now = now.Add(time.Second)
	if ok, _ := admit(); !ok {
		t.Error("refused with 70 MiB free of 1 GiB")
	}
	disk.avail = 60 << 20
	now = now.Add(2 * time.Second)
	if ok, _ := admit(); ok {
		t.Error("admitted with 60 MiB free")
	}
	if low, sp, err := g.Low(); !low || sp.Avail != 60<<20 || err != nil {
		t.Errorf("Low = %v, %+v, %v", low, sp, err)
	}
	disk.avail = 2 << 30
	now = now.Add(time.Second)
	if ok, _ := admit(); !ok {
		t.Error("still refused after space returned")
	}
	// A file system that cannot be read does not stop ingest.
	disk.err = errors.New("statfs broke")
	now = now.Add(time.Second)
	if ok, _ := admit(); !ok {
		t.Error("refused on a statfs error")
	}
	if calls := disk.calls; calls != 6 {
		t.Errorf("statfs called %d times, want 6", calls)
	}
}
