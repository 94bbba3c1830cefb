package digest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tinysink/tinysink/digest/rawevent"
	"github.com/tinysink/tinysink/ingest/spool"
	"github.com/tinysink/tinysink/store"
	"github.com/tinysink/tinysink/ui"
)

// Magic values the test hooks react to.
const (
	poisonNormalize = "POISON-NORMALIZE" // panics before Normalize
	poisonDigest    = "POISON-DIGEST"    // panics in digestOne
	poisonCommit    = "POISON-COMMIT"    // fails the commit of any batch holding it
)

// withPoison installs test hooks that make events carrying the magic
// values fail, for the duration of the test.
func withPoison(tb testing.TB) {
	testHookNormalize = func(payload []byte) {
		if bytes.Contains(payload, []byte(poisonNormalize)) {
			panic("poisoned normaliser")
		}
	}
	testHookDigest = func(it *item) {
		if it.ev.CalculatedValue == poisonDigest {
			var m map[string]int
			m["boom"]++ // a real nil-map panic
		}
	}
	testHookCommit = func(items []*item, _ int) error {
		for _, it := range items {
			if it.ev.CalculatedValue == poisonCommit {
				return errors.New("store: value out of range") // not an I/O error
			}
		}
		return nil
	}
	tb.Cleanup(func() { testHookNormalize, testHookDigest, testHookCommit, testHookSetAside = nil, nil, nil, nil })
}

// spoolEvent appends an event of exception value value to project pid and
// returns its id and payload.
func (r *rig) spoolEvent(pid int, value string) (string, []byte) {
	r.t.Helper()
	id := rawevent.NewID()
	ev := fmt.Appendf(nil, `{"event_id":"%s","exception":{"values":[{"type":"Err","value":%q}]}}`, id, value)
	if err := r.sp.Append(&spool.Record{Project: pid, EventID: id, IngestedAt: r.now, Payload: ev}); err != nil {
		r.t.Fatal(err)
	}
	r.now = r.now.Add(time.Millisecond)
	return id, ev
}

func (r *rig) quarantined() []store.QuarantineEntry {
	r.t.Helper()
	es, _, err := r.db.Quarantined(0, 1000)
	if err != nil {
		r.t.Fatal(err)
	}
	return es
}

