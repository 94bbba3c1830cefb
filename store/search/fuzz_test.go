package search

import (
	"testing"
	"unicode/utf8"
)

// FuzzParse checks that any query parses or fails with ErrBadQuery, within
// its limits, without a panic.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"level:error", `browser:"Chrome 1"`, "-is:muted first_seen:>2026-11-01", "last_seen:-7d",
		"!release:1.*", "TypeError: x", `"unterminated`, "a:\"\" -: !", "first_seen:<=2026-11-01T10:00:00+02:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := Parse(s, now)
		if err != nil {
			return
		}
		if len(q.Terms) > MaxTerms+1 || len(q.Terms)+len(q.States) > MaxTerms+1 {
			t.Fatalf("Parse(%q): %d terms", s, len(q.Terms))
		}
		for _, tm := range q.Terms {
			k := tm.IndexKey()
			if len(k) > 1+MaxKey+1+MaxValue {
				t.Fatalf("Parse(%q): index key of %d bytes", s, len(k))
			}
			if utf8.ValidString(s) && !utf8.ValidString(k) {
				t.Fatalf("Parse(%q): invalid UTF-8 term %q", s, k)
			}
		}
	})
}
