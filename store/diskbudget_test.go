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
