// Package sourcemap decodes JavaScript source maps (ECMA-426: regular and
// index maps, base64 VLQ mappings, sourcesContent, names) and applies them
// to the stack frames of stored events, so that a frame of app.min.js:1:5823
// shows the original file, line, function and source lines. A frame that
// cannot be mapped says why.
package sourcemap

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrBroken is wrapped by every error that says a map cannot be decoded.
var ErrBroken = errors.New("sourcemap: broken map")

// ErrOutside is returned by Lookup for a position no mapping covers.
var ErrOutside = errors.New("sourcemap: position outside the map")

// Limits on what Parse accepts, so a hostile map cannot take the memory.
const (
	// MaxMapSize is the largest map Parse reads.
	MaxMapSize = 32 << 20
	// maxSegments bounds the decoded mappings (24 bytes each).
	maxSegments = 4 << 20
	// maxSections bounds an index map's sections.
	maxSections = 10000
)

// segment is one decoded mapping: a generated position and, when src >= 0,
// the original one. All numbers are 0-based.
type segment struct {
	genLine, genCol int32
	src             int32 // index into Map.sources, or -1
	line, col       int32
	name            int32 // index into Map.names, or -1
}

// Map is a decoded source map, ready for lookups. It is not safe for
// concurrent use (lookups build line indexes of the sources on demand).
type Map struct {
	sources  []string
	contents []*string // sourcesContent, parallel to sources (nil entries: none)
	names    []string
	segs     []segment
	lines    map[int32][]int32 // source index → start offsets of its lines
}

// Position is an original position found by Lookup.
type Position struct {
	Source string // the source's path, with the map's sourceRoot applied
	Line   int    // 1-based
	Column int    // 1-based
	Name   string // the original name of the token at the position, if any
	src    int32
}

// rawMap is a regular or an index map as JSON.
type rawMap struct {
	Version        int          `json:"version"`
	SourceRoot     string       `json:"sourceRoot"`
	Sources        []*string    `json:"sources"`
	SourcesContent []*string    `json:"sourcesContent"`
	Names          []string     `json:"names"`
	Mappings       *string      `json:"mappings"`
	Sections       []rawSection `json:"sections"`
}

type rawSection struct {
	Offset struct {
		Line   int `json:"line"`
		Column int `json:"column"`
	} `json:"offset"`
	Map *rawMap `json:"map"`
	URL string  `json:"url"`
}

