package store

import (
	"errors"
	"testing"
	"time"
)

// With a budget below what is stored, the least relevant events go until
// the data directory fits; a budget the metadata alone exceeds evicts
// nothing.
func TestEnforceMaxDisk(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir())
	db.Now = func() time.Time { return time.Unix(1_000_000, 0) }
	p, _ := db.CreateProject("app")
	q, _ := db.CreateProject("small")
	for i := range 8 {
		addBigEvents(t, db, p.ID, i*25, 25, 64<<10) // 12.5 MiB
	}
	addEvents(t, db, q.ID, "a", 10_000, 20)
	u, err := db.DataUsage()
	if err != nil {
		t.Fatal(err)
	}
	if n, err := db.EnforceMaxDisk(u.Total() + 1); n != 0 || err != nil {
		t.Fatalf("EnforceMaxDisk above usage = %d, %v", n, err)
	}
	max := u.Total() - 4<<20
	n, err := db.EnforceMaxDisk(max)
	if err != nil {
		t.Fatalf("EnforceMaxDisk: %v", err)
	}
	after, _ := db.DataUsage()
	pr, _ := db.Project(p.ID)
	qr, _ := db.Project(q.ID)
	if after.Total() > max || n < 4*16 || pr.StoredEventCount != 200-int64(n) || qr.StoredEventCount != 20 {
		t.Errorf("evicted %d: usage %d of %d allowed; stored %d and %d", n, after.Total(), max, pr.StoredEventCount, qr.StoredEventCount)
	}
	// It took about what was needed, not everything.
	if n > 4*16*2 {
		t.Errorf("evicted %d events of 64 KiB to free 4 MiB", n)
	}

	half := after.Events / 2
	if n, err := db.EnforceMaxDisk(half); n == 0 || err != nil {
		t.Errorf("budget of half the events = %d, %v", n, err)
	}
	left, _ := db.DataUsage()
	if left.Total() > half {
		t.Errorf("usage %d over the budget %d", left.Total(), half)
	}
	if n, err := db.EnforceMaxDisk(left.Store / 2); n != 0 || !errors.Is(err, ErrOverBudget) {
		t.Errorf("budget under the metadata alone = %d, %v; want 0, ErrOverBudget", n, err)
	}
}

// Over the budget by less than the space its holes could not give back, a
// project is compacted, and no event is evicted.
func TestEnforceMaxDiskCompactsFirst(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir())
	p, _ := db.CreateProject("p")
	interleaved(t, db, p.ID, 3000, 400) // 1,500 small bodies die between live ones
	if pr, _ := db.Project(p.ID); pr.LogLen != 3000 {
		t.Fatalf("compacted before the test: log of %d records", pr.LogLen)
	}
	u, err := db.DataUsage()
	if err != nil {
		t.Fatal(err)
	}
	used, live := segmentUse(t, db, p.ID)
	if used-live < 256<<10 {
		t.Skipf("the file system gave back the space: %d bytes on disk for %d live", used, live)
	}
	max := u.Store + u.Events - (used-live)/2
	n, err := db.EnforceMaxDisk(max)
	if err != nil || n != 0 {
		t.Fatalf("EnforceMaxDisk = %d, %v; want 0 evicted", n, err)
	}
	pr, _ := db.Project(p.ID)
	if pr.LogLen != 1500 || pr.StoredEventCount != 1500 {
		t.Errorf("not compacted: log of %d records, %d stored", pr.LogLen, pr.StoredEventCount)
	}
	if after, _ := db.DataUsage(); after.Store+after.Events > max {
		t.Errorf("usage %d over the budget %d", after.Store+after.Events, max)
	}
}
