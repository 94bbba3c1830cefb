package sym

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sort"
)

// Table answers lookups from an index file written by Build. Every lookup
// reads the few records it needs with positioned reads; a Table holds only
// its header. It is safe for concurrent use.
type Table struct {
	f      *os.File
	size   int64
	off    [nSections]int64
	n      [nSections]int64
	Module Module
}

// Open opens an index file.
func Open(path string) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	t, err := newTable(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("sym: %s: %w", path, err)
	}
	return t, nil
}

func newTable(f *os.File) (*Table, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	t := &Table{f: f, size: st.Size()}
	hdr := make([]byte, headerBytes)
	if _, err := f.ReadAt(hdr, 0); err != nil || string(hdr[:8]) != magic {
		return nil, errors.New("not a symbol index")
	}
	for i := range nSections {
		t.off[i] = int64(le.Uint64(hdr[8+16*i:]))
		t.n[i] = int64(le.Uint64(hdr[16+16*i:]))
		if t.off[i] < 0 || t.n[i] < 0 || t.n[i] > t.size || t.off[i]+t.n[i]*int64(recSize[i]) > t.size {
			return nil, errors.New("damaged symbol index")
		}
	}
	base := 8 + 16*nSections
	get := func(i int) string { return t.str(le.Uint32(hdr[base+4*i:])) }
	t.Module = Module{OS: get(0), Arch: get(1), DebugID: get(2), Name: get(3), CodeID: get(4)}
	return t, nil
}

// Close closes the index file.
func (t *Table) Close() error { return t.f.Close() }

func (t *Table) rec(sec int, i int64, buf []byte) []byte {
	size := recSize[sec]
	if i < 0 || i >= t.n[sec] {
		return nil
	}
	buf = buf[:size]
	if _, err := t.f.ReadAt(buf, t.off[sec]+i*int64(size)); err != nil {
		return nil
	}
	return buf
}

func (t *Table) str(off uint32) string {
	if off == noString || int64(off) >= t.n[secStrings] {
		return ""
	}
	var b [binary.MaxVarintLen64 + 256]byte
	at := t.off[secStrings] + int64(off)
	n, _ := t.f.ReadAt(b[:], at)
	l, k := binary.Uvarint(b[:n])
	if k <= 0 || l > 1<<20 {
		return ""
	}
	if int(l) <= n-k {
		return string(b[k : k+int(l)])
	}
	s := make([]byte, l)
	if _, err := t.f.ReadAt(s, at+int64(k)); err != nil {
		return ""
	}
	return string(s)
}

// last returns the index of the last record of sec whose address is <=
// addr, or -1.
func (t *Table) last(sec int, addr uint64) int64 {
	var buf [winSize]byte
	n := t.n[sec]
	i := sort.Search(int(n), func(i int) bool {
		r := t.rec(sec, int64(i), buf[:])
		return r == nil || le.Uint64(r) > addr
	})
	return int64(i) - 1
}

// Frame is one symbolicated frame.
type Frame struct {
	Function string
	File     string
	Line     uint32
	// FuncAddr is the function's start (module-relative); Inlined marks a
	// frame that the compiler inlined into its caller.
	FuncAddr uint64
	Inlined  bool
}

// Lookup symbolicates a module-relative address: the function and line at
// addr, preceded by the frames inlined there (innermost first). It returns
// nil when no FUNC or PUBLIC covers addr.
func (t *Table) Lookup(addr uint64) []Frame {
	var buf [funcSize]byte
	if i := t.last(secFuncs, addr); i >= 0 {
		if r := t.rec(secFuncs, i, buf[:]); r != nil {
			fa, fs := le.Uint64(r), uint64(le.Uint32(r[8:]))
			if addr-fa < fs || fs == 0 && addr == fa {
				return t.funcFrames(addr, fa, r)
			}
		}
	}
	if i := t.last(secPublics, addr); i >= 0 {
		r := t.rec(secPublics, i, buf[:])
		if r != nil {
			return []Frame{{Function: t.str(le.Uint32(r[8:])), FuncAddr: le.Uint64(r)}}
		}
	}
	return nil
}

func (t *Table) funcFrames(addr, fa uint64, r []byte) []Frame {
	name := t.str(le.Uint32(r[12:]))
	lines, nlines := int64(le.Uint32(r[16:])), int64(le.Uint32(r[20:]))
	inl, ninl := int64(le.Uint32(r[24:])), int64(le.Uint32(r[28:]))
	file, line := t.lineAt(addr, lines, nlines)

	// Inline ranges covering addr, by depth.
	type site struct {
		depth, line, file, name uint32
	}
	var sites []site
	var ib [inlineSize]byte
	const maxInlineScan = 1 << 16
	for j := inl; j < inl+min(ninl, maxInlineScan); j++ {
		x := t.rec(secInlines, j, ib[:])
		if x == nil {
			break
		}
		a, s := le.Uint64(x), uint64(le.Uint32(x[8:]))
		if addr >= a && addr-a < s {
			sites = append(sites, site{le.Uint32(x[12:]), le.Uint32(x[16:]), le.Uint32(x[20:]), le.Uint32(x[24:])})
		}
	}
	sort.SliceStable(sites, func(a, b int) bool { return sites[a].depth < sites[b].depth })
	// The deepest inlined function is at addr's own line; each frame
	// further out is at the call site of the one inside it.
	frames := make([]Frame, 0, len(sites)+1)
	for k := len(sites) - 1; k >= 0; k-- {
		frames = append(frames, Frame{Function: t.str(sites[k].name), File: file, Line: line, FuncAddr: fa, Inlined: true})
		file, line = t.fileName(sites[k].file), sites[k].line
	}
	frames = append(frames, Frame{Function: name, File: file, Line: line, FuncAddr: fa})
	return frames
}

