package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinysink/tinysink/digest/rawevent"
	"github.com/tinysink/tinysink/ingest/spool"
	"github.com/tinysink/tinysink/internal/benchevents"
)

// testKey is project 1's key, the one the recorded SDK traffic uses.
const testKey = "publickey123"

// fakeProjects maps project ids to keys.
type fakeProjects map[int]string

func (f fakeProjects) ProjectKey(id int) (string, bool) {
	k, ok := f[id]
	return k, ok
}

// testServer is the ingest handler on a real loopback HTTP server, writing
// to a real spool.
type testServer struct {
	*httptest.Server
	h   *Handler
	sp  *spool.Spool
	pos spool.Pos // how far newRecords has read
}

// newTestServer starts a server for project 1 (key testKey); configure may
// change the Config first.
func newTestServer(t testing.TB, configure ...func(*Config)) *testServer {
	t.Helper()
	sp, err := spool.Open(t.TempDir(), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Projects: fakeProjects{1: testKey}, Spool: sp, BaseURL: "http://ingest.test"}
	for _, f := range configure {
		f(&cfg)
	}
	h := New(cfg)
	mux := http.NewServeMux()
	h.Register(mux)
	ts := &testServer{Server: httptest.NewServer(mux), h: h, sp: sp}
	t.Cleanup(func() {
		ts.Close()
		sp.Close()
	})
	return ts
}

// post sends body to path (with header k, v pairs) and returns the status
// and the response body.
func (ts *testServer) post(t testing.TB, path string, body io.Reader, kv ...string) (int, http.Header, []byte) {
	t.Helper()
	return ts.do(t, http.MethodPost, path, body, kv...)
}

func (ts *testServer) do(t testing.TB, method, path string, body io.Reader, kv ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading reply: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, b
}

// authHeader is how sentry-go authenticates.
const authHeader = "Sentry sentry_version=7, sentry_client=test/1.0, sentry_key=" + testKey

// postEnvelope posts env to project 1's envelope endpoint with header auth.
func (ts *testServer) postEnvelope(t testing.TB, env []byte, kv ...string) (int, []byte) {
	t.Helper()
	status, _, body := ts.post(t, "/api/1/envelope/", bytes.NewReader(env), append([]string{"X-Sentry-Auth", authHeader}, kv...)...)
	return status, body
}

// newRecords returns copies of the event records spooled since the last
// call (and forgets the other items').
func (ts *testServer) newRecords(t testing.TB) []spool.Record {
	t.Helper()
	events, _ := ts.newRecordsAndItems(t)
	return events
}

