package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/valyala/fastjson"
	"sync"
	"testing"
	"time"

	"github.com/tinysink/tinysink/digest/rawevent"
)

func TestEnvelopeShapes(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	const ev = `{"message":"shape"}`
	evLen := fmt.Sprintf(`{"type":"event","length":%d}`, len(ev))
	for _, tt := range []struct {
		name, body string
		event      bool // whether ev is stored
	}{
		{"with length", "{}\n" + evLen + "\n" + ev + "\n", true},
		{"with length, no final newline", "{}\n" + evLen + "\n" + ev, true},
		{"without length", "{}\n{\"type\":\"event\"}\n" + ev + "\n", true},
		{"without length, no final newline", "{}\n{\"type\":\"event\"}\n" + ev, true},
		{"CRLF", "{}\r\n{\"type\":\"event\"}\r\n" + ev + "\r\n", true},
		{"CRLF with length", "{}\r\n" + evLen + "\r\n" + ev + "\r\n", true},
		{"empty trailing lines", "{}\n" + evLen + "\n" + ev + "\n\n\r\n", true},
		{"length null", "{}\n{\"type\":\"event\",\"length\":null}\n" + ev + "\n", true},
		{"event between other items", "{}\n{\"type\":\"session\"}\n{}\n" + evLen + "\n" + ev + "\n{\"type\":\"attachment\",\"length\":3}\na\nb\n", true},
		{"payload with a newline, counted in length", "{}\n{\"type\":\"event\",\"length\":22}\n{\"message\":\"a\",\n\"b\":1}\n", false},
		{"header only", "{}", false},
		{"header and newline", "{}\n", false},
		{"zero-length item at the end", "{}\n{\"type\":\"attachment\",\"length\":0}", false},
		{"empty payload without length", "{}\n{\"type\":\"session\"}\n", false},
		{"unknown item type", "{}\n{\"type\":\"future_thing\",\"length\":2}\nxy\n", false},
		{"item header without type", "{}\n{\"length\":2}\nxy\n", false},
		{"invalid UTF-8 in the event", "{}\n{\"type\":\"event\"}\n{\"message\":\"caf\xe9 \xff\xfe\"}\n", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, body := ts.postEnvelope(t, []byte(tt.body))
			recs := ts.newRecords(t)
			if status != 200 {
				t.Fatalf("status %d %s", status, body)
			}
			_, want := eventItems(t, []byte(tt.body))
			switch {
			case tt.event && (len(recs) != 1 || string(recs[0].Payload) != ev):
				t.Errorf("%d records, want the event %s", len(recs), ev)
			case len(want) == 1 && (len(recs) != 1 || !bytes.Equal(recs[0].Payload, want[0])):
				t.Errorf("%d records, want the event item %q", len(recs), want[0])
			case len(want) == 0 && len(recs) != 0:
				t.Errorf("%d records spooled from an envelope without events", len(recs))
			}
		})
	}
}

