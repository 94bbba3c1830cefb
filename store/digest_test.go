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

// TestDigestReusesBatchBuffers checks that a digest batch reuses, emptied,
// what the last one kept (batchScratch: a project's list of bodies, records,
// their hints, ids and encoding, and the tag counts), that nothing of the last batch
// shows through them, and that ReleaseBuffers drops them.
func TestDigestReusesBatchBuffers(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir())
	a, _ := db.CreateProject("a")
	b, _ := db.CreateProject("b")
	addEvents(t, db, a.ID, "a", 0, 300)
	db.digestMu.Lock()
	kept := db.batch
	db.digestMu.Unlock()
	if cap(kept.parts) < 300 || len(kept.parts) != 0 || cap(kept.recs) < 300 || len(kept.recs) != 0 || cap(kept.hints) < 300 || len(kept.hints) != 0 ||
		cap(kept.recBuf) < 300*recSize || len(kept.recBuf) != 0 || kept.ids == nil || len(kept.ids) != 0 ||
		cap(kept.tags) == 0 || len(kept.tags) != 0 || kept.tagsIdx == nil || len(kept.tagsIdx) != 0 {
		t.Fatalf("after a 300-event batch DB.batch is parts %d/%d, recs %d/%d, hints %d/%d, recBuf %d/%d, ids %v (%d), tags %d/%d, tagsIdx %v (%d)",
			len(kept.parts), cap(kept.parts), len(kept.recs), cap(kept.recs), len(kept.hints), cap(kept.hints), len(kept.recBuf), cap(kept.recBuf),
			kept.ids != nil, len(kept.ids), len(kept.tags), cap(kept.tags), kept.tagsIdx != nil, len(kept.tagsIdx))
	}
	for _, p := range kept.parts[:cap(kept.parts)] {
		if p != nil {
			t.Fatal("a kept part still points at a body")
		}
	}
	for _, h := range kept.hints[:cap(kept.hints)] {
		if h.x != nil {
			t.Fatal("a kept hint still points at an id index")
		}
	}
	for _, c := range kept.tags[:cap(kept.tags)] {
		if c.key != "" || c.value != "" {
			t.Fatal("a kept tag count still holds its strings")
		}
	}

	// b's batch takes them. Its events have the ids of a's: none is
	// pending in b, so all are stored, and its tag counts start from none.
	addEvents(t, db, b.ID, "b", 0, 200)
	db.digestMu.Lock()
	same := &db.batch.parts[:1][0] == &kept.parts[:1][0] && &db.batch.recs[:1][0] == &kept.recs[:1][0] && &db.batch.hints[:1][0] == &kept.hints[:1][0] &&
		&db.batch.recBuf[:1][0] == &kept.recBuf[:1][0] && &db.batch.tags[:1][0] == &kept.tags[:1][0]
	db.digestMu.Unlock()
	if !same {
		t.Error("b's batch did not reuse the kept arrays")
	}
	// a's again: the 50 events it already stores are found, 50 are new.
	addEvents(t, db, a.ID, "a", 250, 100)

	for _, c := range []struct {
		ref    string
		stored int64
		hosts  [3]int64
	}{
		{"A-1", 350, [3]int64{117, 117, 116}},
		{"B-1", 200, [3]int64{67, 67, 66}},
	} {
		iss, err := db.IssueByRef(c.ref)
		if err != nil {
			t.Fatal(err)
		}
		if iss.StoredEventCount != c.stored {
			t.Errorf("%s stores %d events, want %d", c.ref, iss.StoredEventCount, c.stored)
		}
		if ids := chainIDs(t, db, iss); int64(len(ids)) != c.stored {
			t.Errorf("%s's chain has %d events, want %d", c.ref, len(ids), c.stored)
		}
		got := tagCounts(t, db, iss.ID)
		for h, n := range c.hosts {
			if k := fmt.Sprintf("server_name=host%d", h); got[k] != n {
				t.Errorf("%s counts %s %d times, want %d (all: %v)", c.ref, k, got[k], n, got)
			}
		}
	}
	for i := range 350 {
		if _, _, err := db.Event(eventID(i)); err != nil {
			t.Errorf("event %d: %v", i, err)
			break
		}
	}

	db.ReleaseBuffers()
	db.digestMu.Lock()
	defer db.digestMu.Unlock()
	if db.batch.parts != nil || db.batch.recs != nil || db.batch.hints != nil || db.batch.recBuf != nil || db.batch.ids != nil || db.batch.tags != nil || db.batch.tagsIdx != nil {
		t.Error("ReleaseBuffers kept batch buffers")
	}
}
