package spool

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/tinysink/tinysink/budget"
	"github.com/tinysink/tinysink/store/disk"
)

// A spool opened on a full disk still opens: it keeps what earlier
// processes spooled readable, refuses through Admit, and starts a segment
// by itself once the disk takes writes again.
func TestOpenOnFullDiskRecovers(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{NoSync: true})
	if err := s.Append(testRecord(1, 100)); err != nil {
		t.Fatal(err)
	}
	s.Close()

	full := func() error { return syscall.ENOSPC }
	testHookCreate.Store(&full)
	t.Cleanup(func() { testHookCreate.Store(nil) })
	s, err := Open(dir, Options{NoSync: true, RetryEvery: 5 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open on a full disk: %v", err)
	}
	defer s.Close()
	if err := s.Unavailable(); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Unavailable = %v, want ENOSPC", err)
	}
	if ae, ok := errors.AsType[*budget.AdmitError](s.Admit(1)); !ok || !errors.Is(ae, disk.ErrFull) || ae.RetryAfter <= 0 {
		t.Errorf("Admit = %v; want a disk_full refusal", ae)
	}
	if got, _ := readAll(t, s, Pos{}, 10); len(got) != 1 {
		t.Errorf("read %d records spooled before, want 1", len(got))
	}
	if err := s.Append(testRecord(2, 100)); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Append on a full disk = %v, want ENOSPC", err)
	}

	testHookCreate.Store(nil)
	deadline := time.Now().Add(30 * time.Second)
	for s.Unavailable() != nil {
		if time.Now().After(deadline) {
			t.Fatal("the spool did not start a segment after space returned")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.Admit(1); err != nil {
		t.Error("Admit refuses after recovery")
	}
	if err := s.Append(testRecord(3, 100)); err != nil {
		t.Fatalf("Append after recovery: %v", err)
	}
	if got, _ := readAll(t, s, Pos{}, 10); len(got) != 2 {
		t.Errorf("read %d records, want 2", len(got))
	}
}

// A segment that cannot be started in the middle of a run (rotation on a
// full disk) leaves the spool without one, and it recovers the same way.
func TestRotateOnFullDiskRecovers(t *testing.T) {
	s := mustOpen(t, t.TempDir(), Options{NoSync: true, SegmentSize: 256, RetryEvery: 5 * time.Millisecond})
	defer s.Close()
	if err := s.Append(testRecord(1, 300)); err != nil {
		t.Fatal(err)
	}
	full := func() error { return syscall.ENOSPC }
	testHookCreate.Store(&full)
	t.Cleanup(func() { testHookCreate.Store(nil) })
	if err := s.Append(testRecord(2, 300)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Append needing a new segment on a full disk = %v, want ENOSPC", err)
	}
	if err := s.Admit(1); !errors.Is(err, disk.ErrFull) {
		t.Errorf("Admit = %v, want a disk_full refusal", err)
	}
	testHookCreate.Store(nil)
	deadline := time.Now().Add(30 * time.Second)
	for s.Unavailable() != nil {
		if time.Now().After(deadline) {
			t.Fatal("the spool did not start a segment after space returned")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.Append(testRecord(3, 300)); err != nil {
		t.Fatalf("Append after recovery: %v", err)
	}
	if got, _ := readAll(t, s, Pos{}, 10); len(got) != 2 {
		t.Errorf("read %d records, want 2", len(got))
	}
}
