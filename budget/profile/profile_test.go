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