func TestEnvelopeSeveralEvents(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	env := envelope(`{"event_id":"44444444444444444444444444444444"}`,
		`{"type":"event"}`, `{"message":"one"}`,
		`{"type":"attachment","length":3}`, `abc`,
		`{"type":"event"}`, `{"message":"two","event_id":"55555555555555555555555555555555"}`,
		`{"type":"event","length":2}`, `{}`)
	status, body := ts.postEnvelope(t, env)
	if status != 200 || strings.TrimSpace(string(body)) != `{"id":"44444444444444444444444444444444"}` {
		t.Errorf("%d %s", status, body)
	}
	recs := ts.newRecords(t)
	if len(recs) != 3 {
		t.Fatalf("%d records spooled from an envelope with 3 events, want 3", len(recs))
	}
	third := derivedEventID("44444444444444444444444444444444", 2)
	for i, want := range []struct{ id, payload string }{
		{"44444444444444444444444444444444", `{"message":"one"}`},
		{"55555555555555555555555555555555", `{"message":"two","event_id":"55555555555555555555555555555555"}`},
		{third, `{}`},
	} {
		if recs[i].EventID != want.id || string(recs[i].Payload) != want.payload {
			t.Errorf("record %d: %s %s, want %s %s", i, recs[i].EventID, recs[i].Payload, want.id, want.payload)
		}
	}
	if c := ts.h.Counters(); c.Dropped != 1 || c.Accepted != 3 {
		t.Errorf("Counters = %+v, want 1 dropped, 3 accepted", c)
	}

	// A second event with the first one's id (Android's Java and native
	// events) gets an id of its own, the same on every retry.
	env, err := os.ReadFile("testdata/envelopes/sentry-java/android-java-then-native.txt")
	if err != nil {
		t.Fatal(err)
	}
	var first []string
	for try := range 2 {
		status, body = ts.postEnvelope(t, env)
		const headerID = "9ec79c33ec9942ab8353589fcb2e04dc"
		if status != 200 || strings.TrimSpace(string(body)) != `{"id":"`+headerID+`"}` {
			t.Errorf("%d %s", status, body)
		}
		var ids []string
		for _, r := range ts.newRecords(t) {
			ids = append(ids, r.EventID)
		}
		if len(ids) != 2 || ids[0] != headerID || ids[1] == headerID || rawevent.NormalizeID(ids[1]) != ids[1] {
			t.Errorf("spooled ids %v, want %s and another", ids, headerID)
		}
		if try == 1 && !slices.Equal(ids, first) {
			t.Errorf("retry spooled ids %v, want %v again", ids, first)
		}
		first = ids
	}

	// An envelope that goes bad after its events: what came before the bad
	// item is stored, and the reply says what was dropped.
	env = envelope(`{}`, `{"type":"event"}`, `{"message":"one"}`, `{"type":"event"}`, `{"message":"two"}`, `not a header`, ``)
	status, body = ts.postEnvelope(t, env)
	if status != 200 || !strings.Contains(string(body), `"dropped":[{"item":3,"type":"","reason":"The rest of the envelope was dropped: An item header is not a JSON object"}]`) {
		t.Errorf("%d %s, want 200 naming the dropped rest", status, body)
	}
	if recs := ts.newRecords(t); len(recs) != 2 || string(recs[0].Payload) != `{"message":"one"}` || string(recs[1].Payload) != `{"message":"two"}` {
		t.Errorf("%d records, want both events", len(recs))
	}
}

func TestHostileEnvelopes(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	const ev = `{"message":"hostile"}`
	nested := func(depth int) string {
		return `{"a":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + "}"
	}
	for _, tt := range []struct {
		name, body string
		status     int
	}{
		{"empty body", "", 400},
		{"only a newline", "\n", 400},
		{"header not JSON", "{\"event_id\":\n{\"type\":\"event\"}\n" + ev + "\n", 400},
		{"header a JSON array", "[]\n", 400},
		{"header over 8 KiB", `{"x":"` + strings.Repeat("h", 9000) + "\"}\n", 400},
		{"header over the line buffer", `{"x":"` + strings.Repeat("h", 40000) + "\"}\n", 400},
		{"item header over 8 KiB", "{}\n{\"type\":\"event\",\"x\":\"" + strings.Repeat("i", 8200) + "\"}\n" + ev + "\n", 400},
		{"item header not JSON", "{}\nnot json\n" + ev + "\n", 400},
		{"item header a string", "{}\n\"event\"\n" + ev + "\n", 400},
		{"negative length", "{}\n{\"type\":\"event\",\"length\":-1}\n" + ev + "\n", 400},
		{"fractional length", "{}\n{\"type\":\"event\",\"length\":1.5}\n" + ev + "\n", 400},
		{"string length", "{}\n{\"type\":\"event\",\"length\":\"5\"}\n" + ev + "\n", 400},
		{"length too short", fmt.Sprintf("{}\n{\"type\":\"event\",\"length\":%d}\n%s\n", len(ev)-3, ev), 400},
		{"length too short on an attachment", "{}\n{\"type\":\"attachment\",\"length\":2}\nabcd\n", 400},
		{"length too long", fmt.Sprintf("{}\n{\"type\":\"event\",\"length\":%d}\n%s\n", len(ev)+50, ev), 400},
		{"length far too long", "{}\n{\"type\":\"attachment\",\"length\":99999999999}\nabc\n", 400},
		{"truncated in a payload", fmt.Sprintf("{}\n{\"type\":\"event\",\"length\":%d}\n%s", len(ev), ev[:10]), 400},
		{"ends after an item header", "{}\n{\"type\":\"event\"}", 400},
		{"ends after a sized item header", "{}\n{\"type\":\"attachment\",\"length\":5}", 400},
		{"event not JSON", "{}\n{\"type\":\"event\"}\n{\"message\":\n", 400},
		{"event a JSON array", "{}\n{\"type\":\"event\"}\n[1,2]\n", 400},
		{"event empty", "{}\n{\"type\":\"event\",\"length\":0}\n\n", 400},
		{"event with trailing garbage", "{}\n{\"type\":\"event\"}\n{} x\n", 400},
		{"event nested 10k levels", "{}\n{\"type\":\"event\"}\n" + nested(10000) + "\n", 400},
		{"event nested 301 levels", "{}\n{\"type\":\"event\"}\n" + nested(301) + "\n", 400},
		{"event nested 300 levels", "{}\n{\"type\":\"event\"}\n" + nested(300) + "\n", 200},
		{"brackets in strings do not nest", "{}\n{\"type\":\"event\"}\n{\"m\":\"" + strings.Repeat("[{", 1000) + "\\\"\"}\n", 200},
		{"1 MiB of open brackets", "{}\n{\"type\":\"event\"}\n{" + strings.Repeat("[", 1<<20-1) + "\n", 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, body := ts.postEnvelope(t, []byte(tt.body))
			if status != tt.status {
				t.Fatalf("status %d %s, want %d", status, body, tt.status)
			}
			if status != 200 {
				t.Logf("message: %s", message(t, body))
				if recs := ts.newRecords(t); len(recs) != 0 {
					t.Errorf("%d records spooled", len(recs))
				}
			}
			ts.checkStillServes(t)
		})
	}
}

