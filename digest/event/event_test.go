package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinysink/tinysink/digest/rawevent"
)

var update = flag.Bool("update", false, "rewrite testdata/golden")

// testMeta is the ingest metadata the sample tests use.
var testMeta = Meta{
	IngestedAt: time.Date(2025, 1, 2, 3, 4, 5, 123456000, time.UTC),
	RemoteAddr: "192.0.2.1",
}

// samples returns the paths of all sample events, relative to
// testdata/events.
func samples(t testing.TB) []string {
	t.Helper()
	paths, err := filepath.Glob("testdata/events/*/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 150 {
		t.Fatalf("found %d sample events, want the whole corpus", len(paths))
	}
	for i, p := range paths {
		paths[i] = strings.TrimPrefix(filepath.ToSlash(p), "testdata/events/")
	}
	return paths
}

func readSample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata/events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// summary is the stable, reviewable form of an Event kept in the golden
// files.
type summary struct {
	EventID           string      `json:"event_id"`
	Timestamp         string      `json:"timestamp"`
	Platform          string      `json:"platform"`
	Level             string      `json:"level"`
	Release           string      `json:"release"`
	Environment       string      `json:"environment"`
	Transaction       string      `json:"transaction"`
	CalculatedType    string      `json:"calculated_type"`
	CalculatedValue   string      `json:"calculated_value"`
	Title             string      `json:"title"`
	GroupingKey       string      `json:"grouping_key"`
	GroupingMechanism string      `json:"grouping_mechanism"`
	PreviousKey       string      `json:"previous_grouping_key,omitempty"`
	LastFrameFilename string      `json:"last_frame_filename"`
	LastFrameModule   string      `json:"last_frame_module"`
	LastFrameFunction string      `json:"last_frame_function"`
	Handled           string      `json:"handled"`
	Tags              [][2]string `json:"tags"`
}

// randomID stands in the golden files for an event id Normalize had to
// make up because the payload has none.
const randomID = "<random uuid4>"

func summarize(ev *Event, raw []byte) summary {
	s := summary{
		EventID:           ev.EventID,
		Timestamp:         ev.Timestamp.Format(time.RFC3339Nano),
		Platform:          ev.Platform,
		Level:             ev.Level,
		Release:           ev.Release,
		Environment:       ev.Environment,
		Transaction:       ev.Transaction,
		CalculatedType:    ev.CalculatedType,
		CalculatedValue:   ev.CalculatedValue,
		Title:             ev.Title,
		GroupingKey:       ev.GroupingKey,
		GroupingMechanism: ev.GroupingMechanism,
		PreviousKey:       ev.PreviousGroupingKey,
		LastFrameFilename: ev.LastFrameFilename,
		LastFrameModule:   ev.LastFrameModule,
		LastFrameFunction: ev.LastFrameFunction,
		Handled:           ev.Handled,
		Tags:              [][2]string{},
	}
	var payload struct {
		EventID any `json:"event_id"`
	}
	_ = json.Unmarshal(raw, &payload)
	if id, _ := payload.EventID.(string); rawevent.NormalizeID(id) == "" {
		s.EventID = randomID
	}
	for _, tag := range ev.Tags {
		s.Tags = append(s.Tags, [2]string{tag.Key, tag.Value})
	}
	return s
}

// normalize runs Normalize on a JSON literal with testMeta.
func normalize(t *testing.T, in string) *Event {
	t.Helper()
	ev, _, err := NewNormalizer().Normalize([]byte(in), testMeta)
	if err != nil {
		t.Fatalf("Normalize(%s): %v", in, err)
	}
	return ev
}

// TestGolden normalises every sample and compares what digest would use
// with testdata/golden. Run with -update to rewrite the files.
func TestGolden(t *testing.T) {
	n := NewNormalizer()
	for _, name := range samples(t) {
		t.Run(name, func(t *testing.T) {
			raw := readSample(t, name)
			ev, _, err := n.Normalize(raw, testMeta)
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			got, err := json.MarshalIndent(summarize(ev, raw), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata/golden", name)
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("summary differs from %s (run with -update and review the diff)\ngot:\n%s", path, got)
			}
		})
	}
}

