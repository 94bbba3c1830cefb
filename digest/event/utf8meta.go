package event

import (
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/tinysink/tinysink/internal/jtree"
)

// Invalid UTF-8 in an event's strings is replaced by U+FFFD when the event
// is stored (see writer.str). So that the replacement is not silent, the
// stored event then carries a "_meta" object, in the shape Sentry uses for
// its processing remarks: it mirrors the event's structure down to each
// string (or object key) that held invalid UTF-8, with array indexes as
// string keys, and there holds
//
//	"": {"rem": [["invalid_utf8", "s"]]}
//
// ("s": the value was substituted). For example an exception value with a
// bad byte gives
//
//	"_meta": {"exception": {"values": {"0": {"value": {"": {"rem": [["invalid_utf8", "s"]]}}}}}}
//
// Paths are those of the event as received, except that exception,
// breadcrumbs and threads sent as bare lists get the "values" level they
// are stored with. At most maxUTF8Remarks fields are recorded; past that,
// the top level's own entry says so with the remark "invalid_utf8_more".
// An event that carries a "_meta" of its own and has invalid UTF-8 keeps
// only this one.

// maxUTF8Remarks bounds the fields recorded in _meta.
const maxUTF8Remarks = 100

// invalidUTF8Meta returns the _meta object for the invalid UTF-8 in root,
// or nil when there is none. raw is root's source: when it is valid UTF-8
// as a whole no string in it can be invalid, and nothing is walked.
func invalidUTF8Meta(raw []byte, root *jtree.Value) map[string]any {
	if utf8.Valid(raw) {
		return nil
	}
	m := &metaBuilder{root: map[string]any{}}
	m.walk(root, 0)
	if m.n == 0 {
		return nil
	}
	if m.n > maxUTF8Remarks {
		m.root[""] = map[string]any{"rem": [][]string{{"invalid_utf8_more", "s"}}}
	}
	return m.root
}

// metaBuilder collects the paths of invalid strings.
type metaBuilder struct {
	root map[string]any
	path []string
	n    int // fields found
}

func (m *metaBuilder) walk(v *jtree.Value, depth int) {
	switch v.Type() {
	case jtree.TypeString:
		if b, _ := v.StringBytes(); !utf8.Valid(b) {
			m.mark()
		}
	case jtree.TypeArray:
		a, _ := v.Array()
		for i, item := range a {
			m.path = append(m.path, strconv.Itoa(i))
			m.walk(item, depth+1)
			m.path = m.path[:len(m.path)-1]
		}
	case jtree.TypeObject:
		o, _ := v.Object()
		o.Visit(func(k []byte, item *jtree.Value) {
			name := sanitize(k)
			m.path = append(m.path, name)
			if !utf8.Valid(k) {
				m.mark()
			}
			pushed := 1
			if depth == 0 && item.Type() == jtree.TypeArray && (name == "exception" || name == "breadcrumbs" || name == "threads") {
				m.path = append(m.path, "values")
				pushed++
			}
			m.walk(item, depth+1)
			m.path = m.path[:len(m.path)-pushed]
		})
	}
}

// mark records the current path.
func (m *metaBuilder) mark() {
	m.n++
	if m.n > maxUTF8Remarks {
		return
	}
	node := m.root
	for _, p := range m.path {
		next, _ := node[p].(map[string]any)
		if next == nil {
			next = map[string]any{}
			node[p] = next
		}
		node = next
	}
	// A fresh map per field, and one a key "" may already have made: the
	// remark's "" is also where the members of an object's key "" go, so a
	// shared remark map would get them, and a path through it make it
	// contain itself (a cycle appendMeta never leaves).
	rem, _ := node[""].(map[string]any)
	if rem == nil {
		rem = map[string]any{}
		node[""] = rem
	}
	rem["rem"] = [][]string{{"invalid_utf8", "s"}}
}

// appendMeta writes "_meta": meta as the next key of the open object. Its
// keys and strings are written as the writer writes every string (w.str),
// so the document reads the same when it is normalised again.
func (w *writer) appendMeta(meta map[string]any) {
	w.keyString("_meta")
	w.metaValue(meta)
}

// metaValue writes one value of a _meta tree: objects with their keys in
// order, lists of strings, strings.
func (w *writer) metaValue(v any) {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		w.buf = append(w.buf, '{')
		for i, k := range keys {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			w.text(k)
			w.buf = append(w.buf, ':')
			w.metaValue(v[k])
		}
		w.buf = append(w.buf, '}')
	case [][]string:
		w.buf = append(w.buf, '[')
		for i, x := range v {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			w.metaValue(x)
		}
		w.buf = append(w.buf, ']')
	case []string:
		w.buf = append(w.buf, '[')
		for i, x := range v {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			w.text(x)
		}
		w.buf = append(w.buf, ']')
	case string:
		w.text(v)
	default:
		w.buf = append(w.buf, "null"...)
	}
}
