package ingest

import (
	"bytes"
	"strings"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/tinysink/tinysink/digest/rawevent"
)

func TestScanEvent(t *testing.T) {
	t.Parallel()
	const id = "0123456789abcdef0123456789abcdef"
	for _, tt := range []struct {
		name, in string
		id       string
		values   int
	}{
		{"empty", `{}`, "", 1},
		{"plain", `{"event_id":"` + id + `"}`, id, 2},
		{"dashed", `{"event_id":"01234567-89ab-cdef-0123-456789abcdef"}`, id, 2},
		{"last of many", `{"a":[1,{"event_id":"x"},"]"],"b":{"c":null},"event_id":"` + id + `"}`, id, 9},
		{"nested ids do not count", `{"x":{"event_id":"` + id + `"}}`, "", 3},
		{"escaped key", `{"\u0065vent_id":"` + id + `"}`, id, 2},
		{"escaped value", `{"event_id":"\u0030123456789abcdef0123456789abcdef"}`, id, 2},
		{"exact key beats an escaped one", `{"event\u005fid":"11111111111111111111111111111111","event_id":"` + id + `"}`, id, 3},
		{"first of duplicates", `{"event_id":"` + id + `","event_id":"11111111111111111111111111111111"}`, id, 3},
		{"not a string", `{"event_id":12}`, "", 2},
		{"invalid id", `{"event_id":"xyz"}`, "", 2},
		{"quotes and brackets in strings", `{"m":"\"}]{[\\","event_id":"` + id + `"}`, id, 3},
		{"whitespace", " {\n\t\"event_id\" : \"" + id + "\" ,\r\n \"n\" : [ 1 , 2 ] }\n", id, 5},
	} {
		gotID, gotN := scanEvent([]byte(tt.in))
		if gotID != tt.id || gotN != tt.values {
			t.Errorf("%s: scanEvent(%s) = %q, %d; want %q, %d", tt.name, tt.in, gotID, gotN, tt.id, tt.values)
		}
		// The validator's pass gathers the same.
		var sc eventScan
		if err := checkEventScan([]byte(tt.in), &sc); err != nil {
			t.Errorf("%s: checkEventScan: %v", tt.name, err)
			continue
		}
		if gotID, _ := prepareScanned([]byte(tt.in), &sc); gotID != tt.id || sc.values != tt.values {
			t.Errorf("%s: checkEventScan+prepareScanned(%s) = %q, %d; want %q, %d", tt.name, tt.in, gotID, sc.values, tt.id, tt.values)
		}
	}
}

// scanEvent builds no values: it allocates nothing but the id it returns.
func TestScanEventAllocs(t *testing.T) {
	b := []byte(`{"a":[` + strings.Repeat("0,", 100000) + `0],"event_id":"0123456789abcdef0123456789abcdef"}`)
	if n := testing.AllocsPerRun(10, func() { scanEvent(b) }); n > 1 {
		t.Errorf("scanEvent made %v allocations, want at most 1 (the id)", n)
	}
}

// fullEventID is what a full parse finds: fastjson's Get on a fresh parse.
func fullEventID(b []byte) string {
	var p fastjson.Parser
	v, err := p.ParseBytes(b)
	if err != nil {
		return "<invalid>"
	}
	return rawevent.NormalizeID(v.GetStringBytes("event_id"))
}

// countTree counts the values of a parsed JSON tree.
func countTree(v *fastjson.Value) int {
	n := 1
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		o.Visit(func(_ []byte, c *fastjson.Value) { n += countTree(c) })
	case fastjson.TypeArray:
		a, _ := v.Array()
		for _, c := range a {
			n += countTree(c)
		}
	}
	return n
}

// eventSeeds are small events of the shapes SDKs send. (Seeding with the
// multi-kilobyte testdata events made the fuzzer stall at 0 execs/s after
// a few seconds, with every input it had handed out already returned.)
func eventSeeds(f *testing.F) {
	for _, s := range []string{
		`{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","timestamp":"2023-07-15T10:30:00.000Z","platform":"java","level":"error"}`,
		`{"exception":{"values":[{"type":"E","value":"v","stacktrace":{"frames":[{"lineno":3,"vars":{"a":[1,2.5,-3e2,null,true]}}]}}]},"event_id":"01234567-89AB-cdef-0123-456789abcdef"}`,
		`{"\u0065vent_id":"0123456789ABCDEF0123456789ABCDEF","event_id":1}`,
		`{"a":"\ud83d\ude00 \" ] }","event_id":"\u0030123456789abcdef0123456789abcdef"}`,
		`{"event_id":"01234567-89ab-cdef-0123-456789abcdef","x":[[],{},"",-1.5e3,true,false,null]}`,
	} {
		f.Add([]byte(s))
	}
}