// lineAt finds the line record covering addr among a FUNC's lines.
func (t *Table) lineAt(addr uint64, start, n int64) (string, uint32) {
	var buf [lineSize]byte
	// Line records of a FUNC are in address order; search them.
	i := sort.Search(int(n), func(i int) bool {
		r := t.rec(secLines, start+int64(i), buf[:])
		return r == nil || le.Uint64(r) > addr
	}) - 1
	if i < 0 {
		return "", 0
	}
	r := t.rec(secLines, start+int64(i), buf[:])
	if r == nil {
		return "", 0
	}
	a, s := le.Uint64(r), uint64(le.Uint32(r[8:]))
	if addr-a >= s {
		return "", 0
	}
	return t.fileName(le.Uint32(r[16:])), le.Uint32(r[12:])
}

func (t *Table) fileName(id uint32) string {
	var buf [fileSize]byte
	r := t.rec(secFiles, int64(id), buf[:])
	if r == nil {
		return ""
	}
	return t.str(le.Uint32(r))
}

// HasFunc reports whether a FUNC or PUBLIC record covers addr: the stack
// scanner's test for a plausible return address.
func (t *Table) HasFunc(addr uint64) bool {
	var buf [funcSize]byte
	if i := t.last(secFuncs, addr); i >= 0 {
		if r := t.rec(secFuncs, i, buf[:]); r != nil && addr-le.Uint64(r) < uint64(le.Uint32(r[8:])) {
			return true
		}
	}
	return false
}

// CFI returns the STACK CFI rules in force at addr: the INIT record's
// rules followed by those of every delta record at or before addr, to be
// applied in order (later rules override earlier ones).
func (t *Table) CFI(addr uint64) ([]string, bool) {
	var buf [cfiSize]byte
	i := t.last(secCFI, addr)
	if i < 0 {
		return nil, false
	}
	r := t.rec(secCFI, i, buf[:])
	if r == nil {
		return nil, false
	}
	a, s := le.Uint64(r), uint64(le.Uint32(r[8:]))
	if addr-a >= s {
		return nil, false
	}
	rules := []string{t.str(le.Uint32(r[12:]))}
	d, nd := int64(le.Uint32(r[16:])), int64(le.Uint32(r[20:]))
	var db [deltaSize]byte
	for j := d; j < d+min(nd, 4096); j++ {
		x := t.rec(secDeltas, j, db[:])
		if x == nil || le.Uint64(x) > addr {
			break
		}
		rules = append(rules, t.str(le.Uint32(x[8:])))
	}
	return rules, true
}

// Win is a STACK WIN record.
type Win struct {
	Type                                                 uint8
	Addr                                                 uint64
	Size, Prolog, Epilog, Params, SavedRegs, Locals, Max uint32
	HasProgram, AllocatesBasePointer                     bool
	Program                                              string
}

// Win returns the STACK WIN record covering addr, preferring FRAME_DATA
// (type 4) over FPO (type 0) records.
func (t *Table) Win(addr uint64) (*Win, bool) {
	var buf [winSize]byte
	i := t.last(secWin, addr)
	var best *Win
	// Records of several types may cover addr; look back over the few
	// that start at or before it.
	for j := i; j >= 0 && j > i-16; j-- {
		r := t.rec(secWin, j, buf[:])
		if r == nil {
			break
		}
		a, s := le.Uint64(r), uint64(le.Uint32(r[8:]))
		if addr-a >= s {
			continue
		}
		flags := le.Uint32(r[36:])
		w := &Win{
			Type: uint8(flags), Addr: a, Size: uint32(s),
			Prolog: le.Uint32(r[12:]), Epilog: le.Uint32(r[16:]), Params: le.Uint32(r[20:]),
			SavedRegs: le.Uint32(r[24:]), Locals: le.Uint32(r[28:]), Max: le.Uint32(r[32:]),
			HasProgram: flags&(1<<8) != 0, AllocatesBasePointer: flags&(1<<9) != 0,
		}
		if w.HasProgram {
			w.Program = t.str(le.Uint32(r[40:]))
		}
		if best == nil || w.Type == 4 && best.Type != 4 {
			best = w
		}
	}
	return best, best != nil
}
