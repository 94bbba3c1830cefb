package sourcemap

import (
	"errors"
	"testing"
)

// FuzzParse feeds the decoder (JSON, index maps, VLQ mappings) arbitrary
// bytes: it must return a map or an ErrBroken, never panic, and lookups in
// whatever it returns must not panic either.
func FuzzParse(f *testing.F) {
	f.Add(readFile(f, "traceback.min.map"), 0, 40)
	f.Add(readFile(f, "react-dom.min.map"), 0, 100)
	f.Add([]byte(`{"version":3,"sections":[{"offset":{"line":1,"column":10},"map":{"version":3,"sources":["b.js"],"names":["beta"],"mappings":"AACAA;AACA","sourcesContent":["x\nbeta()\n"]}}]}`), 1, 12)
	f.Add([]byte(`{"version":3,"sources":["a",null],"sourcesContent":[null],"names":[],"mappings":";;AAAA,CACA;gBAAA"}`), 2, 3)
	f.Fuzz(func(t *testing.T, b []byte, line, col int) {
		m, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrBroken) {
				t.Fatalf("Parse error %v does not wrap ErrBroken", err)
			}
			return
		}
		p, err := m.Lookup(line, col)
		if err != nil {
			return
		}
		m.Context(p, 5, 4)
		m.Size()
	})
}