// FuzzEventID checks that, on every valid JSON object, the bounded scan
// finds the event_id a full parse finds, and counts the values the parse
// builds; and that it never panics on anything else.
//
//	go test ./ingest -run '^$' -fuzz FuzzEventID -fuzztime 30s
func FuzzEventID(f *testing.F) {
	eventSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		id, n := scanEvent(b)
		if checkEventJSON(b) != nil {
			return
		}
		if want := fullEventID(b); id != want {
			t.Fatalf("scanEvent id %q, full parse %q", id, want)
		}
		var p fastjson.Parser
		v, _ := p.ParseBytes(b)
		if want := countTree(v); n != want {
			t.Fatalf("scanEvent counted %d values, the parse built %d", n, want)
		}
		// The validator's own pass gathers the same, and the payloads
		// prepared from either are the same.
		var sc eventScan
		if err := checkEventScan(b, &sc); err != nil {
			t.Fatalf("checkEventJSON passed, checkEventScan: %v", err)
		}
		sid, spayload := prepareScanned(b, &sc)
		if sid != id || sc.values != n {
			t.Fatalf("checkEventScan found %q and %d values, scanEvent %q and %d", sid, sc.values, id, n)
		}
		if _, payload := prepareEvent(b); !bytes.Equal(spayload, payload) {
			t.Fatalf("prepareScanned and prepareEvent prepared different payloads")
		}
	})
}

// FuzzHeader checks that scanHeader reads what the fastjson parse it
// replaced read from every header line that is valid JSON, and refuses the
// rest.
//
//	go test ./ingest -run '^$' -fuzz FuzzHeader -fuzztime 30s
func FuzzHeader(f *testing.F) {
	f.Add([]byte(`{"type":"event","length":12,"content_type":"application/json"}`))
	f.Add([]byte(`{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","dsn":"https://k@o.example/1","sdk":{"name":"x"}}`))
	f.Add([]byte(`{"typ\u0065":"ev\u0065nt","length":null,"length":-0}`))
	f.Add([]byte(`{"length":1e3}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, line []byte) {
		h, err := scanHeader(line, "A header")
		var p fastjson.Parser
		v, perr := p.ParseBytes(line)
		if fastjson.ValidateBytes(line) != nil || perr != nil || v.Type() != fastjson.TypeObject {
			if err == nil {
				t.Fatalf("accepted %q", line)
			}
			return
		}
		if err != nil {
			t.Fatalf("refused %q: %v", line, err)
		}
		fresh := func() *fastjson.Value { var p fastjson.Parser; v, _ := p.ParseBytes(line); return v }
		if want := string(fresh().GetStringBytes("type")) == "event"; h.isEvent != want {
			t.Fatalf("isEvent %v, want %v", h.isEvent, want)
		}
		if want := rawevent.NormalizeID(fresh().GetStringBytes("event_id")); h.eventID != want {
			t.Fatalf("eventID %q, want %q", h.eventID, want)
		}
		wantKey := ""
		if dsn := fresh().GetStringBytes("dsn"); dsn != nil {
			wantKey = dsnKey(dsn)
		}
		if h.dsnKey != wantKey {
			t.Fatalf("dsnKey %q, want %q", h.dsnKey, wantKey)
		}
		n, err := h.itemLength()
		wantN, wantErr := int64(-1), false
		if lv := fresh().Get("length"); lv != nil && lv.Type() != fastjson.TypeNull {
			i, err := lv.Int64()
			wantN, wantErr = i, err != nil || i < 0
		}
		if (err != nil) != wantErr || err == nil && n != wantN {
			t.Fatalf("itemLength %d, %v; want %d, error %v", n, err, wantN, wantErr)
		}
	})
}
