package digest

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/tinysink/tinysink/ingest/spool"
	"github.com/tinysink/tinysink/store"
)

// TestNormalisersAgree digests the same spool with one goroutine parsing
// and scrubbing a batch's events and with two (prepare): the same events
// are stored, with the same bodies, in the same issues, and the same ones
// are set aside, whatever mix of ordinary, large, secret-bearing, invalid
// and poison events the batches hold.
func TestNormalisersAgree(t *testing.T) {
	type outcome struct {
		stored map[string]string // event id → issue value and body
		aside  []string
	}
	run := func(k int) outcome {
		r := newRig(t)
		withPoison(t)
		r.w.normWorkers = k
		r.w.parallelAbove = -1 // every batch, however small the backlog
		p2, err := r.db.CreateProject("other")
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for i := range 450 {
			pid := []int{r.pid, p2.ID}[i%3/2]
			id := fmt.Sprintf("%032x", i+1)
			var ev string
			switch {
			case i%97 == 13:
				ev = `[1,2,3]` // not an object: invalid
			case i%101 == 50:
				ev = fmt.Sprintf(`{"exception":{"values":[{"type":"Err","value":%q}]}}`, poisonNormalize)
			case i%61 == 7:
				// larger than a pooled buffer: one at a time
				ev = fmt.Sprintf(`{"message":"big %d","extra":{"blob":%q}}`, i%3, strings.Repeat("0123456789abcdef", 6000))
			case i%5 == 1:
				ev = fmt.Sprintf(`{"exception":{"values":[{"type":"Err","value":"v%d"}]},"extra":{"password":"hunter%d","card":"4111 1111 1111 1111"}}`, i%7, i)
			default:
				ev = fmt.Sprintf(`{"exception":{"values":[{"type":"T%d","value":"value %d"}]},"tags":{"n":"%d"}}`, i%11, i%13, i)
			}
			if err := r.sp.Append(&spool.Record{Project: pid, EventID: id, IngestedAt: r.now, Payload: []byte(ev)}); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		if err := r.w.Drain(); err != nil {
			t.Fatal(err)
		}
		if k > 1 && len(r.w.extraNorms) != k-1 {
			t.Fatalf("%d normalisers asked for, %d extra made", k, len(r.w.extraNorms))
		}
		o := outcome{stored: map[string]string{}}
		for _, id := range ids {
			e, body, err := r.db.Event(mustID(t, id))
			if err == store.ErrNotFound {
				continue
			} else if err != nil {
				t.Fatal(err)
			}
			iss, err := r.db.Issue(e.IssueID)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(body, []byte("hunter")) || bytes.Contains(body, []byte("4111 1111")) {
				t.Errorf("event %s stored a secret: %s", id, body)
			}
			o.stored[id] = fmt.Sprintf("%d %s %s\n%s", iss.ProjectID, iss.CalculatedType, iss.CalculatedValue, body)
		}
		for _, q := range r.quarantined() {
			o.aside = append(o.aside, q.EventID)
		}
		return o
	}
	one, two := run(1), run(2)
	if len(one.stored) < 400 || len(one.aside) < 2 {
		t.Fatalf("one normaliser: %d stored, %d set aside", len(one.stored), len(one.aside))
	}
	if len(one.stored) != len(two.stored) {
		t.Errorf("stored %d events with one normaliser, %d with two", len(one.stored), len(two.stored))
	}
	for id, a := range one.stored {
		if b := two.stored[id]; a != b {
			t.Errorf("event %s:\none: %.300s\ntwo: %.300s", id, a, b)
		}
	}
	if fmt.Sprint(one.aside) != fmt.Sprint(two.aside) {
		t.Errorf("set aside: one %v, two %v", one.aside, two.aside)
	}
}

// TestParallelOnlyWhenBehind checks that a batch is prepared by several
// goroutines only when the spool holds more than parallelAbove bytes not
// yet digested: a trickle is digested on the worker's own goroutine.
func TestParallelOnlyWhenBehind(t *testing.T) {
	r := newRig(t)
	r.w.normWorkers = 2
	r.w.parallelAbove = 16 << 10
	appendEvents := func(from, n int) {
		for i := from; i < from+n; i++ {
			ev := fmt.Sprintf(`{"exception":{"values":[{"type":"T%d","value":"value %d"}]},"extra":{"pad":%q}}`, i%5, i, strings.Repeat("x", 400))
			if err := r.sp.Append(&spool.Record{Project: r.pid, EventID: fmt.Sprintf("%032x", i+1), IngestedAt: r.now, Payload: []byte(ev)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendEvents(0, 20) // ~10 KB
	if err := r.w.Drain(); err != nil {
		t.Fatal(err)
	}
	if len(r.w.extraNorms) != 0 {
		t.Fatalf("a backlog of 20 small events was prepared by %d extra normalisers", len(r.w.extraNorms))
	}
	appendEvents(20, 100) // ~50 KB
	if err := r.w.Drain(); err != nil {
		t.Fatal(err)
	}
	if len(r.w.extraNorms) != 1 {
		t.Fatalf("a backlog of 100 events was prepared by %d extra normalisers, want 1", len(r.w.extraNorms))
	}
	if got := r.w.Stats().Digested; got != 120 {
		t.Fatalf("digested %d events, want 120", got)
	}
}