// rawRequest writes head and body to a new connection, half-closes it, and
// returns the reply.
func rawRequest(t *testing.T, ts *testServer, head string, body []byte) (int, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	io.WriteString(conn, head)
	conn.Write(body)
	conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the reply: %v", err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, reply
}

func TestHostileTransport(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	env := envelope(`{}`, `{"type":"event"}`, `{"message":"transport"}`)
	path := "/api/1/envelope/?sentry_key=" + testKey

	// The connection ends before Content-Length bytes arrived.
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", path, len(env)+100)
	if status, body := rawRequest(t, ts, head, env); status != 400 {
		t.Errorf("body shorter than Content-Length: %d %s, want 400", status, body)
	}
	// A chunked body that stops in the middle of a chunk.
	head = "POST " + path + " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	if status, body := rawRequest(t, ts, head, fmt.Appendf(nil, "%x\r\n%s", len(env)+10, env)); status != 400 {
		t.Errorf("truncated chunked body: %d %s, want 400", status, body)
	}
	// A well-formed chunked body in small chunks, without Content-Type.
	var chunked bytes.Buffer
	for c := range chunks(env, 7) {
		fmt.Fprintf(&chunked, "%x\r\n%s\r\n", len(c), c)
	}
	chunked.WriteString("0\r\n\r\n")
	if status, body := rawRequest(t, ts, head, chunked.Bytes()); status != 200 {
		t.Errorf("chunked body: %d %s", status, body)
	}
	if recs := ts.newRecords(t); len(recs) != 1 {
		t.Errorf("%d records from the chunked body, want 1", len(recs))
	}
	ts.checkStillServes(t)
}

// chunks cuts b into pieces of n bytes.
func chunks(b []byte, n int) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			k := min(n, len(b))
			if !yield(b[:k]) {
				return
			}
			b = b[k:]
		}
	}
}

func TestConcurrentRequests(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tr := ts.Client().Transport.(*http.Transport)
	tr.MaxIdleConnsPerHost = 32
	const workers, each = 16, 20
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				var body []byte
				want := 200
				switch i % 4 {
				case 0, 1:
					body = envelope(fmt.Sprintf(`{"event_id":"%016x%016x"}`, w+1, i), `{"type":"event"}`, fmt.Sprintf(`{"w":%d,"i":%d}`, w, i),
						`{"type":"attachment","length":5}`, "12345")
				case 2:
					body = envelope(`{}`, `{"type":"session"}`, `{}`)
				case 3:
					body, want = []byte("{}\n{\"type\":\"event\",\"length\":1000}\n{}"), 400
				}
				status, _, reply := ts.post(t, "/api/1/envelope/?sentry_key="+testKey, bytes.NewReader(body))
				if status != want {
					t.Errorf("worker %d request %d: %d %s, want %d", w, i, status, reply, want)
				}
			}
		})
	}
	wg.Wait()
	recs := ts.newRecords(t)
	if len(recs) != workers*each/2 {
		t.Errorf("%d records spooled, want %d", len(recs), workers*each/2)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		var w, i int
		fmt.Sscanf(string(r.Payload), `{"w":%d,"i":%d}`, &w, &i)
		if r.EventID != fmt.Sprintf("%016x%016x", w+1, i) || seen[r.EventID] {
			t.Errorf("record %s with payload %s", r.EventID, r.Payload)
		}
		seen[r.EventID] = true
	}
	ts.checkStillServes(t)
}

