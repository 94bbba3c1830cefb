package rawevent

import (
	"strings"
	"testing"
)

func TestNormalizeID(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"},
		{"0123456789ABCDEF0123456789ABCDEF", "0123456789abcdef0123456789abcdef"},
		{"22d00b3f-d1b1-4b5d-8d20-49d138cd8a9c", "22d00b3fd1b14b5d8d2049d138cd8a9c"},
		{"00000000-0000-0000-0000-000000000000", ""},
		{"00000000000000000000000000000000", ""},
		{"22d00b3fd-1b1-4b5d-8d20-49d138cd8a9c", ""},
		{"22d00b3f-d1b1-4b5d-8d20-49d138cd8a9-", ""},
		{"0123456789abcdef0123456789abcdeg", ""},
		{"0123456789abcdef0123456789abcde", ""},
		{"{22d00b3f-d1b1-4b5d-8d20-49d138cd8a9c}", ""},
		{"", ""},
		{"22d00b3f-d1b1-4b5d-8d20-49d138cd8a9c"[:35] + "x", ""},
	} {
		if got := NormalizeID(tt.in); got != tt.want {
			t.Errorf("NormalizeID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if id := NewID(); NormalizeID([]byte(id)) != id || id[12] != '4' {
		t.Errorf("NewID() = %q, want a v4 UUID in 32 hex", id)
	}
}

func TestParseID(t *testing.T) {
	id, ok := ParseID("22D00B3F-d1b1-4b5d-8d20-49d138cd8a9c")
	if want := [16]byte{0x22, 0xd0, 0x0b, 0x3f, 0xd1, 0xb1, 0x4b, 0x5d, 0x8d, 0x20, 0x49, 0xd1, 0x38, 0xcd, 0x8a, 0x9c}; !ok || id != want {
		t.Errorf("ParseID = %x, %v", id, ok)
	}
}

// FuzzParseID checks the event-id rule: the string and byte forms agree,
// a normalised id is 32 lowercase hex digits that parses to the same
// bytes, and a refused id normalises to "".
func FuzzParseID(f *testing.F) {
	for _, s := range []string{
		"0123456789abcdef0123456789abcdef", "22d00b3f-d1b1-4b5d-8d20-49d138cd8a9c",
		"00000000-0000-0000-0000-000000000000", "22d00b3fd-1b1-4b5d-8d20-49d138cd8a9c", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := ParseID(s)
		if bid, bok := ParseID([]byte(s)); bid != id || bok != ok {
			t.Fatalf("ParseID(%q): string %x %v, bytes %x %v", s, id, ok, bid, bok)
		}
		n := NormalizeID(s)
		if !ok {
			if n != "" {
				t.Fatalf("NormalizeID(%q) = %q for a refused id", s, n)
			}
			return
		}
		if len(n) != 32 || strings.ToLower(n) != n {
			t.Fatalf("NormalizeID(%q) = %q", s, n)
		}
		if again, ok := ParseID(n); !ok || again != id {
			t.Fatalf("ParseID(NormalizeID(%q)) = %x %v, want %x", s, again, ok, id)
		}
	})
}
