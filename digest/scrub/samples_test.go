package scrub

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"testing"
)

// A change is one value that scrubbing replaced: where, and what it was.
type change struct {
	path   string
	before string
}

// changes returns the values that differ between the JSON documents a and
// b, by path, sorted.
func changes(t testing.TB, a, b []byte) []change {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatal(err)
	}
	var out []change
	var walk func(path string, x, y any)
	walk = func(path string, x, y any) {
		switch x := x.(type) {
		case map[string]any:
			if y, ok := y.(map[string]any); ok {
				for k := range x {
					walk(path+"."+k, x[k], y[k])
				}
				return
			}
		case []any:
			if y, ok := y.([]any); ok && len(x) == len(y) {
				for i := range x {
					walk(fmt.Sprintf("%s[%d]", path, i), x[i], y[i])
				}
				return
			}
		}
		if !reflect.DeepEqual(x, y) {
			bx, _ := json.Marshal(x)
			out = append(out, change{path, string(bx)})
		}
	}
	walk("", va, vb)
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}

// knownSecrets are the values the real samples do hold under secret keys,
// and so the only replacements scrubbing them may make, each with why it
// is right: sample → path → reason.
var knownSecrets = map[string]map[string]string{
	"javascript/spotlight_envelope_javascript.json": {
		// A console breadcrumb logging a whole Sentry envelope (as its
		// message and as its argument), whose event has the page's Cookie
		// header and request.cookies.
		`.breadcrumbs[11].message`:           "a logged envelope's Cookie header and request.cookies",
		`.breadcrumbs[11].data.arguments[0]`: "the same envelope as the console call's argument",
	},
	"native/glitchtip_sentry_cli_send_event_no_level.json": {
		// sentry-cli sends the whole environment; one variable is a
		// session identifier, the kind of value the key rule exists
		// to hide (this one holds "this-is-deprecated").
		`.extra.environ.GNOME_DESKTOP_SESSION_ID`: `"session"+"id" words: a session identifier`,
	},
	"other/sentry-java_sentry_event.json": {
		`.contexts.response.cookies`: "the response's PHPSESSID and csrftoken cookies",
	},
}

// TestSamplesFalsePositives scrubs every real sample event and checks that
// each value it replaces is a known secret: the samples carry no others,
// so anything else filtered is a false positive.
func TestSamplesFalsePositives(t *testing.T) {
	total := 0
	for _, name := range samples(t) {
		doc := readSample(t, name)
		out, _ := Scrub(doc, Options{})
		for _, c := range changes(t, doc, out) {
			total++
			if _, ok := knownSecrets[name][c.path]; !ok {
				t.Errorf("%s: %s was filtered: %.200s", name, c.path, c.before)
			}
		}
	}
	want := 0
	for _, m := range knownSecrets {
		want += len(m)
	}
	if total != want {
		t.Errorf("%d values filtered in the samples, want the %d known secrets", total, want)
	}
}