// parseEnvelopeBytes runs the envelope parser over data as the handler does.
// keep is called with each event but the last, which stays in the buffer.
func parseEnvelopeBytes(data []byte, maxEvent int64, keep func([]byte) error) (*envelopeParser, *eventBuf, error) {
	p := &envelopeParser{br: bufio.NewReaderSize(bytes.NewReader(data), 2*maxLine), maxEvent: limit{maxEvent, "MaxEventSize"}}
	ev := &eventBuf{}
	if err := p.readHeader(); err != nil {
		return p, ev, err
	}
	return p, ev, p.readItems(ev, keep)
}

// FuzzEnvelope checks that the envelope parser never panics or hangs, and
// that whatever it keeps as the event is a JSON object within the cap.
//
//	go test ./ingest -run '^$' -fuzz FuzzEnvelope -fuzztime 30s
func FuzzEnvelope(f *testing.F) {
	files, _ := filepath.Glob("testdata/envelopes/*/*")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) < 64<<10 {
			f.Add(b)
		}
	}
	f.Add([]byte("{}\n{\"type\":\"event\",\"length\":2}\r\n{}\r\n\n"))
	f.Add([]byte("{}\n{\"type\":\"event\"}\n[[[[{}]]]]"))
	f.Add([]byte("{}\n{\"type\":\"session\"}\n{\"sid\":\"x\"}\n{\"type\":\"sessions\",\"length\":3}\n{x}\n{\"type\":\"profile\"}\n{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const maxEvent = 4 << 10
		check := func(ev []byte) error {
			if len(ev) > maxEvent {
				t.Fatalf("kept an event of %d bytes over the %d cap", len(ev), maxEvent)
			}
			if err := checkEventJSON(ev); err != nil {
				t.Fatalf("kept an event that is not a JSON object: %v", err)
			}
			return nil
		}
		kept := 0
		p, ev, err := parseEnvelopeBytes(data, maxEvent, func(ev []byte) error { kept++; return check(ev) })
		if err != nil {
			var ie *ingestError
			if !errors.As(err, &ie) || ie.kind != malformed && ie.kind != tooLarge {
				t.Fatalf("error %v is not a 400 or 413", err)
			}
			return
		}
		if p.pending {
			kept++
			check(ev.b)
		}
		if kept != p.events || p.items > MaxEnvelopeItems {
			t.Fatalf("%d events handed on of %d read (%d items)", kept, p.events, p.items)
		}
		if p.eventID != "" && rawevent.NormalizeID(p.eventID) != p.eventID {
			t.Fatalf("event id %q not normalised", p.eventID)
		}
		if len(p.keptBuf) > maxKeptBytes {
			t.Fatalf("kept %d bytes of items, over the %d cap", len(p.keptBuf), maxKeptBytes)
		}
		for _, k := range p.kept {
			if !keptType(k.typ) || k.end-k.start > maxItemSize || checkItemJSON(p.keptBuf[k.start:k.end]) != nil {
				t.Fatalf("kept a bad %s item %q", k.typ, p.keptBuf[k.start:k.end])
			}
		}
		if d := p.droppedPayload(); d != nil && !json.Valid(d) {
			t.Fatalf("dropped-item counts %q are not JSON", d)
		}
	})
}

func TestValidJSONDepth(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in      string
		max     int
		tooDeep bool
	}{
		{`{}`, 1, false},
		{`{"a":[]}`, 1, true},
		{`{"a":"[[["}`, 1, false},
		{`{"a":"\"[[["}`, 1, false},
		{`{"a":"\\"}`, 1, false},
		{`{"a":"\\","b":[[]]}`, 2, true},
		{`{"a":"\\\"[","b":[]}`, 2, false},
		{`[[[]],[[]]]`, 3, false},
		{`[[[]],[[[]]]]`, 3, true},
	} {
		ok, tooDeep, reason, at := validJSON([]byte(tt.in), tt.max)
		if tooDeep != tt.tooDeep || ok == tt.tooDeep {
			t.Errorf("validJSON(%s, %d) = %v, too deep %v (%s at %d), want too deep %v", tt.in, tt.max, ok, tooDeep, reason, at, tt.tooDeep)
		}
	}
}

