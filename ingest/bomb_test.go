package ingest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/tinysink/tinysink/digest/rawevent"
	"github.com/tinysink/tinysink/ingest/spool"
)

// denseEvent returns an event of just under size bytes that is almost
// entirely tiny JSON values ([0,0,0,...]), with no event_id.
func denseEvent(size int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"message":"dense","extra":{"a":[0`)
	for b.Len() < size-4 {
		b.WriteString(",0")
	}
	b.WriteString(`]}}`)
	return b.Bytes()
}

func gzipped(b []byte) []byte {
	var out bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

// newDirectHandler returns the ingest mux for project 1 over a spool that
// does not fsync, for calling without a network.
func newDirectHandler(t testing.TB) (http.Handler, *spool.Spool) {
	t.Helper()
	sp, err := spool.Open(t.TempDir(), spool.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	h := New(Config{Projects: fakeProjects{1: testKey}, Spool: sp})
	mux := http.NewServeMux()
	h.Register(mux)
	return mux, sp
}

// allocated returns the bytes the process allocated while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A 1 MiB event of ~520,000 values that gzip sends in ~1 KB costs no more
// to ingest than its own size a few times over: finding its id does not
// build a JSON tree (it did: ~200 MB), and it is trimmed by digest's rule
// before it is spooled.
func TestDenseEventBoundedMemory(t *testing.T) {
	mux, sp := newDirectHandler(t)
	dense := denseEvent(DefaultMaxEventSize)
	env := append(fmt.Appendf(nil, "{}\n{\"type\":\"event\",\"length\":%d}\n", len(dense)), dense...)
	for _, tt := range []struct {
		name, path string
		body       []byte
	}{
		{"store", "/api/1/store/", gzipped(dense)},
		{"envelope", "/api/1/envelope/", gzipped(env)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var w *httptest.ResponseRecorder
			n := allocated(func() {
				req := httptest.NewRequest(http.MethodPost, tt.path+"?sentry_key="+testKey, bytes.NewReader(tt.body))
				req.Header.Set("Content-Encoding", "gzip")
				w = httptest.NewRecorder()
				mux.ServeHTTP(w, req)
			})
			t.Logf("%d bytes gzip'd, %d decoded: %d bytes allocated", len(tt.body), len(dense), n)
			if w.Code != 200 {
				t.Fatalf("status %d %s", w.Code, w.Body)
			}
			// The body buffer (1 MiB, grown by doubling when the size is
			// not known) and the trimmed copy; nothing per value.
			if limit := uint64(4 * DefaultMaxEventSize); n > limit {
				t.Errorf("one request allocated %d bytes, want at most %d", n, limit)
			}
		})
	}
	var recs []spool.Record
	sp.ReadFrom(spool.Pos{}, 1<<20, 0, func(r *spool.Record, _ spool.Pos) error {
		c := *r
		c.Payload = bytes.Clone(r.Payload)
		recs = append(recs, c)
		return nil
	})
	if len(recs) != 2 {
		t.Fatalf("%d records spooled, want 2", len(recs))
	}
	for _, r := range recs {
		var v struct {
			Message string
			Extra   struct{ A []any }
		}
		if err := json.Unmarshal(r.Payload, &v); err != nil {
			t.Fatalf("spooled payload is not JSON: %v", err)
		}
		if len(r.Payload) > 64<<10 || v.Message != "dense" || len(v.Extra.A) != 1001 || !strings.HasPrefix(fmt.Sprint(v.Extra.A[1000]), rawevent.TrimMarker) {
			t.Errorf("spooled %d bytes (message %q, %d array entries), want the event trimmed to 1000 entries and a marker", len(r.Payload), v.Message, len(v.Extra.A))
		}
		if rawevent.NormalizeID(r.EventID) != r.EventID {
			t.Errorf("spooled under id %q", r.EventID)
		}
	}
}

// An envelope may hold MaxEnvelopeItems items; at the first one past that
// the request gets 413 without the rest being read.
func TestEnvelopeItemCap(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	items := func(n int) []byte {
		var b bytes.Buffer
		b.WriteString("{}\n")
		for range n {
			b.WriteString("{\"type\":\"client_report\",\"length\":2}\n{}\n")
		}
		return b.Bytes()
	}
	if status, body := ts.postEnvelope(t, items(MaxEnvelopeItems)); status != 200 {
		t.Errorf("%d items: %d %s, want 200", MaxEnvelopeItems, status, body)
	}
	before := ts.h.Counters().Dropped
	status, body := ts.postEnvelope(t, itemBomb(5_000_000))
	if status != http.StatusRequestEntityTooLarge {
		t.Fatalf("5 million items: %d %s, want 413", status, body)
	}
	t.Logf("message: %s", message(t, body))
	if d := ts.h.Counters().Dropped - before; d != MaxEnvelopeItems {
		t.Errorf("%d items read before the refusal, want %d", d, MaxEnvelopeItems)
	}
	// Blank lines between items are bounded too.
	blank := append([]byte("{}\n"), bytes.Repeat([]byte("\n"), 1_000_000)...)
	if status, body := ts.postEnvelope(t, blank); status != http.StatusBadRequest {
		t.Errorf("a million blank lines: %d %s, want 400", status, body)
	} else {
		t.Logf("message: %s", message(t, body))
	}
	ts.checkStillServes(t)
}

// itemBomb returns an envelope of n empty items (3 bytes each).
func itemBomb(n int) []byte {
	return append([]byte("{}\n"), bytes.Repeat([]byte("{}\n\n"), n)...)
}

// BenchmarkItemBomb measures what a 296 KB gzip'd envelope of 5 million
// empty items costs the server: it is refused at item 101.
//
//	go test ./ingest -run '^$' -bench ItemBomb -benchtime 20x
func BenchmarkItemBomb(b *testing.B) {
	mux, _ := newDirectHandler(b)
	body := gzipped(itemBomb(5_000_000))
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/api/1/envelope/?sentry_key="+testKey, bytes.NewReader(body))
		req.Header.Set("Content-Encoding", "gzip")
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		if w.Code != http.StatusRequestEntityTooLarge {
			b.Fatalf("status %d %s", w.Code, w.Body)
		}
	}
	b.ReportMetric(float64(len(body)), "body-bytes")
}

// BenchmarkDenseBomb measures one value-dense 1 KB gzip bomb (1 MiB, ~520k
// values, no event_id) through /store/.
//
//	go test ./ingest -run '^$' -bench DenseBomb -benchtime 20x
func BenchmarkDenseBomb(b *testing.B) {
	mux, _ := newDirectHandler(b)
	body := gzipped(denseEvent(DefaultMaxEventSize))
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/api/1/store/?sentry_key="+testKey, bytes.NewReader(body))
		req.Header.Set("Content-Encoding", "gzip")
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d %s", w.Code, w.Body)
		}
	}
}
