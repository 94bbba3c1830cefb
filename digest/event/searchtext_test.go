package event

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

// TestDeferSearchText checks that a Normalizer with DeferSearchText
// writes the same body and fields as one without, except the search text,
// and that SearchTextOf gives the text of the stored body: the text
// Reindex gives it, which the UI's search within an issue uses.
func TestDeferSearchText(t *testing.T) {
	eager, lazy := NewNormalizer(), NewNormalizer()
	lazy.DeferSearchText = true
	meta := Meta{EventID: "0123456789abcdef0123456789abcdef", IngestedAt: time.Unix(1700000000, 0).UTC()}
	withText := 0
	for _, name := range samples(t) {
		raw := readSample(t, name)
		ev, body, err := eager.Normalize(raw, meta)
		if err != nil {
			continue
		}
		lev, lbody, err := lazy.Normalize(raw, meta)
		if err != nil {
			t.Fatalf("%s: deferred: %v", name, err)
		}
		if !bytes.Equal(body, lbody) {
			t.Fatalf("%s: the deferring normaliser wrote another body", name)
		}
		if ev.SearchTextDeferred() || !lev.SearchTextDeferred() || lev.SearchText != "" {
			t.Fatalf("%s: deferred %v/%v, text %q", name, ev.SearchTextDeferred(), lev.SearchTextDeferred(), lev.SearchText)
		}
		same := *lev
		same.SearchText, same.searchDeferred = ev.SearchText, false
		if !reflect.DeepEqual(&same, ev) {
			t.Fatalf("%s: fields differ besides the search text:\n got  %+v\n want %+v", name, &same, ev)
		}
		again, err := eager.Reindex(body, meta)
		if err != nil {
			t.Fatalf("%s: Reindex: %v", name, err)
		}
		text, err := lazy.SearchTextOf(body)
		if err != nil {
			t.Fatalf("%s: SearchTextOf: %v", name, err)
		}
		if text != again.SearchText {
			t.Fatalf("%s: SearchTextOf = %q, Reindex's %q", name, text, again.SearchText)
		}
		if text != "" {
			withText++
		}
		if text != ev.SearchText {
			// Real SDKs' events: the stored body gives the text the
			// event as it came gave.
			t.Errorf("%s: SearchTextOf = %q, the event as it came %q", name, text, ev.SearchText)
		}
	}
	if withText < 100 {
		t.Fatalf("only %d samples have a search text", withText)
	}
}
