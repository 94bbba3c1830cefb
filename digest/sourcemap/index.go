package sourcemap

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// A decoded map is kept on disk as an index file, so that nothing of it
// stays on the heap between lookups: the mapper decodes a map once (Parse),
// writes its index (WriteIndex) and from then on reads it through a
// read-only memory mapping (OpenIndex), whose pages the kernel may drop
// at any time. The file, little-endian:
//
//	header   indexHeaderSize bytes: magic, counts and section offsets
//	segs     nsegs × 24 bytes: genLine, genCol, src, line, col, name (int32),
//	         sorted by (genLine, genCol)
//	sources  nsrc × 48 bytes: name offset, name length, content offset,
//	         content length (noContent: none), line-table offset, lines
//	names    nnames × 16 bytes: offset, length
//	strings  the names, sources and source contents
//	lines    per source with content, the start offset of each line (uint32)
const (
	indexMagic      = "TSSMX001"
	indexHeaderSize = 64
	segSize         = 24
	srcRecSize      = 48
	nameRecSize     = 16
	noContent       = ^uint64(0)
)

// ErrBadIndex is returned by OpenIndex for a file that is not a whole
// index (a torn write, another format): the caller rebuilds it.
var ErrBadIndex = errors.New("sourcemap: bad index file")

// WriteIndex writes m's index to path, through a temporary file renamed
// into place, so that a reader never sees a partial index.
func WriteIndex(m *Map, path string) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".smx-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	w := bufio.NewWriterSize(tmp, 64<<10)
	segOff := uint64(indexHeaderSize)
	srcOff := segOff + uint64(len(m.segs))*segSize
	nameOff := srcOff + uint64(len(m.sources))*srcRecSize
	strOff := nameOff + uint64(len(m.names))*nameRecSize

	// Lay out the strings and line tables first: the records point at them.
	srcs := make([]srcRec, len(m.sources))
	names := make([][2]uint64, len(m.names))
	at := strOff
	for i, s := range m.sources {
		srcs[i].name, srcs[i].nameLen = at, uint64(len(s))
		at += uint64(len(s))
		srcs[i].content, srcs[i].contentLen = noContent, 0
		if c := m.contents[i]; c != nil {
			srcs[i].content, srcs[i].contentLen = at, uint64(len(*c))
			at += uint64(len(*c))
		}
	}
	for i, s := range m.names {
		names[i] = [2]uint64{at, uint64(len(s))}
		at += uint64(len(s))
	}
	at = (at + 3) &^ 3
	lineOff := at
	for i := range m.sources {
		if c := m.contents[i]; c != nil {
			srcs[i].lines = at
			srcs[i].nlines = uint64(countLines(*c))
			at += srcs[i].nlines * 4
		}
	}

	var hdr [indexHeaderSize]byte
	copy(hdr[:8], indexMagic)
	le := binary.LittleEndian
	le.PutUint32(hdr[8:], uint32(len(m.segs)))
	le.PutUint32(hdr[12:], uint32(len(m.sources)))
	le.PutUint32(hdr[16:], uint32(len(m.names)))
	le.PutUint64(hdr[24:], srcOff)
	le.PutUint64(hdr[32:], nameOff)
	le.PutUint64(hdr[40:], strOff)
	le.PutUint64(hdr[48:], lineOff)
	le.PutUint64(hdr[56:], at) // the file's size: a shorter file is torn
	w.Write(hdr[:])
	var b [srcRecSize]byte
	for _, s := range m.segs {
		for k, v := range [6]int32{s.genLine, s.genCol, s.src, s.line, s.col, s.name} {
			le.PutUint32(b[k*4:], uint32(v))
		}
		w.Write(b[:segSize])
	}
	for _, s := range srcs {
		for k, v := range [6]uint64{s.name, s.nameLen, s.content, s.contentLen, s.lines, s.nlines} {
			le.PutUint64(b[k*8:], v)
		}
		w.Write(b[:srcRecSize])
	}
	for _, n := range names {
		le.PutUint64(b[0:], n[0])
		le.PutUint64(b[8:], n[1])
		w.Write(b[:nameRecSize])
	}
	for i, s := range m.sources {
		w.WriteString(s)
		if c := m.contents[i]; c != nil {
			w.WriteString(*c)
		}
	}
	for _, s := range m.names {
		w.WriteString(s)
	}
	if pad := lineOff - stringsEnd(srcs, names, strOff); pad > 0 {
		w.Write(make([]byte, pad))
	}
	for i := range m.sources {
		c := m.contents[i]
		if c == nil {
			continue
		}
		text := *c
		le.PutUint32(b[:], 0)
		w.Write(b[:4])
		for j := 0; j < len(text); j++ {
			if text[j] == '\n' && j+1 < len(text) {
				le.PutUint32(b[:], uint32(j+1))
				w.Write(b[:4])
			}
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// stringsEnd is the offset after the last string of the index.
func stringsEnd(srcs []srcRec, names [][2]uint64, strOff uint64) uint64 {
	end := strOff
	for _, s := range srcs {
		end = max(end, s.name+s.nameLen)
		if s.content != noContent {
			end = max(end, s.content+s.contentLen)
		}
	}
	for _, n := range names {
		end = max(end, n[0]+n[1])
	}
	return end
}

// srcRec is a source's record in the index.
type srcRec struct{ name, nameLen, content, contentLen, lines, nlines uint64 }

// countLines counts the lines of text as Context numbers them: a final
// newline does not start another line.
func countLines(text string) int {
	n := 1
	for j := 0; j < len(text); j++ {
		if text[j] == '\n' && j+1 < len(text) {
			n++
		}
	}
	return n
}

// Index is a decoded map read from its index file. Lookups copy what they
// return out of the mapping. It is safe for concurrent use; its mapping
// is released when the Index is no longer referenced.
type Index struct {
	data                          []byte
	nsegs, nsrc, nnames           uint64
	srcOff, nameOff, strOff, size uint64
}

// OpenIndex maps the index file at path.
func OpenIndex(path string) (*Index, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() < indexHeaderSize || fi.Size() > 1<<31 {
		return nil, ErrBadIndex
	}
	data, release, err := mapFile(f, int(fi.Size()))
	if err != nil {
		return nil, err
	}
	ix, err := newIndex(data)
	if err != nil {
		release()
		return nil, err
	}
	runtime.AddCleanup(ix, func(release func()) { release() }, release)
	return ix, nil
}

// newIndex reads an index from its bytes.
func newIndex(data []byte) (*Index, error) {
	if len(data) < indexHeaderSize {
		return nil, ErrBadIndex
	}
	ix := &Index{data: data}
	if err := ix.check(); err != nil {
		return nil, err
	}
	return ix, nil
}

// check validates the header against the file, so that no later read
// can fall outside the mapping.
func (ix *Index) check() error {
	d := ix.data
	le := binary.LittleEndian
	if string(d[:8]) != indexMagic {
		return ErrBadIndex
	}
	ix.nsegs, ix.nsrc, ix.nnames = uint64(le.Uint32(d[8:])), uint64(le.Uint32(d[12:])), uint64(le.Uint32(d[16:]))
	ix.srcOff, ix.nameOff, ix.strOff = le.Uint64(d[24:]), le.Uint64(d[32:]), le.Uint64(d[40:])
	ix.size = le.Uint64(d[56:])
	if ix.size != uint64(len(d)) ||
		ix.srcOff != indexHeaderSize+ix.nsegs*segSize ||
		ix.nameOff != ix.srcOff+ix.nsrc*srcRecSize ||
		ix.strOff != ix.nameOff+ix.nnames*nameRecSize || ix.strOff > ix.size {
		return ErrBadIndex
	}
	for i := uint64(0); i < ix.nsrc; i++ {
		r := ix.data[ix.srcOff+i*srcRecSize:]
		name, nameLen := le.Uint64(r), le.Uint64(r[8:])
		content, contentLen := le.Uint64(r[16:]), le.Uint64(r[24:])
		lines, nlines := le.Uint64(r[32:]), le.Uint64(r[40:])
		if !inside(name, nameLen, ix.size) {
			return ErrBadIndex
		}
		if content != noContent && (!inside(content, contentLen, ix.size) || nlines == 0 || nlines > ix.size || !inside(lines, nlines*4, ix.size)) {
			return ErrBadIndex
		}
	}
	for i := uint64(0); i < ix.nnames; i++ {
		r := ix.data[ix.nameOff+i*nameRecSize:]
		if !inside(le.Uint64(r), le.Uint64(r[8:]), ix.size) {
			return ErrBadIndex
		}
	}
	return nil
}

func inside(off, n, size uint64) bool { return off <= size && n <= size-off }

func (ix *Index) seg(i uint64) (genLine, genCol, src, line, col, name int32) {
	b := ix.data[indexHeaderSize+i*segSize:]
	le := binary.LittleEndian
	return int32(le.Uint32(b)), int32(le.Uint32(b[4:])), int32(le.Uint32(b[8:])),
		int32(le.Uint32(b[12:])), int32(le.Uint32(b[16:])), int32(le.Uint32(b[20:]))
}

func (ix *Index) str(off, n uint64) string { return string(ix.data[off : off+n]) }

// Lookup is Map.Lookup, read from the index.
func (ix *Index) Lookup(line, col int) (Position, error) {
	defer runtime.KeepAlive(ix)
	if line < 0 || col < 0 || line > 1<<30 || col > 1<<30 {
		return Position{}, ErrOutside
	}
	l, c := int32(line), int32(col)
	i := sort.Search(int(ix.nsegs), func(i int) bool {
		gl, gc, _, _, _, _ := ix.seg(uint64(i))
		return gl > l || gl == l && gc > c
	})
	if i == 0 {
		return Position{}, ErrOutside
	}
	gl, _, src, sl, sc, name := ix.seg(uint64(i - 1))
	if gl != l || src < 0 || uint64(src) >= ix.nsrc {
		return Position{}, ErrOutside
	}
	le := binary.LittleEndian
	r := ix.data[ix.srcOff+uint64(src)*srcRecSize:]
	p := Position{Source: ix.str(le.Uint64(r), le.Uint64(r[8:])), Line: int(sl) + 1, Column: int(sc) + 1, src: src}
	if name >= 0 && uint64(name) < ix.nnames {
		n := ix.data[ix.nameOff+uint64(name)*nameRecSize:]
		p.Name = ix.str(le.Uint64(n), le.Uint64(n[8:]))
	}
	return p, nil
}

// Context is Map.Context, read from the index.
func (ix *Index) Context(p Position, before, after int) (pre []string, line string, post []string, ok bool) {
	defer runtime.KeepAlive(ix)
	if p.src < 0 || uint64(p.src) >= ix.nsrc {
		return nil, "", nil, false
	}
	le := binary.LittleEndian
	r := ix.data[ix.srcOff+uint64(p.src)*srcRecSize:]
	content, contentLen := le.Uint64(r[16:]), le.Uint64(r[24:])
	lines, nlines := le.Uint64(r[32:]), int(le.Uint64(r[40:]))
	if content == noContent {
		return nil, "", nil, false
	}
	n := p.Line - 1
	if n < 0 || n >= nlines {
		return nil, "", nil, false
	}
	get := func(i int) string {
		start := uint64(le.Uint32(ix.data[lines+uint64(i)*4:]))
		end := contentLen
		if i+1 < nlines {
			end = uint64(le.Uint32(ix.data[lines+uint64(i+1)*4:]))
		}
		if start > end || end > contentLen {
			return ""
		}
		return strings.TrimRight(ix.str(content+start, end-start), "\r\n")
	}
	for i := max(0, n-before); i < n; i++ {
		pre = append(pre, get(i))
	}
	for i := n + 1; i <= n+after && i < nlines; i++ {
		post = append(post, get(i))
	}
	return pre, get(n), post, true
}

// String describes the index, for errors and logs.
func (ix *Index) String() string {
	return fmt.Sprintf("source map index: %d mappings, %d sources, %d names, %d bytes", ix.nsegs, ix.nsrc, ix.nnames, ix.size)
}