// TestGoldenRandomID checks the samples without an event id get a fresh
// UUID4 each time.
func TestGoldenRandomID(t *testing.T) {
	raw := readSample(t, "unknown/sentry-cli_event.json") // dashed id
	ev, _, err := NewNormalizer().Normalize(raw, testMeta)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ev.EventID, "7c2cd07e4c0b474894dbd6b7fc632dab"; got != want {
		t.Errorf("dashed payload id: EventID = %q, want %q", got, want)
	}
	raw = readSample(t, "php/bugsink_laravel.json") // no id
	a, _, _ := NewNormalizer().Normalize(raw, testMeta)
	b, _, _ := NewNormalizer().Normalize(raw, testMeta)
	if a.EventID == b.EventID || !isUUID4(a.EventID) || !isUUID4(b.EventID) {
		t.Errorf("missing id: got %q and %q, want two different random uuid4s", a.EventID, b.EventID)
	}
}

func isUUID4(s string) bool {
	return rawevent.NormalizeID(s) == s && s[12] == '4' && strings.ContainsRune("89ab", rune(s[16]))
}

// TestNormalizedJSON checks the stored document of every sample: valid
// JSON, one shape for the normalised keys, and the same Event when it is
// normalised again.
func TestNormalizedJSON(t *testing.T) {
	n := NewNormalizer()
	for _, name := range samples(t) {
		raw := readSample(t, name)
		ev1, out1, err := n.Normalize(raw, testMeta)
		if err != nil {
			t.Errorf("%s: Normalize: %v", name, err)
			continue
		}
		if !json.Valid(out1) {
			t.Errorf("%s: normalised JSON is not valid JSON", name)
			continue
		}
		checkShape(t, name, out1, ev1)

		ev2, out2, err := n.Normalize(out1, testMeta)
		if err != nil {
			t.Errorf("%s: second Normalize: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(ev1, ev2) {
			t.Errorf("%s: Event changed when normalised again:\nfirst:  %+v\nsecond: %+v", name, *ev1, *ev2)
		}
		if !bytes.Equal(out1, out2) {
			t.Errorf("%s: normalised JSON changed when normalised again", name)
		}
	}
}

// checkShape checks the invariants readers of the stored JSON rely on.
func checkShape(t *testing.T, name string, out []byte, ev *Event) {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal(out, &d); err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	for _, k := range []string{"exception", "breadcrumbs", "threads"} {
		v, ok := d[k]
		if !ok {
			continue
		}
		o, ok := v.(map[string]any)
		if !ok {
			t.Errorf("%s: %s is %T, want an object", name, k, v)
			continue
		}
		if _, ok := o["values"].([]any); !ok {
			t.Errorf("%s: %s.values is %T, want a list", name, k, o["values"])
		}
	}
	if got := d["event_id"]; got != ev.EventID {
		t.Errorf("%s: event_id = %v, want %q", name, got, ev.EventID)
	}
	ts, ok := d["timestamp"].(float64)
	if !ok || time.UnixMicro(int64(ts*1e6+0.5)).Sub(ev.Timestamp).Abs() > time.Microsecond {
		t.Errorf("%s: timestamp = %v, want epoch seconds of %v", name, d["timestamp"], ev.Timestamp)
	}
	if got, want := d["received"], float64(testMeta.IngestedAt.UnixMicro())/1e6; got != want {
		t.Errorf("%s: received = %v, want %v", name, got, want)
	}
	if got := d["level"]; got != ev.Level {
		t.Errorf("%s: level = %v, want %q", name, got, ev.Level)
	}
	if got := d["platform"]; got != ev.Platform {
		t.Errorf("%s: platform = %v, want %q", name, got, ev.Platform)
	}
	if m, ok := d["message"]; ok {
		if _, ok := m.(string); !ok {
			t.Errorf("%s: message is %T, want a string", name, m)
		}
	}
	if l, ok := d["logentry"]; ok {
		if _, ok := l.(map[string]any); !ok {
			t.Errorf("%s: logentry is %T, want an object", name, l)
		}
	}
	if u, ok := d["user"].(map[string]any); ok && u["ip_address"] == autoIP {
		t.Errorf("%s: user.ip_address still %q", name, autoIP)
	}
}

// TestNormalizedJSONKeepsData checks that normalising drops nothing but what
// it is meant to change.
func TestNormalizedJSONKeepsData(t *testing.T) {
	raw := []byte(`{"event_id":"0123456789abcdef0123456789abcdef","extra":{"a":[1,2.5,"x",null,true]},` +
		`"exception":[{"type":"E","value":"v"}],"breadcrumbs":[{"message":"m"}],` +
		`"threads":{"values":[{"id":1}],"note":"kept"},"user":{"id":7,"ip_address":"{{auto}}"},` +
		`"message":{"formatted":"hello"},"level":30,"timestamp":"2024-01-02T03:04:05.5Z"}`)
	_, out, err := NewNormalizer().Normalize(raw, testMeta)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal([]byte(`{"event_id":"0123456789abcdef0123456789abcdef","extra":{"a":[1,2.5,"x",null,true]},`+
		`"exception":{"values":[{"type":"E","value":"v"}]},"breadcrumbs":{"values":[{"message":"m"}]},`+
		`"threads":{"values":[{"id":1}],"note":"kept"},"user":{"id":7,"ip_address":"192.0.2.1"},`+
		`"logentry":{"formatted":"hello"},"level":"warning","timestamp":1704164645.5,`+
		`"platform":"other","received":1735787045.123456}`), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("normalised JSON\ngot:  %s\nwant: %v", out, want)
	}
}

func TestNormalizeInvalid(t *testing.T) {
	deep := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	deepObj := `{"a":` + strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10001)
	for _, tt := range []struct {
		name, in, want string
	}{
		{"empty", "", "invalid JSON"},
		{"not JSON", "hello", "invalid JSON"},
		{"truncated", `{"a":`, "invalid JSON"},
		{"trailing garbage", `{} x`, "invalid JSON"},
		{"array", `[{"message":"x"}]`, "not a JSON object"},
		{"string", `"x"`, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"deep array", deep, "nesting"},
		{"deep object", deepObj, "nesting"},
	} {
		ev, out, err := NewNormalizer().Normalize([]byte(tt.in), testMeta)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want ErrInvalid mentioning %q", tt.name, err, tt.want)
		}
		if ev != nil || out != nil {
			t.Errorf("%s: got a result with an error", tt.name)
		}
		if err != nil && len(err.Error()) > 300 {
			t.Errorf("%s: error message is %d bytes long", tt.name, len(err.Error()))
		}
	}
}

