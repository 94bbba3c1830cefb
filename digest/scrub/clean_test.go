package scrub

import (
	"strings"
	"testing"
)

// TestCleanCache checks that a string remembered as clean is skipped only
// where the same scan would find it clean: the same kind of string under
// the same options.
func TestCleanCache(t *testing.T) {
	code := `password = request.form["password"] + widget_code`
	frame := `{"exception":{"values":[{"type":"E","stacktrace":{"frames":[{"function":"f","context_line":` + quote(code) + `}]}}]}}`
	message := `{"message":` + quote(code) + `}`
	text := `the order widget_code=12345678 was rejected by the upstream service`
	plain := `{"message":` + quote(text) + `}`

	// Code: a key=value pair counts only with a quoted value, so the
	// context line is clean, and remembered.
	for range 2 {
		if out, changed := Scrub([]byte(frame), Options{}); changed {
			t.Fatalf("context line filtered: %s", out)
		}
	}
	if h := cleanHash([]byte(code), kCode, 0); cleanSlots[h&(cleanSize-1)].Load() != h {
		t.Fatal("a clean context line was not remembered")
	}
	// The same bytes as free text are a secret pair.
	out, changed := Scrub([]byte(message), Options{})
	if !changed || !strings.Contains(string(out), filtered) {
		t.Fatalf("the message was taken as clean because its text was a clean context line: %s", out)
	}

	// Clean under the default keys, remembered; secret with an extra key.
	for range 2 {
		if out, changed := Scrub([]byte(plain), Options{}); changed {
			t.Fatalf("filtered by default: %s", out)
		}
	}
	out, changed = Scrub([]byte(plain), Options{ExtraKeys: []string{"widget"}})
	if !changed || !strings.Contains(string(out), "widget_code="+filtered) {
		t.Fatalf("an extra key did not filter a string remembered as clean under the defaults: %s", out)
	}
	// Two lists of extra keys with the same bytes are different options.
	for range 2 {
		if out, changed := Scrub([]byte(plain), Options{ExtraKeys: []string{"qwi", "dgetq"}}); changed {
			t.Fatalf("filtered by qwi/dgetq: %s", out)
		}
	}
	out, changed = Scrub([]byte(plain), Options{ExtraKeys: []string{"q", "widget", "q"}})
	if !changed {
		t.Fatalf("extra keys q/widget/q were taken for qwi/dgetq: %s", out)
	}
}
