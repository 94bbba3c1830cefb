package profile

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestSampleEventIsRealistic(t *testing.T) {
	ev := sampleEvent(3)
	if !json.Valid(ev) {
		t.Fatal("sample event is not valid JSON")
	}
	if n := len(ev); n < 12000 || n > 16000 {
		t.Errorf("sample event is %d bytes, want about 14 KB", n)
	}
	if env := envelope(ev); !json.Valid(env[:len(`{"event_id":"`)+34]) {
		t.Errorf("envelope header is not JSON: %.60s", env)
	}
}

func TestLinks(t *testing.T) {
	page := []byte(`<a href="/a">x</a><a href="https://evil/">y</a><a href="//x">z</a><a href="/b?x=1&amp;y=2">w</a>`)
	if got, want := links(page), []string{"/a", "/b?x=1&y=2"}; !slices.Equal(got, want) {
		t.Errorf("links = %q, want %q", got, want)
	}
}

// The gate row alone decides: over a ceiling fails, under or without
// ceilings passes; the first rows over each ceiling are named either way.
func TestCheckGate(t *testing.T) {
	rep := func() *Report {
		return &Report{Gate: "warm", Results: []Result{{Stage: "start", RSS: 5, RSSAnon: 2}, {Stage: "peak", RSS: 30, RSSAnon: 12}, {Stage: "warm", RSS: 10, RSSAnon: 4}}}
	}
	for _, tt := range []struct {
		limit, anon      int64
		over             bool
		crossed, crossAn string
	}{
		{0, 0, false, "", ""},
		{20, 8, false, "peak", "peak"},
		{9, 0, true, "peak", ""},
		{0, 3, true, "", "peak"},
	} {
		r := rep()
		if over := r.check(tt.limit, tt.anon); over != tt.over || r.Crossed != tt.crossed || r.CrossedAnon != tt.crossAn {
			t.Errorf("check(%d, %d) = %v, crossed %q %q; want %v, %q %q", tt.limit, tt.anon, over, r.Crossed, r.CrossedAnon, tt.over, tt.crossed, tt.crossAn)
		}
	}
}