// TestNormalizeDepthLimit checks that an event nested up to fastjson's
// limit (what ingest accepts) is kept, also when wrapping a bare exception,
// breadcrumbs or threads value adds levels: what would nest too deep
// becomes rawevent.DepthMarker, and the output normalises again to the same bytes.
// (Ingest refuses more than 300 levels; 301 and 302 are kept as well.)
func TestNormalizeDepthLimit(t *testing.T) {
	shapes := map[string]func(n int) string{
		"bare list": func(n int) string { // {"exception":[[[...]]]}
			return `{"exception":[` + strings.Repeat("[", n-2) + `1` + strings.Repeat("]", n-2) + `]}`
		},
		"bare item": func(n int) string { // {"breadcrumbs":{"a":{"a":...}}}
			return `{"breadcrumbs":` + strings.Repeat(`{"a":`, n-1) + `1` + strings.Repeat("}", n-1) + `}`
		},
		"objects in list items": func(n int) string { // {"threads":[{"a":[{"a":...}]}]}
			var b strings.Builder
			b.WriteString(`{"threads":[`)
			for i := 2; i < n; i++ {
				if i%2 == 0 {
					b.WriteString(`{"a":`)
				} else {
					b.WriteString(`[`)
				}
			}
			b.WriteString(`"deep"`)
			for i := n - 1; i >= 2; i-- {
				if i%2 == 0 {
					b.WriteString(`}`)
				} else {
					b.WriteString(`]`)
				}
			}
			b.WriteString(`]}`)
			return b.String()
		},
	}
	for name, shape := range shapes {
		for depth := 290; depth <= 302; depth++ {
			in := shape(depth) // depth levels of brackets
			_, out, err := NewNormalizer().Normalize([]byte(in), testMeta)
			if err != nil {
				t.Errorf("%s, depth %d: %v", name, depth, err)
				continue
			}
			if depth >= 299 && !bytes.Contains(out, []byte(rawevent.DepthMarker)) {
				t.Errorf("%s, depth %d: output has no %q", name, depth, rawevent.DepthMarker)
			}
			_, again, err := NewNormalizer().Normalize(out, testMeta)
			if err != nil {
				t.Errorf("%s, depth %d: output does not normalise again: %v", name, depth, err)
			} else if !bytes.Equal(again, out) {
				t.Errorf("%s, depth %d: normalising again changes the output", name, depth)
			}
		}
	}
}

