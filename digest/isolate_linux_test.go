package digest

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestStoreFailureQuarantinesNothing makes the store's writes fail for
// real: the process's file size limit (RLIMIT_FSIZE) is lowered below the
// size of store.db, so every commit gets EFBIG from the kernel, as on a
// full disk (this works as root too, unlike a read-only chmod). Digest
// must report the failure and set nothing aside, poison event included,
// and store everything once writes work again.
func TestStoreFailureQuarantinesNothing(t *testing.T) {
	r := newRig(t)
	withPoison(t)
	var good []string
	for i := range 6 {
		id, _ := r.spoolEvent(r.pid, "good")
		good = append(good, id)
		if i == 2 {
			r.spoolEvent(r.pid, poisonNormalize)
		}
	}
	fi, err := os.Stat(filepath.Join(r.db.Dir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Skip("no RLIMIT_FSIZE:", err)
	}
	limit := old
	limit.Cur = uint64(fi.Size())
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limit); err != nil {
		t.Skip("cannot lower RLIMIT_FSIZE:", err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
				t.Fatal(err)
			}
		}
	}
	defer restore()

	for range 3 {
		if _, err := r.w.Batch(); err == nil {
			t.Fatal("Batch succeeded while the store cannot write")
		} else {
			t.Logf("batch failed as it should: %v", err)
		}
	}
	restore()
	if es := r.quarantined(); len(es) != 0 {
		t.Fatalf("a store failure quarantined %d events: %+v", len(es), es)
	}
	if st := r.w.Stats(); st.Digested != 0 || st.Quarantined != 0 {
		t.Errorf("stats during the failure: %+v", st)
	}
	if err := r.w.Drain(); err != nil {
		t.Fatalf("Drain once writes work: %v", err)
	}
	for _, id := range good {
		if _, _, err := r.db.Event(mustID(r.t, id)); err != nil {
			t.Errorf("event %s: %v", id, err)
		}
	}
	if es := r.quarantined(); len(es) != 1 {
		t.Errorf("after recovery %d quarantined, want the poison event only", len(es))
	}
}