// TestPoisonEventsSetAside spools good events of two projects around three
// poison events (a panic in the normaliser, a panic in digestOne, a
// commit that fails whenever it holds the event): the good events are
// stored, the poison ones are quarantined with their bytes, readable
// through the real API over HTTP, and a restart does not replay them.
func TestPoisonEventsSetAside(t *testing.T) {
	r := newRig(t)
	withPoison(t)
	p2, err := r.db.CreateProject("other")
	if err != nil {
		t.Fatal(err)
	}
	var good []string
	poison := map[string][]byte{}
	for i := range 30 {
		pid := []int{r.pid, p2.ID}[i%2]
		switch i {
		case 5, 17, 24:
			value := map[int]string{5: poisonNormalize, 17: poisonDigest, 24: poisonCommit}[i]
			id, raw := r.spoolEvent(pid, value)
			poison[id] = raw
		default:
			id, _ := r.spoolEvent(pid, fmt.Sprintf("good %d", i%4))
			good = append(good, id)
		}
	}
	if err := r.w.Drain(); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	for _, id := range good {
		if _, _, err := r.db.Event(mustID(r.t, id)); err != nil {
			t.Errorf("good event %s not stored: %v", id, err)
		}
	}
	es := r.quarantined()
	if len(es) != 3 {
		t.Fatalf("%d events quarantined, want 3: %+v", len(es), es)
	}
	for _, e := range es {
		raw, ok := poison[e.EventID]
		if !ok {
			t.Errorf("quarantined %s, which is not a poison event", e.EventID)
			continue
		}
		if _, _, err := r.db.Event(mustID(r.t, e.EventID)); err == nil {
			t.Errorf("poison event %s was stored", e.EventID)
		}
		if e.Size != int64(len(raw)) || e.IngestedAt.IsZero() || e.Error == "" {
			t.Errorf("entry %+v", e)
		}
	}
	byValue := func(v string) store.QuarantineEntry {
		for _, e := range es {
			if bytes.Contains(poison[e.EventID], []byte(v)) {
				return e
			}
		}
		t.Fatalf("no entry for %s", v)
		return store.QuarantineEntry{}
	}
	if e := byValue(poisonNormalize); !strings.Contains(e.Error, "normalize: panic: poisoned normaliser") || !strings.Contains(e.Stack, "goroutine") {
		t.Errorf("normaliser panic: error %q, stack %.80q", e.Error, e.Stack)
	}
	if e := byValue(poisonDigest); !strings.Contains(e.Error, "digest: panic") || !strings.Contains(e.Stack, "digestItem") {
		t.Errorf("digestOne panic: error %q, stack %.200q", e.Error, e.Stack)
	}
	if e := byValue(poisonCommit); !strings.Contains(e.Error, "commit: store: value out of range") || e.Stack != "" {
		t.Errorf("commit failure: error %q, stack %.80q", e.Error, e.Stack)
	}
	if st := r.w.Stats(); st.Quarantined != 3 || st.Digested != int64(len(good)) {
		t.Errorf("stats: %+v", st)
	}

	// The raw bytes, downloaded through the API over HTTP.
	tok, err := r.db.CreateToken()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ui.NewAPI(r.db, srv.URL, nil).Register(mux)
	get := func(path string) []byte {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return b
	}
	list := string(get("/api/canonical/0/quarantine/"))
	for _, e := range es {
		if !strings.Contains(list, e.ID) {
			t.Errorf("API list lacks %s", e.ID)
		}
		if b := get("/api/canonical/0/quarantine/" + e.ID + "/raw"); !bytes.Equal(b, poison[e.EventID]) {
			t.Errorf("raw of %s = %q, want %q", e.ID, b, poison[e.EventID])
		}
	}

	// A restart resumes after the poison events: nothing more is set
	// aside or stored.
	w2, err := New(r.db, r.sp, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.Drain(); err != nil {
		t.Fatalf("Drain after restart: %v", err)
	}
	if st := w2.Stats(); st.Quarantined != 0 || st.Digested != 0 || st.Duplicates != 0 {
		t.Errorf("after restart: %+v", st)
	}
	if n := len(r.quarantined()); n != 3 {
		t.Errorf("after restart: %d quarantined, want 3", n)
	}
}

// TestDeepEventsStored checks that events 300 levels deep inside a bare
// exception, breadcrumbs or threads list, as ingest accepts them, are
// stored and readable.
func TestDeepEventsStored(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	nest := func(open, close string, n int, inner string) string {
		return strings.Repeat(open, n) + inner + strings.Repeat(close, n)
	}
	payloads := map[string]string{
		"exception":   `{"exception":[` + nest("[", "]", 298, `"x"`) + `]}`,
		"breadcrumbs": `{"breadcrumbs":[` + nest(`{"data":`, "}", 298, `1`) + `]}`,
		"threads":     `{"threads":[{"id":1,"stacktrace":` + nest(`[{"f":`, "}]", 148, `"deep"`) + `}]}`,
	}
	ids := map[string]string{}
	for name, p := range payloads {
		id := rawevent.NewID()
		ids[name] = id
		if err := r.sp.Append(&spool.Record{Project: r.pid, EventID: id, IngestedAt: r.now, Payload: []byte(p)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.w.Drain(); err != nil {
		t.Fatal(err)
	}
	for name, id := range ids {
		_, body, err := r.db.Event(mustID(r.t, id))
		if err != nil {
			t.Errorf("%s: event not stored: %v", name, err)
			continue
		}
		if !bytes.Contains(body, []byte(rawevent.DepthMarker)) || !bytes.Contains(body, []byte(`"`+name+`":{"values":[`)) {
			t.Errorf("%s: stored body lacks the marker or the wrapped list: %.200s", name, body)
		}
	}
	if st := r.w.Stats(); st.Digested != 3 || st.Quarantined != 0 || st.Invalid != 0 {
		t.Errorf("stats: %+v", st)
	}
}

// TestQuarantineWriteFailureHolds checks that a poison event whose
// quarantine cannot be written (the data directory refuses it) is neither
// dropped nor skipped: the events before it commit, digest stops at it and
// reports the failure, and it is set aside once the directory works.
func TestQuarantineWriteFailureHolds(t *testing.T) {
	r := newRig(t)
	withPoison(t)
	before, _ := r.spoolEvent(r.pid, "good before")
	poisonID, _ := r.spoolEvent(r.pid, poisonDigest)
	after, _ := r.spoolEvent(r.pid, "good after")
	// A file where the quarantine directory belongs: even root cannot
	// create files under it.
	block := filepath.Join(r.db.Dir(), "quarantine")
	if err := os.WriteFile(block, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := r.w.Batch(); err == nil {
		t.Fatal("Batch succeeded with an unwritable quarantine")
	}
	if _, _, err := r.db.Event(mustID(r.t, before)); err != nil {
		t.Errorf("the event before the poison one was not stored: %v", err)
	}
	if _, _, err := r.db.Event(mustID(r.t, after)); err == nil {
		t.Error("the event after the poison one was stored before it was set aside")
	}
	if _, err := r.w.Batch(); err == nil {
		t.Fatal("second Batch succeeded with an unwritable quarantine")
	}
	os.Remove(block)
	if err := r.w.Drain(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.db.Event(mustID(r.t, after)); err != nil {
		t.Errorf("the event after the poison one: %v", err)
	}
	if es := r.quarantined(); len(es) != 1 || es[0].EventID != poisonID {
		t.Errorf("quarantine: %+v", es)
	}
}

// BenchmarkPoisonBatch measures what one poison event costs the events of
// its batch: each round spools a full batch (DefaultBatchEvents ~1 KB
// events) and digests it, with and without a poison event in the middle.
// extra-ms/batch is the added time until every good event is stored.
func BenchmarkPoisonBatch(b *testing.B) {
	run := func(b *testing.B, which string) time.Duration {
		dir := b.TempDir()
		db, err := store.Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		sp, err := spool.Open(filepath.Join(dir, "spool"), spool.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer sp.Close()
		p, _ := db.CreateProject("app")
		w, err := New(db, sp, nil)
		if err != nil {
			b.Fatal(err)
		}
		w.log = slog.New(slog.NewTextHandler(io.Discard, nil))
		pad := strings.Repeat("x", 900)
		var total time.Duration
		for b.Loop() {
			for i := range DefaultBatchEvents {
				value := fmt.Sprintf("good %d %s", i%10, pad)
				if i == DefaultBatchEvents/2 && which != "" {
					value = which
				}
				id := rawevent.NewID()
				ev := fmt.Appendf(nil, `{"event_id":"%s","exception":{"values":[{"type":"Err","value":%q}]}}`, id, value)
				if err := sp.Append(&spool.Record{Project: p.ID, EventID: id, IngestedAt: time.Now(), Payload: ev}); err != nil {
					b.Fatal(err)
				}
			}
			start := time.Now()
			if err := w.Drain(); err != nil {
				b.Fatal(err)
			}
			total += time.Since(start)
		}
		return total / time.Duration(b.N)
	}
	withPoison(b)
	var base time.Duration
	for _, which := range []string{"", poisonNormalize, poisonDigest, poisonCommit} {
		name := "none"
		if which != "" {
			name = strings.ToLower(strings.TrimPrefix(which, "POISON-"))
		}
		b.Run(name, func(b *testing.B) {
			d := run(b, which)
			if which == "" {
				base = d
			}
			b.ReportMetric(float64(d)/1e6, "ms/batch")
			if which != "" && base > 0 {
				b.ReportMetric(float64(d-base)/1e6, "extra-ms/batch")
			}
		})
	}
}