func TestNormalizeHostile(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	for _, tt := range []struct {
		name string
		in   string
		// check inspects the result; nil means "no error, valid JSON".
		check func(t *testing.T, ev *Event, out []byte)
	}{
		{"invalid UTF-8", "{\"message\":\"a\xff\xfeb\",\"tags\":{\"k\xc3\":\"v\x80\"},\"x\xff\":1}", func(t *testing.T, ev *Event, out []byte) {
			if ev.Title != "a\uFFFDb" {
				t.Errorf("Title = %q, want %q", ev.Title, "a\uFFFDb")
			}
			if got, want := ev.Tags, []Tag{{"k\uFFFD", "v\uFFFD"}}; !reflect.DeepEqual(got, want) {
				t.Errorf("Tags = %q, want %q", got, want)
			}
			if !bytes.Contains(out, []byte("\"a\uFFFDb\"")) || !bytes.Contains(out, []byte("\"x\uFFFD\":1")) {
				t.Errorf("invalid bytes not replaced in %s", out)
			}
		}},
		{"NUL bytes", `{"mes\u0000sage":"x","message":"a\u0000b","tags":{"k\u0000":"v\u0000w"},"extra":{"n\u0000":"\u0000"}}`, func(t *testing.T, ev *Event, out []byte) {
			if ev.Title != "ab" {
				t.Errorf("Title = %q, want %q", ev.Title, "ab")
			}
			if got, want := ev.Tags, []Tag{{"k", "vw"}}; !reflect.DeepEqual(got, want) {
				t.Errorf("Tags = %q, want %q", got, want)
			}
			if bytes.Contains(out, []byte(`\u0000`)) || bytes.IndexByte(out, 0) >= 0 {
				t.Errorf("NUL left in %s", out)
			}
			if !bytes.Contains(out, []byte(`"extra":{"n":""}`)) {
				t.Errorf("extra not sanitised in %s", out)
			}
		}},
		{"raw control characters", "{\"message\":\"a\tb\x01c\"}", func(t *testing.T, ev *Event, out []byte) {
			if !bytes.Contains(out, []byte(`"message":"a\tb\u0001c"`)) {
				t.Errorf("control characters not escaped in %s", out)
			}
		}},
		{"bad escapes and numbers", `{"message":"\q\u12","extra":{"a":NaN,"b":-Inf,"c":01,"d":1.,"e":1e999,"f":--1},"level":"info"}`, nil},
		{"1 MiB string", `{"message":"` + big + `"}`, func(t *testing.T, ev *Event, out []byte) {
			if got := len([]rune(ev.CalculatedValue)); got != maxValueLen {
				t.Errorf("CalculatedValue has %d runes, want %d", got, maxValueLen)
			}
			if len(out) < 1<<20 {
				t.Errorf("stored JSON has %d bytes, want the whole message kept", len(out))
			}
		}},
		{"1 MiB exception value", `{"exception":{"values":[{"type":"E","value":"` + big + `"}]}}`, func(t *testing.T, ev *Event, out []byte) {
			if !strings.HasSuffix(ev.CalculatedValue, "…") || len([]rune(ev.CalculatedValue)) != maxValueLen {
				t.Errorf("CalculatedValue not cut to %d runes with an ellipsis", maxValueLen)
			}
		}},
		{"many tags", `{"tags":{` + manyTags(5000) + `}}`, func(t *testing.T, ev *Event, out []byte) {
			if len(ev.Tags) != MaxTags {
				t.Errorf("got %d tags, want %d", len(ev.Tags), MaxTags)
			}
		}},
		{"wrong types everywhere", `{"exception":"boom","breadcrumbs":5,"threads":"x","tags":"t","user":[1],` +
			`"contexts":[],"request":"r","fingerprint":"f","level":[],"platform":{},"timestamp":{},"sdk":1,` +
			`"stacktrace":{"frames":{}},"logentry":7,"message":[1],"event_id":5}`, nil},
		{"nulls everywhere", `{"exception":null,"breadcrumbs":null,"threads":null,"tags":null,"user":null,` +
			`"contexts":null,"request":null,"fingerprint":null,"level":null,"platform":null,"timestamp":null,` +
			`"exception":{"values":[null]},"message":null,"logentry":null}`, nil},
		{"frames of wrong types", `{"exception":{"values":[{"mechanism":{"synthetic":true},"stacktrace":{"frames":[1,null,"x",[],{"function":null}]}}]}}`, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ev, out, err := NewNormalizer().Normalize([]byte(tt.in), testMeta)
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			if !json.Valid(out) {
				t.Fatalf("normalised JSON is not valid: %.300s", out)
			}
			if _, _, err := NewNormalizer().Normalize(out, testMeta); err != nil {
				t.Errorf("normalised JSON does not normalise again: %v", err)
			}
			if tt.check != nil {
				tt.check(t, ev, out)
			}
		})
	}
}

