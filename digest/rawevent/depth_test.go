package rawevent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tooDeepByteWise is tooDeep as it was before it jumped from quote to
// quote: the reference it must agree with.
func tooDeepByteWise(raw []byte) bool {
	depth := 0
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '"':
			for i++; i < len(raw) && raw[i] != '"'; i++ {
				if raw[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			if depth++; depth > MaxContainerDepth {
				return true
			}
		case '}', ']':
			depth--
		}
	}
	return false
}

func TestTooDeepStrings(t *testing.T) {
	deep := strings.Repeat("[", MaxContainerDepth+1)
	cases := []string{
		deep,
		`"` + deep + `"`,
		`"\"` + deep + `"`,
		`"\\"` + deep,
		`"\\\"` + deep + `"`,
		`"a\\\\"` + deep,
		`"unterminated \"` + deep,
		`{"k":"v\\","x":` + deep,
		`"\`,
		`"`,
		``,
	}
	paths, _ := filepath.Glob("testdata/events/*/*.json")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, string(b))
	}
	for _, c := range cases {
		if got, want := TooDeep([]byte(c)), tooDeepByteWise([]byte(c)); got != want {
			t.Errorf("TooDeep(%.60q) = %v, want %v", c, got, want)
		}
	}
}

func FuzzTooDeep(f *testing.F) {
	f.Add([]byte(`{"a":"\\\"[[["}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := TooDeep(b), tooDeepByteWise(b); got != want {
			t.Fatalf("TooDeep(%q) = %v, want %v", b, got, want)
		}
	})
}
