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
	if h := cleanHash([]byte(code), kCode, 0); !cleanKnown(h) {
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

// TestCleanCacheWays checks that a set keeps its last cleanWays hashes:
// hashes that share a set do not push each other out until there are
// more of them than it has slots.
func TestCleanCacheWays(t *testing.T) {
	var hs []uint64
	for i := range cleanWays + 1 {
		// The same top bits (set 5), different low bits, odd like cleanHash's.
		hs = append(hs, 5<<(64-cleanSetBits)|uint64(i)<<8|1)
	}
	empty := uint64(6)<<(64-cleanSetBits) | 1 // a hash of another set
	for _, h := range []uint64{hs[0], empty} {
		for i := range cleanSet(h) {
			cleanSet(h)[i].Store(0)
		}
	}
	for _, h := range hs[:cleanWays] {
		cleanNote(h)
	}
	for i, h := range hs[:cleanWays] {
		if !cleanKnown(h) {
			t.Fatalf("hash %d of %d in one set was forgotten", i, cleanWays)
		}
	}
	if cleanKnown(hs[cleanWays]) {
		t.Fatal("a hash never noted is known")
	}
	cleanNote(hs[cleanWays])
	if cleanKnown(hs[0]) {
		t.Fatal("the oldest hash stayed when a set overflowed")
	}
	for i, h := range hs[1:] {
		if !cleanKnown(h) {
			t.Fatalf("hash %d was pushed out instead of the oldest", i+1)
		}
	}
	if cleanKnown(empty) {
		t.Fatal("noting hashes in one set filled another")
	}
}