func manyTags(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k`)
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString(`_`)
		b.WriteString(time.Duration(i).String())
		b.WriteString(`":"v"`)
	}
	return b.String()
}

// TestNormalizerReuse checks that results do not alias parser memory that
// the next call overwrites.
func TestNormalizerReuse(t *testing.T) {
	n := NewNormalizer()
	first := []byte(`{"message":"first message","tags":{"a":"first"},"release":"r1"}`)
	ev1, out1, err := n.Normalize(first, testMeta)
	if err != nil {
		t.Fatal(err)
	}
	keep := string(out1)
	if _, _, err := n.Normalize([]byte(`{"message":"SECOND MESSAGE","tags":{"a":"SECOND"},"release":"R2"}`), testMeta); err != nil {
		t.Fatal(err)
	}
	if ev1.Title != "first message" || ev1.Tags[0].Value != "first" || ev1.Release != "r1" {
		t.Errorf("first Event changed after reuse: %+v", *ev1)
	}
	if string(out1) != keep {
		t.Errorf("first output changed after reuse: %s", out1)
	}
	for i := range first {
		first[i] = 'x'
	}
	if ev1.Title != "first message" {
		t.Errorf("Event aliases the input")
	}
}

func TestGroupingHash(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"KeyError: exception message", "6496bbc04e9f061fa43336aee2ca1ef2824bb0287f0df3ee92ee6d4bfd3219e3"},
	} {
		if got := GroupingHash(tt.in); got != tt.want {
			t.Errorf("GroupingHash(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestConcurrentNormalizers runs one Normalizer per goroutine over the
// corpus; with -race it checks that the shared lazily built parts (regexps,
// User-Agent parsers) are safe to share.
func TestConcurrentNormalizers(t *testing.T) {
	names := samples(t)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			n := NewNormalizer()
			for i := g; i < len(names); i += 2 {
				if _, _, err := n.Normalize(readSample(t, names[i]), testMeta); err != nil {
					t.Errorf("%s: %v", names[i], err)
				}
			}
		})
	}
	wg.Wait()
}

