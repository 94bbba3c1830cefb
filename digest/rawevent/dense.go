package rawevent

import "strconv"

// Value-dense events. fastjson builds an 80-byte Value for every JSON value
// (and keeps every generation of its growing slab alive while the tree is),
// so a 1 MB event made of 300,000 small numbers costs ~100 MB to parse,
// while a 1 MB event made of one long string costs ~4 MB. To keep digest
// within the memory ceiling, an event with more than maxValues values is
// trimmed before it is parsed, the way Sentry trims oversized data bags:
// arrays and objects keep their first maxItems entries (plus a marker
// saying how many were dropped), and once maxValues values have been kept,
// further containers are emptied. Strings are never cut. Real SDK events
// have a few thousand values; the samples top out near 7,000.
const (
	maxValues = 20000
	maxItems  = 1000
)

// MaxValues is the number of JSON values above which an event is trimmed
// (see TrimDense). Ingest counts the values of every event as it scans it
// for its id, and trims the dense ones before they reach the spool, so
// neither ingest nor digest ever parses more than about this many values.
const MaxValues = maxValues

// TrimMarker starts the text that stands for trimmed entries.
const TrimMarker = "[tinysink: "

// CountValues counts the JSON values in raw, stopping once it passes limit.
// It assumes valid JSON (ingest checked it) and never fails.
func CountValues(raw []byte, limit int) int {
	n := 0
	for i := 0; i < len(raw) && n <= limit; i++ {
		switch c := raw[i]; c {
		case '"':
			n++
			for i++; i < len(raw) && raw[i] != '"'; i++ {
				if raw[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			n++
		case ':':
			n-- // the key just counted was not a value
		case 't', 'f', 'n', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			n++
			for i+1 < len(raw) && !isDelim(raw[i+1]) {
				i++
			}
		}
	}
	return n
}

func isDelim(c byte) bool {
	return c == ',' || c == ']' || c == '}' || c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == ':'
}

// TrimDense returns raw with containers cut as described above, and whether
// anything was cut. Input that is not valid JSON is returned unchanged. Its
// cost is a byte scan and one output buffer of about raw's size; it builds
// no values.
func TrimDense(raw []byte) ([]byte, bool) { return trimDense(raw) }

// trimDense returns raw with containers cut as described above, and whether
// anything was cut. Input that is not valid JSON is returned unchanged.
func trimDense(raw []byte) ([]byte, bool) {
	// Dense events usually trim to a small fraction of their size.
	t := trimmer{in: raw, out: make([]byte, 0, min(len(raw)/2, 64<<10))}
	end, ok := t.value(t.skipSpace(0), 0)
	if !ok || t.skipSpace(end) != len(raw) {
		return raw, false
	}
	return t.out, t.cut
}

type trimmer struct {
	in   []byte
	out  []byte
	kept int
	cut  bool
	// depthOnly keeps every entry and only replaces containers at
	// MaxContainerDepth and deeper (see depth.go).
	depthOnly bool
}

func (t *trimmer) skipSpace(i int) int {
	for i < len(t.in) && (t.in[i] == ' ' || t.in[i] == '\n' || t.in[i] == '\r' || t.in[i] == '\t') {
		i++
	}
	return i
}

// scalarEnd returns the end of the string or literal starting at i.
func (t *trimmer) scalarEnd(i int) (int, bool) {
	if i >= len(t.in) {
		return i, false
	}
	if t.in[i] == '"' {
		for i++; i < len(t.in); i++ {
			switch t.in[i] {
			case '\\':
				i++
			case '"':
				return i + 1, true
			}
		}
		return i, false
	}
	j := i
	for j < len(t.in) && !isDelim(t.in[j]) {
		j++
	}
	return j, j > i
}

// skip returns the end of the value at i without copying it.
func (t *trimmer) skip(i int, depth int) (int, bool) {
	if i >= len(t.in) || depth > 512 {
		return i, false
	}
	c := t.in[i]
	if c != '{' && c != '[' {
		return t.scalarEnd(i)
	}
	closer := byte(']')
	if c == '{' {
		closer = '}'
	}
	i = t.skipSpace(i + 1)
	if i < len(t.in) && t.in[i] == closer {
		return i + 1, true
	}
	for {
		var ok bool
		if c == '{' {
			if i, ok = t.scalarEnd(i); !ok {
				return i, false
			}
			i = t.skipSpace(i)
			if i >= len(t.in) || t.in[i] != ':' {
				return i, false
			}
			i = t.skipSpace(i + 1)
		}
		if i, ok = t.skip(i, depth+1); !ok {
			return i, false
		}
		i = t.skipSpace(i)
		if i >= len(t.in) {
			return i, false
		}
		if t.in[i] == closer {
			return i + 1, true
		}
		if t.in[i] != ',' {
			return i, false
		}
		i = t.skipSpace(i + 1)
	}
}

// value copies the value at i to out, trimming containers, and returns its
// end.
func (t *trimmer) value(i int, depth int) (int, bool) {
	if i >= len(t.in) || depth > 512 {
		return i, false
	}
	t.kept++
	c := t.in[i]
	if c != '{' && c != '[' {
		end, ok := t.scalarEnd(i)
		t.out = append(t.out, t.in[i:end]...)
		return end, ok
	}
	if t.depthOnly && depth >= MaxContainerDepth {
		t.cut = true
		t.out = append(t.out, `"`+DepthMarker+`"`...)
		return t.skip(i, depth)
	}
	closer := byte(']')
	if c == '{' {
		closer = '}'
	}
	t.out = append(t.out, c)
	i = t.skipSpace(i + 1)
	if i < len(t.in) && t.in[i] == closer {
		t.out = append(t.out, closer)
		return i + 1, true
	}
	written, dropped := 0, 0
	for {
		keep := t.depthOnly || written < maxItems && t.kept < maxValues
		var ok bool
		keyStart := i
		if c == '{' {
			if i, ok = t.scalarEnd(i); !ok {
				return i, false
			}
			keyEnd := i
			i = t.skipSpace(i)
			if i >= len(t.in) || t.in[i] != ':' {
				return i, false
			}
			i = t.skipSpace(i + 1)
			if keep {
				if written > 0 {
					t.out = append(t.out, ',')
				}
				t.out = append(t.out, t.in[keyStart:keyEnd]...)
				t.out = append(t.out, ':')
			}
		} else if keep && written > 0 {
			t.out = append(t.out, ',')
		}
		if keep {
			i, ok = t.value(i, depth+1)
			written++
		} else {
			i, ok = t.skip(i, depth+1)
			dropped++
		}
		if !ok {
			return i, false
		}
		i = t.skipSpace(i)
		if i >= len(t.in) {
			return i, false
		}
		if t.in[i] == closer {
			break
		}
		if t.in[i] != ',' {
			return i, false
		}
		i = t.skipSpace(i + 1)
	}
	if dropped > 0 {
		t.cut = true
		if written > 0 {
			t.out = append(t.out, ',')
		}
		note := `"` + TrimMarker + strconv.Itoa(dropped) + ` more entries trimmed]"`
		if c == '{' {
			t.out = append(t.out, `"tinysink_trimmed":`...)
		}
		t.out = append(t.out, note...)
	}
	t.out = append(t.out, closer)
	return i + 1, true
}