// Parse decodes a source map (a regular map or an index map of sections).
// Errors wrap ErrBroken and say what is wrong.
func Parse(b []byte) (*Map, error) {
	if len(b) > MaxMapSize {
		return nil, fmt.Errorf("%w: over %d MiB", ErrBroken, MaxMapSize>>20)
	}
	// A map may start with the XSSI guard )]}' (as some bundlers write).
	if s := strings.TrimLeft(string(b[:min(len(b), 16)]), " \t\r\n\ufeff"); strings.HasPrefix(s, ")]}") {
		if i := strings.IndexByte(string(b), '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	var rm rawMap
	if err := json.Unmarshal(b, &rm); err != nil {
		return nil, fmt.Errorf("%w: invalid JSON: %v", ErrBroken, err)
	}
	m := &Map{}
	if rm.Sections != nil {
		if len(rm.Sections) > maxSections {
			return nil, fmt.Errorf("%w: more than %d sections", ErrBroken, maxSections)
		}
		for i, s := range rm.Sections {
			if s.Map == nil {
				if s.URL != "" {
					return nil, fmt.Errorf("%w: section %d refers to %q; only embedded section maps are supported", ErrBroken, i, s.URL)
				}
				return nil, fmt.Errorf("%w: section %d has no map", ErrBroken, i)
			}
			if s.Map.Sections != nil {
				return nil, fmt.Errorf("%w: section %d is itself an index map", ErrBroken, i)
			}
			if s.Offset.Line < 0 || s.Offset.Column < 0 || s.Offset.Line > 1<<30 || s.Offset.Column > 1<<30 {
				return nil, fmt.Errorf("%w: section %d has a bad offset", ErrBroken, i)
			}
			if err := m.add(s.Map, int32(s.Offset.Line), int32(s.Offset.Column)); err != nil {
				return nil, fmt.Errorf("section %d: %w", i, err)
			}
		}
	} else if err := m.add(&rm, 0, 0); err != nil {
		return nil, err
	}
	sort.SliceStable(m.segs, func(i, j int) bool {
		a, b := &m.segs[i], &m.segs[j]
		return a.genLine < b.genLine || a.genLine == b.genLine && a.genCol < b.genCol
	})
	return m, nil
}

// add appends a regular map's sources, names and mappings, its generated
// positions shifted by the section offset.
func (m *Map) add(rm *rawMap, offLine, offCol int32) error {
	if rm.Version != 3 {
		return fmt.Errorf("%w: version %d, want 3", ErrBroken, rm.Version)
	}
	if rm.Mappings == nil {
		return fmt.Errorf("%w: no mappings", ErrBroken)
	}
	srcBase, nameBase := int32(len(m.sources)), int32(len(m.names))
	root := rm.SourceRoot
	if root != "" && !strings.HasSuffix(root, "/") {
		root += "/"
	}
	for i, s := range rm.Sources {
		name := ""
		if s != nil {
			name = root + *s
		}
		m.sources = append(m.sources, name)
		var c *string
		if i < len(rm.SourcesContent) {
			c = rm.SourcesContent[i]
		}
		m.contents = append(m.contents, c)
	}
	m.names = append(m.names, rm.Names...)
	nsrc, nnames := int32(len(rm.Sources)), int32(len(rm.Names))
	return decodeMappings(*rm.Mappings, func(s segment) error {
		if s.src >= nsrc || s.name >= nnames {
			return fmt.Errorf("%w: a mapping refers to source %d or name %d of %d and %d", ErrBroken, s.src, s.name, nsrc, nnames)
		}
		if s.src >= 0 {
			s.src += srcBase
		}
		if s.name >= 0 {
			s.name += nameBase
		}
		if s.genLine == 0 {
			s.genCol += offCol
		}
		s.genLine += offLine
		if len(m.segs) >= maxSegments {
			return fmt.Errorf("%w: more than %d mappings", ErrBroken, maxSegments)
		}
		m.segs = append(m.segs, s)
		return nil
	})
}

// decodeMappings decodes the base64 VLQ "mappings" string and calls emit for
// each segment, with absolute values.
func decodeMappings(s string, emit func(segment) error) error {
	var line, col, src, oline, ocol, name int64
	var fields [5]int64
	i := 0
	for i <= len(s) {
		if i == len(s) {
			break
		}
		switch s[i] {
		case ';':
			line++
			col = 0
			i++
			continue
		case ',':
			i++
			continue
		}
		n := 0
		for i < len(s) && s[i] != ',' && s[i] != ';' {
			if n == 5 {
				return fmt.Errorf("%w: a segment of more than 5 fields at offset %d", ErrBroken, i)
			}
			v, next, err := vlq(s, i)
			if err != nil {
				return err
			}
			fields[n] = v
			n++
			i = next
		}
		if n != 1 && n != 4 && n != 5 {
			return fmt.Errorf("%w: a segment of %d fields at offset %d", ErrBroken, n, i)
		}
		col += fields[0]
		seg := segment{genLine: int32(line), src: -1, name: -1}
		if n >= 4 {
			src += fields[1]
			oline += fields[2]
			ocol += fields[3]
			seg.src, seg.line, seg.col = int32(src), int32(oline), int32(ocol)
		}
		if n == 5 {
			name += fields[4]
			seg.name = int32(name)
		}
		if line > 1<<30 || col < 0 || col > 1<<30 || src < 0 || oline < 0 || ocol < 0 || name < 0 ||
			src > 1<<30 || oline > 1<<30 || ocol > 1<<30 || name > 1<<30 {
			return fmt.Errorf("%w: a mapping out of range at offset %d", ErrBroken, i)
		}
		seg.genCol = int32(col)
		if err := emit(seg); err != nil {
			return err
		}
	}
	return nil
}

// vlq decodes one base64 VLQ value of s starting at i and returns it and
// the offset after it.
func vlq(s string, i int) (int64, int, error) {
	var v int64
	shift := uint(0)
	for {
		if i >= len(s) {
			return 0, i, fmt.Errorf("%w: a VLQ value ends early", ErrBroken)
		}
		d := b64[s[i]]
		if d < 0 {
			return 0, i, fmt.Errorf("%w: %q is not a base64 digit (offset %d)", ErrBroken, s[i], i)
		}
		i++
		v |= int64(d&31) << shift
		if d&32 == 0 {
			break
		}
		shift += 5
		if shift > 35 {
			return 0, i, fmt.Errorf("%w: a VLQ value is too long", ErrBroken)
		}
	}
	if v&1 != 0 {
		return -(v >> 1), i, nil
	}
	return v >> 1, i, nil
}

var b64 = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" {
		t[c] = int8(i)
	}
	return t
}()