// newRecordsAndItems returns copies of the records spooled since the last
// call: the events, and the other items.
func (ts *testServer) newRecordsAndItems(t testing.TB) (events, items []spool.Record) {
	t.Helper()
	next, err := ts.sp.ReadFrom(ts.pos, 1<<20, 0, func(r *spool.Record, _ spool.Pos) error {
		c := *r
		c.Payload = bytes.Clone(r.Payload)
		if c.Type == "" {
			events = append(events, c)
		} else {
			items = append(items, c)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.pos = next
	return events, items
}

// eventRecords is newRecordsAndItems without the dropped-item counts
// (health_items.go).
func (ts *testServer) eventRecords(t testing.TB) (events, others []spool.Record) {
	t.Helper()
	events, items := ts.newRecordsAndItems(t)
	for _, r := range items {
		if r.Type != DroppedItemsType {
			others = append(others, r)
		}
	}
	return events, others
}

// checkStillServes sends a good envelope and expects its event in the spool.
func (ts *testServer) checkStillServes(t testing.TB) {
	t.Helper()
	ts.newRecords(t)
	event := `{"event_id":"0123456789abcdef0123456789abcdef","message":"still here"}`
	status, body := ts.postEnvelope(t, []byte("{}\n{\"type\":\"event\"}\n"+event+"\n"))
	if status != http.StatusOK {
		t.Fatalf("good request after the test: %d %s", status, body)
	}
	if recs := ts.newRecords(t); len(recs) != 1 || string(recs[0].Payload) != event {
		t.Fatalf("good request after the test: %d records spooled, want its event", len(recs))
	}
}

// message returns the "message" of a JSON error reply.
func message(t testing.TB, body []byte) string {
	t.Helper()
	var m struct{ Message *string }
	if err := json.Unmarshal(body, &m); err != nil || m.Message == nil {
		t.Fatalf("reply %q is not a JSON {\"message\": ...}", body)
	}
	return *m.Message
}

// envelope builds an envelope: a header line and items of (header, payload).
func envelope(header string, items ...string) []byte {
	var b bytes.Buffer
	b.WriteString(header)
	b.WriteByte('\n')
	for i := 0; i+1 < len(items); i += 2 {
		b.WriteString(items[i])
		b.WriteByte('\n')
		b.WriteString(items[i+1])
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// eventItems cuts the event items out of an envelope held in memory. It is
// the test's oracle, written independently of the streaming parser (and
// with encoding/json).
func eventItems(t testing.TB, env []byte) (headerID string, events [][]byte) {
	t.Helper()
	cutLine := func(b []byte) ([]byte, []byte) {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return bytes.TrimSuffix(b, []byte("\r")), nil
		}
		return bytes.TrimSuffix(b[:i], []byte("\r")), b[i+1:]
	}
	line, rest := cutLine(env)
	var hdr struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(line, &hdr); err != nil {
		t.Fatalf("oracle: envelope header: %v", err)
	}
	for len(bytes.TrimSpace(rest)) > 0 {
		line, rest = cutLine(rest)
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var ih struct {
			Type   string
			Length *int
		}
		if err := json.Unmarshal(line, &ih); err != nil {
			t.Fatalf("oracle: item header %q: %v", line, err)
		}
		var payload []byte
		if ih.Length != nil {
			payload, rest = rest[:*ih.Length], rest[*ih.Length:]
			rest = bytes.TrimPrefix(bytes.TrimPrefix(rest, []byte("\r")), []byte("\n"))
		} else {
			payload, rest = cutLine(rest)
		}
		if ih.Type == "event" {
			events = append(events, payload)
		}
	}
	return hdr.EventID, events
}

// cutFromEnvelope maps testdata/events files to the envelope they were cut
// from, where the names differ.
var cutFromEnvelope = map[string]string{
	"spotlight_envelope_with_text.json": "attachments_envelope_with_text.txt",
}

// TestSampleEnvelopes posts every sample envelope and checks that exactly
// its event items, byte for byte, end up in the spool.
func TestSampleEnvelopes(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	files, err := filepath.Glob("testdata/envelopes/*/*")
	if err != nil || len(files) < 45 {
		t.Fatalf("found %d sample envelopes (%v), want all 48", len(files), err)
	}
	// The events cut out of envelopes by the corpus itself: a second oracle.
	cut := map[string][]byte{}
	eventFiles, _ := filepath.Glob("testdata/events/spotlight_*.json")
	for _, f := range eventFiles {
		base := filepath.Base(f)
		env, ok := cutFromEnvelope[base]
		if !ok {
			env = strings.TrimSuffix(strings.TrimPrefix(base, "spotlight_"), ".json") + ".txt"
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cut[env] = b
	}

	stored, malformedSeen, keptItems := 0, 0, 0
	for _, f := range files {
		env, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		status, body := ts.postEnvelope(t, env)
		recs, others := ts.eventRecords(t)
		keptItems += len(others)
		if strings.Contains(f, "/malformed/") {
			malformedSeen++
			if status != http.StatusBadRequest || len(recs) != 0 {
				t.Errorf("%s: %d %s with %d records, want 400 and none", f, status, body, len(recs))
			}
			continue
		}
		if status != http.StatusOK {
			t.Errorf("%s: %d %s", f, status, body)
			continue
		}
		headerID, events := eventItems(t, env)
		if len(recs) != len(events) {
			t.Errorf("%s: %d records spooled, want one per event item (%d)", f, len(recs), len(events))
			continue
		}
		if len(events) == 0 {
			continue
		}
		stored += len(recs)
		for i, ev := range events {
			if !bytes.Equal(recs[i].Payload, ev) {
				t.Errorf("%s: spooled payload %d (%d bytes) differs from the event item (%d bytes)", f, i, len(recs[i].Payload), len(ev))
			}
		}
		r := recs[0]
		if want, ok := cut[filepath.Base(f)]; ok && !bytes.Equal(r.Payload, want) {
			t.Errorf("%s: spooled payload differs from the corpus's cut-out event", f)
		}
		if want := rawevent.NormalizeID(headerID); want != "" && r.EventID != want {
			t.Errorf("%s: EventID = %q, want the header's %q", f, r.EventID, want)
		}
		for _, r := range recs {
			if len(r.EventID) != 32 || rawevent.NormalizeID(r.EventID) != r.EventID {
				t.Errorf("%s: EventID %q is not 32 lowercase hex", f, r.EventID)
			}
		}
		if wantReply := `{"id":"` + r.EventID + `"}`; strings.TrimSpace(string(body)) != wantReply {
			t.Errorf("%s: reply %s, want %s", f, body, wantReply)
		}
		if r.Project != 1 || r.RemoteAddr != "127.0.0.1" || r.IngestedAt.IsZero() {
			t.Errorf("%s: record %d/%q/%v", f, r.Project, r.RemoteAddr, r.IngestedAt)
		}
	}
	t.Logf("stored %d events, counters %+v", stored, ts.h.Counters())
	if keptItems < 10 {
		t.Errorf("%d transaction, span, check-in or feedback items spooled, want more than 10", keptItems)
	}
	if stored < 18 || malformedSeen != 1 {
		t.Errorf("stored %d events and saw %d malformed envelopes; want about 20 and 1", stored, malformedSeen)
	}
	if c := ts.h.Counters(); c.Accepted != int64(stored) || c.Dropped == 0 {
		t.Errorf("Counters = %+v", c)
	}
}

// wireMeta is a recorded request's <label>.meta.json.
type wireMeta struct {
	Method, Path, Query string
	Headers             map[string][]string
	TransferEncoding    []string `json:"transfer_encoding"`
	Kind                string
	RespStatus          int `json:"resp_status"`
}

// TestSDKWireReplay replays what real SDKs sent, byte for byte and with the
// same headers, and checks what lands in the spool.
func TestSDKWireReplay(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	metas, err := filepath.Glob("testdata/sdk-wire/*/*.meta.json")
	if err != nil || len(metas) < 30 {
		t.Fatalf("found %d recorded requests (%v)", len(metas), err)
	}
	events := 0
	for _, f := range metas {
		label := strings.TrimSuffix(f, ".meta.json")
		var m wireMeta
		b, err := os.ReadFile(f)
		if err == nil {
			err = json.Unmarshal(b, &m)
		}
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		raw, err := os.ReadFile(label + ".raw")
		if err != nil {
			t.Fatal(err)
		}
		decoded, err := os.ReadFile(label + ".body")
		if os.IsNotExist(err) {
			decoded, err = raw, nil
		}
		if err != nil {
			t.Fatal(err)
		}

		target := ts.URL + m.Path
		if m.Query != "" {
			target += "?" + m.Query
		}
		var body io.Reader = bytes.NewReader(raw)
		chunked := len(m.TransferEncoding) > 0
		if chunked {
			body = io.MultiReader(body) // no length known: sent chunked
		}
		req, err := http.NewRequest(m.Method, target, body)
		if err != nil {
			t.Fatal(err)
		}
		for k, vs := range m.Headers {
			if k == "Content-Length" {
				continue // set from the body, as recorded
			}
			req.Header[k] = vs
		}
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		reply, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Errorf("%s: %d %s", label, resp.StatusCode, reply)
			continue
		}

		var want [][]byte
		switch m.Kind {
		case "store":
			want = [][]byte{decoded}
		case "envelope":
			_, want = eventItems(t, decoded)
		default:
			t.Fatalf("%s: unexpected kind %q", label, m.Kind)
		}
		recs, others := ts.eventRecords(t)
		for _, o := range others {
			if !strings.Contains(label, o.Type) && !(o.Type == "span" && strings.Contains(label, "span")) {
				t.Errorf("%s: spooled an item of type %q", label, o.Type)
			}
		}
		if (strings.HasSuffix(label, "transaction") || strings.HasSuffix(label, "span-v2")) && len(others) != 1 {
			t.Errorf("%s: %d kept items spooled, want 1", label, len(others))
		}
		if len(want) > 1 {
			want = nil
		}
		if len(recs) != len(want) {
			t.Errorf("%s: %d records spooled, want %d", label, len(recs), len(want))
			continue
		}
		for i := range recs {
			events++
			if !bytes.Equal(recs[i].Payload, want[i]) {
				t.Errorf("%s: spooled payload differs from the event sent", label)
			}
			if got := strings.TrimSpace(string(reply)); got != `{"id":"`+recs[i].EventID+`"}` {
				t.Errorf("%s: reply %s for event %s", label, got, recs[i].EventID)
			}
		}
	}
	t.Logf("replayed %d requests, %d events", len(metas), events)
	if events < 25 {
		t.Errorf("only %d events spooled from the recordings", events)
	}
}

func TestStore(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for _, tt := range []struct {
		name, body string
		status     int
		id         string // "" : any generated id
	}{
		{"event_id kept", `{"event_id":"ABCDEF0123456789abcdef0123456789","message":"x"}`, 200, "abcdef0123456789abcdef0123456789"},
		{"dashed event_id", `{"event_id":"22d00b3f-d1b1-4b5d-8d20-49d138cd8a9c"}`, 200, "22d00b3fd1b14b5d8d2049d138cd8a9c"},
		{"no event_id", `{"message":"hi"}`, 200, ""},
		{"invalid event_id", `{"event_id":"nope"}`, 200, ""},
		{"nil uuid", `{"event_id":"00000000-0000-0000-0000-000000000000"}`, 200, ""},
		{"whitespace around", " \n{\"a\":1}\n ", 200, ""},
		{"bad JSON", `{"message":`, 400, ""},
		{"array", `[{"message":"x"}]`, 400, ""},
		{"empty", ``, 400, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := ts.post(t, "/api/1/store/?sentry_key="+testKey, strings.NewReader(tt.body), "Content-Type", "application/json")
			recs := ts.newRecords(t)
			if status != tt.status {
				t.Fatalf("status %d %s, want %d", status, body, tt.status)
			}
			if status != 200 {
				message(t, body)
				if len(recs) != 0 {
					t.Errorf("%d records spooled for a refused event", len(recs))
				}
				return
			}
			if len(recs) != 1 || string(recs[0].Payload) != tt.body {
				t.Fatalf("spooled %d records, want the body", len(recs))
			}
			id := recs[0].EventID
			if tt.id != "" && id != tt.id {
				t.Errorf("EventID = %q, want %q", id, tt.id)
			}
			if rawevent.NormalizeID(id) != id {
				t.Errorf("EventID %q is not 32 lowercase hex (or is nil)", id)
			}
			if want := fmt.Sprintf(`{"id":%q}`, id); strings.TrimSpace(string(body)) != want {
				t.Errorf("reply %s, want %s", body, want)
			}
		})
	}
}

func TestEventIDs(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	event := `{"event_id":"11111111111111111111111111111111"}`
	for _, tt := range []struct{ name, header, want string }{
		{"header wins", `{"event_id":"22222222222222222222222222222222"}`, "22222222222222222222222222222222"},
		{"dashed header", `{"event_id":"22222222-2222-2222-2222-22222222222A"}`, "2222222222222222222222222222222a"},
		{"invalid header: payload's", `{"event_id":"xyz"}`, "11111111111111111111111111111111"},
		{"nil header: payload's", `{"event_id":"00000000-0000-0000-0000-000000000000"}`, "11111111111111111111111111111111"},
		{"no header id: payload's", `{}`, "11111111111111111111111111111111"},
	} {
		status, body := ts.postEnvelope(t, envelope(tt.header, `{"type":"event"}`, event))
		recs := ts.newRecords(t)
		if status != 200 || len(recs) != 1 || recs[0].EventID != tt.want {
			t.Errorf("%s: %d %s, %d records (%v), want id %s", tt.name, status, body, len(recs), recs, tt.want)
		}
	}
	// No id anywhere: a fresh one each time.
	ids := map[string]bool{}
	for range 3 {
		ts.postEnvelope(t, envelope(`{}`, `{"type":"event"}`, `{"message":"x"}`))
		for _, r := range ts.newRecords(t) {
			ids[r.EventID] = true
		}
	}
	if len(ids) != 3 {
		t.Errorf("generated ids %v, want 3 different", ids)
	}
	// No event: the header's id, or {}.
	for header, want := range map[string]string{`{"event_id":"33333333333333333333333333333333"}`: `{"id":"33333333333333333333333333333333"}`, `{}`: `{}`} {
		if status, body := ts.postEnvelope(t, envelope(header, `{"type":"session"}`, `{}`)); status != 200 || strings.TrimSpace(string(body)) != want {
			t.Errorf("envelope without event, header %s: %d %s, want %s", header, status, body, want)
		}
	}
}

// BenchmarkHandler measures the whole handler path for a ~14 KB envelope
// (a real Next.js event). "direct" calls the mux without a network or
// fsync; "http-parallel" goes over loopback HTTP from 16 goroutines with a
// real fsync'd spool, as in production. Keep runs short:
//
//	go test ./ingest -run '^$' -bench Handler -benchtime 2000x
func BenchmarkHandler(b *testing.B) {
	env, err := os.ReadFile("testdata/envelopes/spotlight/Capture.Message.txt")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("direct", func(b *testing.B) {
		mux := directMux(b)
		b.SetBytes(int64(len(env)))
		b.ReportAllocs()
		for b.Loop() {
			postDirect(b, mux, env)
		}
	})
	b.Run("http-parallel-fsync", func(b *testing.B) {
		ts := newTestServer(b)
		tr := ts.Client().Transport.(*http.Transport)
		tr.MaxIdleConnsPerHost = 64
		b.SetBytes(int64(len(env)))
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				resp, err := ts.Client().Post(ts.URL+"/api/1/envelope/?sentry_key="+testKey, "", bytes.NewReader(env))
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

// directMux is the handler on a mux of its own, spooling to a spool that
// does not fsync.
func directMux(b *testing.B) *http.ServeMux {
	sp, err := spool.Open(b.TempDir(), spool.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sp.Close() })
	mux := http.NewServeMux()
	New(Config{Projects: fakeProjects{1: testKey}, Spool: sp}).Register(mux)
	return mux
}

// postDirect sends env to mux as project 1's envelope and fails b unless
// it is accepted.
func postDirect(b *testing.B, mux *http.ServeMux, env []byte) {
	req := httptest.NewRequest(http.MethodPost, "/api/1/envelope/?sentry_key="+testKey, bytes.NewReader(env))
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		b.Fatalf("status %d %s", w.Code, w.Body)
	}
}

// BenchmarkCheckEventDir runs the event check (the JSON validator and its
// event_id scan) over each event of $TINYSINK_BENCH_EVENTS in turn; it
// skips without it.
func BenchmarkCheckEventDir(b *testing.B) {
	evs := benchevents.Load(b)
	n := 0
	for _, ev := range evs {
		n += len(ev)
	}
	b.SetBytes(int64(n / len(evs)))
	var sc eventScan
	i := 0
	for b.Loop() {
		if err := checkEventScan(evs[i%len(evs)], &sc); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkHandlerDir sends an envelope of each event of
// $TINYSINK_BENCH_EVENTS (package benchevents), one per op in turn,
// through the handler to a spool that does not fsync. It skips without
// it (see BenchmarkNormalizeDir in digest/event).
func BenchmarkHandlerDir(b *testing.B) {
	var envs [][]byte
	for i, ev := range benchevents.Load(b) {
		head := fmt.Sprintf("{\"event_id\":\"%032x\"}\n{\"type\":\"event\",\"length\":%d}\n", i+1, len(ev))
		envs = append(envs, append([]byte(head), ev...))
	}
	mux := directMux(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		postDirect(b, mux, envs[i%len(envs)])
		i++
	}
}
