package store

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRotationWriteFailure starts a new segment in a batch whose write
// fails for real: the process's file size limit (RLIMIT_FSIZE, as in the
// digest's poison tests) is lowered below the batch's bodies, so the
// kernel answers EFBIG as on a full disk. The new segment file must be
// closed and removed, nothing counted, and the next batch, with writes
// working again, must start the segment afresh and keep every event.
func TestRotationWriteFailure(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc/self/fd to look for open files:", err)
	}
	defer func(old uint32) { segmentMax = old }(segmentMax)
	segmentMax = 16 << 10

	dir := t.TempDir()
	db := openTest(t, dir)
	p, err := db.CreateProject("app")
	if err != nil {
		t.Fatal(err)
	}
	// Past segmentMax in seg-0: the next batch starts seg-1.
	before := addBigEvents(t, db, p.ID, 0, 5, 4<<10)
	seg1 := filepath.Join(dir, "events", fmt.Sprint(p.ID), "seg-1")
	if _, err := os.Stat(seg1); !os.IsNotExist(err) {
		t.Fatalf("seg-1 exists before the rotation: %v", err)
	}
	pr, _ := db.Project(p.ID)

	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Skip("no RLIMIT_FSIZE:", err)
	}
	limit := old
	limit.Cur = 1 << 10
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limit); err != nil {
		t.Skip("cannot lower RLIMIT_FSIZE:", err)
	}
	body := make([]byte, 8<<10)
	rand.Read(body)
	err = db.Digest(func(tx *Tx) error {
		p, err := tx.Project(p.ID)
		if err != nil {
			return err
		}
		iss, err := tx.IssueForGrouping(p.ID, "big")
		if err != nil {
			return err
		}
		iss.DigestedEventCount++
		return tx.AddEvent(p, iss, &NewEvent{EventID: eventID(100), Ingested: time.Unix(100, 0), Compressed: CompressBody(body)})
	})
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("the batch past the size limit = %v, want EFBIG", err)
	}
	if _, err := os.Stat(seg1); !os.IsNotExist(err) {
		t.Errorf("seg-1 left behind after the failed write: %v", err)
	}
	if fds := openFilesNamed(t, seg1); len(fds) > 0 {
		t.Errorf("seg-1 still open after the failed write: %v", fds)
	}
	if now, _ := db.Project(p.ID); now.LogLen != pr.LogLen || now.Seg != pr.Seg || now.SegOff != pr.SegOff {
		t.Errorf("the failed batch was counted: %+v, before %+v", now, pr)
	}
	if _, _, err := db.ProjectEvent(p.ID, eventID(100)); !errors.Is(err, ErrNotFound) {
		t.Errorf("the failed batch's event: %v, want ErrNotFound", err)
	}

	// Writes work again: the batch is retried and starts seg-1.
	after := addBigEvents(t, db, p.ID, 100, 2, 4<<10)
	if _, err := os.Stat(seg1); err != nil {
		t.Errorf("the retried batch did not start seg-1: %v", err)
	}
	for id, want := range mergeBodies(before, after) {
		_, got, err := db.ProjectEvent(p.ID, id)
		if err != nil || string(got) != string(want) {
			t.Errorf("event %s after the failure: %v (%d bytes, want %d)", id, err, len(got), len(want))
		}
	}
}

func mergeBodies(ms ...map[[16]byte][]byte) map[[16]byte][]byte {
	out := map[[16]byte][]byte{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// openFilesNamed lists this process's file descriptors open on path
// (deleted or not).
func openFilesNamed(t *testing.T, path string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && strings.TrimSuffix(target, " (deleted)") == path {
			out = append(out, e.Name()+" -> "+target)
		}
	}
	return out
}