// Lookup returns the original position of the generated position line,
// column (both 0-based), using the mapping at or left of the column on
// that line ("lookup left"). It returns ErrOutside when no mapping on the
// line starts at or before the column, or the one that does maps nowhere.
func (m *Map) Lookup(line, col int) (Position, error) {
	if line < 0 || col < 0 || line > 1<<30 || col > 1<<30 {
		return Position{}, ErrOutside
	}
	l, c := int32(line), int32(col)
	// The first segment after (line, col).
	i := sort.Search(len(m.segs), func(i int) bool {
		s := &m.segs[i]
		return s.genLine > l || s.genLine == l && s.genCol > c
	})
	if i == 0 {
		return Position{}, ErrOutside
	}
	s := &m.segs[i-1]
	if s.genLine != l || s.src < 0 {
		return Position{}, ErrOutside
	}
	p := Position{Source: m.sources[s.src], Line: int(s.line) + 1, Column: int(s.col) + 1, src: s.src}
	if s.name >= 0 {
		p.Name = m.names[s.name]
	}
	return p, nil
}

// Context returns up to before lines before the position's line, the line
// itself and up to after lines after it, from the map's sourcesContent;
// ok is false when the map has no content for the source or the line is
// past its end.
func (m *Map) Context(p Position, before, after int) (pre []string, line string, post []string, ok bool) {
	if p.src < 0 || int(p.src) >= len(m.contents) || m.contents[p.src] == nil {
		return nil, "", nil, false
	}
	text := *m.contents[p.src]
	starts := m.lineStarts(p.src, text)
	n := p.Line - 1
	if n < 0 || n >= len(starts) {
		return nil, "", nil, false
	}
	get := func(i int) string {
		end := len(text)
		if i+1 < len(starts) {
			end = int(starts[i+1])
		}
		return strings.TrimRight(text[starts[i]:end], "\r\n")
	}
	for i := max(0, n-before); i < n; i++ {
		pre = append(pre, get(i))
	}
	for i := n + 1; i <= n+after && i < len(starts); i++ {
		post = append(post, get(i))
	}
	return pre, get(n), post, true
}

func (m *Map) lineStarts(src int32, text string) []int32 {
	if s, ok := m.lines[src]; ok {
		return s
	}
	starts := []int32{0}
	for i := 0; i < len(text); i++ {
		if text[i] == '\n' && i+1 < len(text) {
			starts = append(starts, int32(i+1))
		}
	}
	if m.lines == nil {
		m.lines = make(map[int32][]int32)
	}
	m.lines[src] = starts
	return starts
}

// Size estimates the bytes the decoded map holds, for cache accounting.
func (m *Map) Size() int {
	n := len(m.segs)*24 + 64
	for i, s := range m.sources {
		n += len(s) + 16
		if m.contents[i] != nil {
			n += len(*m.contents[i]) + 8
		}
	}
	for _, s := range m.names {
		n += len(s) + 16
	}
	return n
}
