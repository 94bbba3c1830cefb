package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tinysink/tinysink/digest/rawevent"
)

// FuzzNormalize checks that Normalize never panics, fails only with
// ErrInvalid, returns clean fields and valid JSON, and that normalising its
// output is a fixed point.
func FuzzNormalize(f *testing.F) {
	for _, name := range []string{
		"go/bugsink_issue-16-go.json",
		"python/glitchtip_python_logging.json",
		"java/bugsink_top-level-message-no-exception.json",
		"node/relay_legacy_node_exception.json",
		"native/sentry-grouping_mobile1-xra.json",
		"csharp/bugsink_headers_as_lists.json",
		"unknown/sentry-cli_event.json",
	} {
		f.Add(readSample(f, name))
	}
	for _, s := range []string{
		`{}`, `[]`, `{"exception":{"type":"E"}}`, `{"message":{"formatted":"x"},"logentry":"y"}`,
		"{\"k\x00\":\"\xff\",\"user\":{\"ip_address\":\"{{auto}}\",\"ip_address\":\"x\"}}",
		`{"timestamp":"2024-01-02T03:04:05.1234567+02:00","level":40,"fingerprint":["{{ default }}",1]}`,
		`{"threads":{"values":[{"stacktrace":{"frames":[{"function":"f(int)","platform":"native"}]}}]}}`,
		`{"exception":[1e999,{"values":{}}],"breadcrumbs":{"a":1},"extra":{"n":-0.0e-0}}`,
	} {
		f.Add([]byte(s))
	}
	meta := testMeta
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, out, err := NewNormalizer().Normalize(raw, meta)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("normalised JSON is not valid: %q", out)
		}
		checkEvent(t, ev)

		ev2, out2, err := NewNormalizer().Normalize(out, meta)
		if err != nil {
			t.Fatalf("normalised JSON does not normalise again: %v\n%s", err, out)
		}
		// Sanitising keys can make two keys one (or a key a known one), so
		// only clean input must give the same Event straight away.
		clean := utf8.Valid(raw) && bytes.IndexByte(raw, 0) < 0 && !bytes.Contains(bytes.ToLower(raw), []byte(`\u0000`))
		if clean && !reflect.DeepEqual(ev, ev2) {
			t.Fatalf("Event changed when normalised again:\nfirst:  %+v\nsecond: %+v", *ev, *ev2)
		}
		if !bytes.Equal(out, out2) {
			t.Fatalf("normalising twice changed the JSON:\nonce:  %s\ntwice: %s", out, out2)
		}
		ev3, _, err := NewNormalizer().Normalize(out2, meta)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(ev2, ev3) {
			t.Fatalf("Event not stable:\n%+v\n%+v", *ev2, *ev3)
		}
	})
}

// checkEvent checks the invariants every Event must meet.
func checkEvent(t *testing.T, ev *Event) {
	t.Helper()
	if rawevent.NormalizeID(ev.EventID) != ev.EventID {
		t.Errorf("EventID %q is not 32 lowercase hex digits", ev.EventID)
	}
	if ev.Platform == "" || ev.Level == "" || ev.CalculatedType == "" || ev.GroupingKey == "" {
		t.Errorf("empty required field in %+v", *ev)
	}
	switch ev.GroupingMechanism {
	case MechanismV2, MechanismNone, MechanismMessage:
	default:
		t.Errorf("GroupingMechanism = %q", ev.GroupingMechanism)
	}
	if len(ev.Tags) > MaxTags {
		t.Errorf("%d tags", len(ev.Tags))
	}
	strs := []string{ev.Platform, ev.Level, ev.Logger, ev.ServerName, ev.Release, ev.Dist, ev.Environment,
		ev.Transaction, ev.SDKName, ev.SDKVersion, ev.CalculatedType, ev.CalculatedValue, ev.Title,
		ev.GroupingKey, ev.LastFrameFilename, ev.LastFrameModule, ev.LastFrameFunction, ev.Handled}
	for _, tag := range ev.Tags {
		if tag.Key == "" || tag.Value == "" {
			t.Errorf("empty tag %q", tag)
		}
		strs = append(strs, tag.Key, tag.Value)
	}
	for _, s := range strs {
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			t.Errorf("field %q is not clean UTF-8", s)
		}
	}
}

// TestNormalizeLargeInputsAreLinear guards against work per element that
// grows with the input: each payload is ~1 MiB of one repeated shape and
// must normalise within a generous bound.
func TestNormalizeLargeInputsAreLinear(t *testing.T) {
	repeat := func(prefix, item, suffix string) []byte {
		n := (1 << 20) / len(item)
		return []byte(prefix + strings.TrimSuffix(strings.Repeat(item, n), ",") + suffix)
	}
	for _, tt := range []struct {
		name string
		in   []byte
	}{
		{"default fingerprint parts", repeat(`{"message":"job 1 failed","fingerprint":[`, `"{{ default }}",`, `]}`)},
		{"tags", repeat(`{"tags":[`, `["k","v"],`, `]}`)},
		{"frames", repeat(`{"exception":[{"type":"E","mechanism":{"synthetic":true},"stacktrace":{"frames":[`, `{"function":"<unknown>","in_app":true},`, `]}}]}`)},
		{"headers", repeat(`{"request":{"headers":[`, `["X-A","b"],`, `]}}`)},
		{"breadcrumbs", repeat(`{"breadcrumbs":[`, `{"message":"m 1 2 3"},`, `]}`)},
		{"numbers", repeat(`{"extra":[`, `1e999,`, `]}`)},
	} {
		start := time.Now()
		_, out, err := NewNormalizer().Normalize(tt.in, testMeta)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !json.Valid(out) {
			t.Errorf("%s: invalid JSON", tt.name)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: took %v for %d bytes", tt.name, d, len(tt.in))
		}
	}
}