// TestValidJSON checks validJSON against fastjson.ValidateBytes, which it
// replaced, on inputs at the edges of the grammar (FuzzValidJSON explores
// further).
func TestValidJSON(t *testing.T) {
	t.Parallel()
	for _, in := range validJSONSeeds {
		checkValidJSON(t, []byte(in))
	}
}

var validJSONSeeds = []string{
	``, ` `, `{}`, ` { } `, `[]`, `[1,]`, `{"a":1,}`, `{"a" : 1 , "b":[true,false,null]}`,
	`{"a":tru}`, `{"a":nul}`, `{"a":falsey}`, `{"a":1}x`, `{"a":1}}`, `{"a":1]`, `[1}`, `{"a"}`, `{"a":}`, `{,}`, `{1:2}`,
	`0`, `-0`, `01`, `-`, `1.`, `1.5`, `.5`, `1e`, `1e+`, `1E-7`, `1.5e3`, `-12.34E+56`, `+1`, `0x10`, `1.e5`,
	`"a"`, `"a`, `"\"`, `"\\"`, `"\u12"`, `"\u12g4"`, `"\u00e9"`, `"\uABCD"`, `"\x"`, `"\/\b\f\n\r\t"`,
	"\"a\tb\"", "\"a\x01\"", "{\"a\x1f\":1}", "\"\xff\xfe\"", "\"a\x7f\"", `{"a\"b":1}`, `{"a\q":1}`, "\"\x15\\b\"", "\"\x15\\bx\x01\"", "{\"\x01\\n\":1}",
	"\t\n\r {}\n", "\v{}", `[[[[]]]]`, `[{"a":[{"b":[]}]}]`, `NaN`, `Infinity`, `[1 2]`, `{"a":1 "b":2}`,
}

func checkValidJSON(t *testing.T, b []byte) {
	ok, tooDeep, reason, at := validJSON(b, maxJSONDepth)
	want := fastjson.ValidateBytes(b) == nil
	if !depthAtMostForTest(b, maxJSONDepth) {
		want = false
	}
	if ok != want {
		t.Fatalf("validJSON(%q) = %v (too deep %v, %s at %d), fastjson and the depth bound say %v", b, ok, tooDeep, reason, at, want)
	}
	if !ok && (at < 0 || at > len(b)) {
		t.Fatalf("validJSON(%q): offset %d out of range", b, at)
	}
}

// depthAtMostForTest is the bracket count the ingest used before
// validJSON: whether b's brackets outside strings nest at most max deep.
func depthAtMostForTest(b []byte, max int) bool {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			i = rawevent.StringEnd(b, i+1)
		case '{', '[':
			depth++
			if depth > max {
				return false
			}
		case '}', ']':
			depth--
		}
	}
	return true
}

// FuzzValidJSON: validJSON accepts exactly what fastjson.ValidateBytes
// accepts (within the depth bound), so the ingest answers 400 to what the
// digest's parser would refuse, and nothing else.
func FuzzValidJSON(f *testing.F) {
	for _, s := range validJSONSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(strings.Repeat("[", 301) + strings.Repeat("]", 301)))
	f.Fuzz(func(t *testing.T, b []byte) { checkValidJSON(t, b) })
}

// TestWriteIDMatchesJSON checks that the reply written without
// encoding/json is byte for byte what writeJSON writes, and that ids JSON
// must escape still go through it.
func TestWriteIDMatchesJSON(t *testing.T) {
	for _, id := range []string{
		"9ec79c33ec9942ab8353589fcb2e04dc",
		"9ec79c33-ec99-42ab-8353-589fcb2e04dc",
		"",
		`a"b`,
		"<script>",
		"caf\u00e9",
		strings.Repeat("a", 65),
	} {
		got := httptest.NewRecorder()
		writeID(got, id)
		want := httptest.NewRecorder()
		if id == "" {
			writeJSON(want, http.StatusOK, struct{}{})
		} else {
			writeJSON(want, http.StatusOK, struct {
				ID string `json:"id"`
			}{id})
		}
		if got.Code != want.Code || got.Body.String() != want.Body.String() ||
			!reflect.DeepEqual(got.Header(), want.Header()) {
			t.Errorf("writeID(%q): %d %v %q, want %d %v %q", id, got.Code, got.Header(), got.Body,
				want.Code, want.Header(), want.Body)
		}
	}
	if !plainID("9ec79c33ec9942ab8353589fcb2e04dc") {
		t.Error("an event id does not take the direct path")
	}
}
