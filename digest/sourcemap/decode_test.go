package sourcemap

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// col0 returns the 0-based column of the first occurrence of s on line 0.
func col0(t *testing.T, src, s string) int {
	t.Helper()
	i := strings.Index(src, s)
	if i < 0 {
		t.Fatalf("%q not in the minified source", s)
	}
	return i
}

func TestLookupTraceback(t *testing.T) {
	m, err := Parse(readFile(t, "traceback.min.map"))
	if err != nil {
		t.Fatal(err)
	}
	min := string(readFile(t, "traceback.min.js"))
	for _, tt := range []struct {
		at       string
		wantLine int
		wantName string
	}{
		{`throw new Error`, 5, ""},
		{`Error("failed!")`, 5, "Error"},
		{`i(r)}function i`, 15, "cb"},
		{`r(n)}return`, 20, "invoke"},
	} {
		p, err := m.Lookup(0, col0(t, min, tt.at))
		if err != nil {
			t.Errorf("%s: %v", tt.at, err)
			continue
		}
		if p.Source != "test.js" || p.Line != tt.wantLine || p.Name != tt.wantName {
			t.Errorf("Lookup(%s) = %+v, want test.js line %d name %q", tt.at, p, tt.wantLine, tt.wantName)
		}
	}
	p, _ := m.Lookup(0, col0(t, min, `throw new Error`))
	pre, line, post, ok := m.Context(p, 5, 4)
	if !ok || strings.TrimSpace(line) != "throw new Error('failed!');" || len(pre) != 4 || len(post) != 4 {
		t.Errorf("Context = %q / %q / %q, %v", pre, line, post, ok)
	}
	if _, err := m.Lookup(3, 0); !errors.Is(err, ErrOutside) {
		t.Errorf("Lookup past the last line: %v, want ErrOutside", err)
	}
}

func TestIndexMap(t *testing.T) {
	// Two sections: the second starts at line 1, column 10 of the output.
	idx := `{"version":3,"sections":[
	 {"offset":{"line":0,"column":0},"map":{"version":3,"sources":["a.js"],"names":["alpha"],"mappings":"AAAAA","sourcesContent":["alpha()\n"]}},
	 {"offset":{"line":1,"column":10},"map":{"version":3,"sources":["b.js"],"names":["beta"],"mappings":"AACAA;AACA","sourcesContent":["x\nbeta()\ny\n"]}}]}`
	m, err := Parse([]byte(idx))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		line, col int
		want      string
		wantLine  int
	}{{0, 0, "a.js", 1}, {1, 12, "b.js", 2}, {2, 0, "b.js", 3}} {
		p, err := m.Lookup(tt.line, tt.col)
		if err != nil || p.Source != tt.want || p.Line != tt.wantLine {
			t.Errorf("Lookup(%d,%d) = %+v, %v; want %s:%d", tt.line, tt.col, p, err, tt.want, tt.wantLine)
		}
	}
	if _, err := m.Lookup(1, 5); !errors.Is(err, ErrOutside) {
		t.Errorf("Lookup left of the second section: %v, want ErrOutside", err)
	}
}

func TestParseBroken(t *testing.T) {
	for _, in := range []string{
		``, `{`, `[]`, `{"version":2,"mappings":""}`, `{"version":3}`,
		`{"version":3,"sources":[],"mappings":"AAAA"}`,      // source 0 of 0
		`{"version":3,"sources":["a"],"mappings":"AA"}`,     // 2 fields
		`{"version":3,"sources":["a"],"mappings":"AAAA!"}`,  // not base64
		`{"version":3,"sources":["a"],"mappings":"g"}`,      // VLQ ends early
		`{"version":3,"sources":["a"],"mappings":"AAAAAA"}`, // 6 fields
		`{"version":3,"sources":["a"],"mappings":"D"}`,      // negative column
		`{"version":3,"sections":[{"offset":{"line":0,"column":0},"url":"x.map"}]}`,
		`{"version":3,"sources":["a"],"mappings":"gggggggggggggggggggggggA"}`,
	} {
		if _, err := Parse([]byte(in)); !errors.Is(err, ErrBroken) {
			t.Errorf("Parse(%q) = %v, want ErrBroken", in, err)
		}
	}
}

func TestJQuery(t *testing.T) {
	m, err := Parse(readFile(t, "jquery.min.map"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.segs) < 10000 {
		t.Errorf("%d segments decoded", len(m.segs))
	}
	if _, err := m.Lookup(2, 100); err != nil {
		t.Errorf("Lookup in jquery: %v", err)
	}
}
