package store

import (
	"bytes"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// syncAll runs every sync once, at most maxSyncs at a time, and joins
// their errors.
func TestSyncAll(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 2, maxSyncs, 3 * maxSyncs} {
		var ran, running, most atomic.Int32
		boom := errors.New("boom")
		syncs := make([]func() error, n)
		for i := range syncs {
			syncs[i] = func() error {
				r := running.Add(1)
				for m := most.Load(); r > m && !most.CompareAndSwap(m, r); m = most.Load() {
				}
				time.Sleep(time.Millisecond)
				running.Add(-1)
				ran.Add(1)
				if i == n-1 {
					return boom
				}
				return nil
			}
		}
		err := syncAll(syncs)
		if int(ran.Load()) != n || !errors.Is(err, boom) {
			t.Errorf("n=%d: ran %d, err %v", n, ran.Load(), err)
		}
		if m := most.Load(); m > maxSyncs {
			t.Errorf("n=%d: %d syncs at once, want at most %d", n, m, maxSyncs)
		}
	}
}

// BenchmarkDigestCommit measures a small digest batch (50 events of a few
// issues, with tags) from start to durable commit, on the disk of the
// test's temporary directory: mostly the batch's fsyncs.
func BenchmarkDigestCommit(b *testing.B) {
	db, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	p, _ := db.CreateProject("p")
	body := bytes.Repeat([]byte("x"), 3500)
	next := 0
	for b.Loop() {
		digestBatch(b, db, p.ID, next, 50, 7, body, true)
		next += 50
	}
}

// digestBatch digests events from to from+n-1 of project pid in one
// batch: event i joins issue "issue-<i%issues>" (created when new) with
// the compressed body, and, when tagged, counts a server_name tag.
func digestBatch(tb testing.TB, db *DB, pid, from, n, issues int, body []byte, tagged bool) {
	tb.Helper()
	err := db.Digest(func(tx *Tx) error {
		pr, _ := tx.Project(pid)
		for i := from; i < from+n; i++ {
			hash := fmt.Sprintf("issue-%d", i%issues)
			iss, err := tx.IssueForGrouping(pid, hash)
			if err == ErrNotFound {
				iss = &Issue{}
				if err := tx.CreateIssue(pr, iss, hash, hash, "test"); err != nil {
					return err
				}
			}
			iss.DigestedEventCount++
			if err := tx.AddEvent(pr, iss, &NewEvent{EventID: eventID(i), Compressed: body}); err != nil {
				return err
			}
			if !tagged {
				continue
			}
			if err := tx.CountTag(iss, "server_name", fmt.Sprintf("host%d", i%3)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// TestWidenTreeCache checks that the tree caches a batch's pages beyond
// its idle bound while the digest works, and that ReleaseBuffers gives
// them back.
func TestWidenTreeCache(t *testing.T) {
	db := openTest(t, t.TempDir())
	p, err := db.CreateProject("p")
	if err != nil {
		t.Fatal(err)
	}
	idle := treeCache / 4096
	body := CompressBody([]byte(`{"message":"x"}`))
	digestBatch(t, db, p.ID, 0, 400, 400, body, true)
	if n := db.tree.Stats().CachedPages; n > idle {
		t.Fatalf("cached %d pages before widening, want at most %d", n, idle)
	}
	db.WidenTreeCache()
	digestBatch(t, db, p.ID, 400, 400, 400, body, true)
	if n := db.tree.Stats().CachedPages; n <= idle || n > batchTreeCache/4096 {
		t.Fatalf("cached %d pages while widened, want more than %d and at most %d", n, idle, batchTreeCache/4096)
	}
	db.ReleaseBuffers()
	if n := db.tree.Stats().CachedPages; n > idle {
		t.Fatalf("cached %d pages after ReleaseBuffers, want at most %d", n, idle)
	}
}
