package event

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tinysink/tinysink/digest/rawevent"
)

// A 300,000-value event is stored trimmed, with its other fields intact;
// no sample of the corpus is dense enough to be touched.
func TestNormalizeTrimsDenseEvents(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"message":"dense","extra":{"blob":[`)
	for i := range 300000 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprint(&b, i%100)
	}
	b.WriteString(`]}}`)
	ev, out, err := NewNormalizer().Normalize([]byte(b.String()), Meta{EventID: strings.Repeat("a", 32), IngestedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Title != "dense" || !strings.Contains(string(out), "299000 more entries trimmed") || len(out) > 10000 {
		t.Errorf("title %q, %d bytes out", ev.Title, len(out))
	}
	files, _ := filepath.Glob("testdata/events/*/*.json")
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		if n := rawevent.CountValues(raw, rawevent.MaxValues); n > rawevent.MaxValues/2 {
			t.Errorf("%s has %d values, near the trimming limit", f, n)
		}
	}
}

func BenchmarkNormalizeDense(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"message":"dense","extra":{"blob":[`)
	for i := range 300000 {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprint(&sb, i%100)
	}
	sb.WriteString(`]}}`)
	raw := []byte(sb.String())
	n := NewNormalizer()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := n.Normalize(raw, Meta{EventID: strings.Repeat("a", 32), IngestedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
}
