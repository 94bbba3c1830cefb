package digest

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/tinysink/tinysink/digest/event"
	"github.com/tinysink/tinysink/digest/scrub"
)

// The digest normalises an event once and, when scrubbing changed it, only
// reads the fields back (Reindex) instead of normalising it again. That is
// the same as normalising again only if normalising a scrubbed, normalised
// body gives that body back, with the same fields: checked here on every
// sample event.
func TestReindexAfterScrubIsNormalize(t *testing.T) {
	t.Parallel()
	paths, err := filepath.Glob("event/testdata/events/*/*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no sample events: %v", err)
	}
	n := event.NewNormalizer()
	meta := event.Meta{EventID: "0123456789abcdef0123456789abcdef", IngestedAt: time.Unix(1700000000, 0).UTC(), RemoteAddr: "192.0.2.7"}
	scrubbed := 0
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		_, body, err := n.Normalize(raw, meta)
		if err != nil {
			continue // invalid samples are quarantined, never scrubbed
		}
		for _, opts := range []scrub.Options{{}, {ScrubIP: true, ExtraKeys: []string{"id"}}} {
			s, changed := scrub.Scrub(body, opts)
			if !changed {
				continue
			}
			scrubbed++
			want, again, err := n.Normalize(s, meta)
			if err != nil {
				t.Fatalf("%s: normalising the scrubbed body: %v", p, err)
			}
			if !bytes.Equal(again, s) {
				t.Errorf("%s: normalising the scrubbed body changed it:\n scrubbed   %.300s\n normalised %.300s", p, s, again)
			}
			got, err := n.Reindex(s, meta)
			if err != nil {
				t.Fatalf("%s: Reindex: %v", p, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: Reindex differs from Normalize:\n got  %+v\n want %+v", p, got, want)
			}
		}
	}
	if scrubbed == 0 {
		t.Fatal("no sample was changed by scrubbing")
	}
	t.Logf("%d scrubbed bodies checked", scrubbed)
}