// TestGoldenKeysKept proves that the message rule (RuleSyntheticMessage)
// changes no other sample's grouping key: every sample keeps the key
// recorded in testdata/keys-bugsink-v2.json before that rule, except the
// ones listed in testdata/golden/CHANGES.md, which must be events the rule
// covers and whose previous key is the recorded one.
func TestGoldenKeysKept(t *testing.T) {
	var before map[string]string
	b, err := os.ReadFile("testdata/keys-bugsink-v2.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &before); err != nil {
		t.Fatal(err)
	}
	changes, err := os.ReadFile("testdata/golden/CHANGES.md")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(string(changes), "\n") {
		if rest, ok := strings.CutPrefix(line, "| `"); ok {
			if name, _, ok := strings.Cut(rest, "`"); ok {
				listed[name] = true
			}
		}
	}
	n := NewNormalizer()
	seen := map[string]bool{}
	for _, name := range samples(t) {
		raw := readSample(t, name)
		ev, _, err := n.Normalize(raw, testMeta)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		old, had := before[name]
		switch {
		case had && old == ev.GroupingKey:
			if listed[name] {
				t.Errorf("%s: listed in CHANGES.md but its key %q did not change", name, old)
			}
		case !listed[name]:
			t.Errorf("%s: grouping key %q, was %q (had a key: %v), and CHANGES.md does not say why", name, ev.GroupingKey, old, had)
		case ev.Rule != RuleSyntheticMessage:
			t.Errorf("%s: key changed under rule %q; only %q may change keys", name, ev.Rule, RuleSyntheticMessage)
		case had && ev.PreviousGroupingKey != old:
			t.Errorf("%s: previous key %q, want the recorded %q", name, ev.PreviousGroupingKey, old)
		}
		seen[name] = true
	}
	for name := range before {
		if !seen[name] {
			t.Errorf("%s: recorded in keys-bugsink-v2.json but no longer a sample", name)
		}
	}
	for name := range listed {
		if !seen[name] {
			t.Errorf("%s: listed in CHANGES.md but not a sample", name)
		}
	}
}

// TestNormalizerShed: a normaliser that has shed its buffers after a large
// event normalises the next one as one that never had them.
func TestNormalizerShed(t *testing.T) {
	big := []byte(`{"message":"big","extra":{` + strings.Repeat(`"k":"`+strings.Repeat("v", 1000)+`",`, 200) + `"end":1}}`)
	small := []byte(`{"message":"small","tags":{"a":"b"}}`)
	m := Meta{EventID: "0123456789abcdef0123456789abcdef", IngestedAt: time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC)}
	n := NewNormalizer()
	if _, _, err := n.Normalize(big, m); err != nil {
		t.Fatal(err)
	}
	if cap(n.buf) < 100<<10 {
		t.Fatalf("buffer of %d bytes after a 200 KB event", cap(n.buf))
	}
	n.Shed()
	if n.buf != nil {
		t.Fatal("Shed kept the output buffer")
	}
	ev1, out1, err := n.Normalize(small, m)
	if err != nil {
		t.Fatal(err)
	}
	ev2, out2, err := NewNormalizer().Normalize(small, m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out1, out2) || ev1.Title != ev2.Title {
		t.Errorf("after Shed:\n%s\nfresh:\n%s", out1, out2)
	}
}
