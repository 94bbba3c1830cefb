package event

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Invalid UTF-8 is replaced by U+FFFD when stored, and the stored event's
// _meta says where.
func TestInvalidUTF8IsRecordedInMeta(t *testing.T) {
	n := NewNormalizer()
	stored := func(raw string) map[string]any {
		t.Helper()
		_, body, err := n.Normalize([]byte(raw), Meta{IngestedAt: time.Unix(1700000000, 0)})
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("stored body is not JSON: %v\n%s", err, body)
		}
		return m
	}
	remark := map[string]any{"": map[string]any{"rem": []any{[]any{"invalid_utf8", "s"}}}}

	ev := stored("{\"event_id\":\"0123456789abcdef0123456789abcdef\"," +
		"\"exception\":{\"values\":[{\"type\":\"E\",\"value\":\"bad \xff\xfe byte\"}]}," +
		"\"extra\":{\"k\xc3\":\"fine\",\"list\":[\"ok\",\"\xe2\x82\"]}}")
	exc := ev["exception"].(map[string]any)["values"].([]any)[0].(map[string]any)
	if exc["value"] != "bad \uFFFD byte" {
		t.Errorf("value = %q, want the bad bytes as one U+FFFD", exc["value"])
	}
	want := map[string]any{
		"exception": map[string]any{"values": map[string]any{"0": map[string]any{"value": remark}}},
		"extra": map[string]any{
			"k\uFFFD": remark,
			"list":    map[string]any{"1": remark},
		},
	}
	if !reflect.DeepEqual(ev["_meta"], want) {
		got, _ := json.Marshal(ev["_meta"])
		wantJSON, _ := json.Marshal(want)
		t.Errorf("_meta = %s\nwant %s", got, wantJSON)
	}

	// A bare exception list is stored under "values", and so is its remark.
	ev = stored("{\"exception\":[{\"type\":\"E\",\"value\":\"\xff\"}]}")
	want = map[string]any{"exception": map[string]any{"values": map[string]any{"0": map[string]any{"value": remark}}}}
	if !reflect.DeepEqual(ev["_meta"], want) {
		got, _ := json.Marshal(ev["_meta"])
		t.Errorf("bare list: _meta = %s", got)
	}

	// Clean events get no _meta, and keep one they brought.
	if ev := stored(`{"message":"fine"}`); ev["_meta"] != nil {
		t.Errorf("clean event: _meta = %v", ev["_meta"])
	}
	if ev := stored(`{"message":"fine","_meta":{"message":{"":{"len":9}}}}`); !reflect.DeepEqual(ev["_meta"], map[string]any{"message": map[string]any{"": map[string]any{"len": float64(9)}}}) {
		t.Errorf("own _meta not kept: %v", ev["_meta"])
	}

	// A key with a bad byte whose value has a member named "": the member
	// goes beside the key's remark. This used to write members into the
	// one remark map every event shared, until it contained itself and
	// writing any later event's _meta overflowed the stack (found by
	// FuzzNormalizeScrubbed).
	for range 2 {
		ev = stored("{\"extra\":{\"k\xc4\":{\"\":[\"\x90\"]}}}")
		want = map[string]any{"extra": map[string]any{"k\uFFFD": map[string]any{"": map[string]any{
			"rem": []any{[]any{"invalid_utf8", "s"}},
			"0":   remark,
		}}}}
		if !reflect.DeepEqual(ev["_meta"], want) {
			got, _ := json.Marshal(ev["_meta"])
			t.Errorf("member named \"\": _meta = %s", got)
		}
	}

	// Many bad fields: a bounded _meta that says there were more.
	var b strings.Builder
	b.WriteString(`{"extra":{`)
	for i := range 3 * maxUTF8Remarks {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\"k" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + "\":\"\xff\"")
	}
	b.WriteString(`}}`)
	ev = stored(b.String())
	meta := ev["_meta"].(map[string]any)
	if meta[""] == nil || len(meta["extra"].(map[string]any)) > maxUTF8Remarks {
		t.Errorf("many bad fields: %d recorded, top-level remark %v", len(meta["extra"].(map[string]any)), meta[""])
	}
}
