package digest

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/tinysink/tinysink/store"
)

// FuzzTypedItems feeds arbitrary payloads to the readers of the items
// that are not events (transactions, spans, check-ins, feedback): none
// may panic, whatever the JSON.
var errFuzzRollback = errors.New("fuzz: roll back")

func FuzzTypedItems(f *testing.F) {
	dir, err := os.MkdirTemp("", "fuzz-items-")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { os.RemoveAll(dir) })
	db, err := store.Open(dir)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	p, err := db.CreateProject("fuzz")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []struct {
		kind    uint8
		payload string
	}{
		{0, `{"transaction":"GET /","start_timestamp":1,"timestamp":"2026-01-01T00:00:00Z","spans":[{"span_id":"a","parent_span_id":"a"}]}`},
		{1, `{"version":2,"items":[{"is_segment":true,"span_id":"s","start_timestamp":1,"end_timestamp":2},{"span_id":"c","parent_span_id":"s"}]}`},
		{2, `{"monitor_slug":"x","status":"in_progress","monitor_config":{"schedule":{"type":"interval","value":1,"unit":"day"}}}`},
		{3, `{"contexts":{"feedback":{"message":"m","associated_event_id":"0123456789abcdef0123456789abcdef"}}}`},
		{4, `{"event_id":"0123456789abcdef0123456789abcdef","comments":"c"}`},
	} {
		f.Add(seed.kind, []byte(seed.payload))
	}
	kinds := []string{"transaction", "span", "check_in", "feedback", "user_report"}
	f.Fuzz(func(t *testing.T, kind uint8, payload []byte) {
		now := time.Now()
		it := &item{project: p.ID, typ: kinds[int(kind)%len(kinds)], raw: payload, ingestedAt: now, digestedAt: now}
		// Rolled back: each input is digested into the same store state,
		// and no run waits for an fsync (with one per run the fuzzer
		// stalled and missed its deadline).
		db.Digest(func(tx *store.Tx) error {
			if _, fail := digestItem(tx, it); fail != nil && fail.stack != "" {
				t.Fatalf("%s item %q panicked: %v\n%s", it.typ, payload, fail.err, fail.stack)
			}
			return errFuzzRollback
		})
	})
}
