// Package sym reads Breakpad symbol files (.sym: MODULE, INFO, FILE, FUNC,
// line, PUBLIC, INLINE_ORIGIN, INLINE, STACK CFI and STACK WIN records)
// into a compact index file on disk, and answers lookups from that file
// with positioned reads: nothing of a symbol file is held in memory after
// Build returns, whatever its size.
//
// The index is a header followed by sections of fixed-size little-endian
// records, each sorted by address, and a string blob:
//
//	funcs    addr u64, size u32, name u32, lines u32, nlines u32, inl u32, ninl u32
//	lines    addr u64, size u32, line u32, file u32
//	publics  addr u64, name u32
//	inlines  addr u64, size u32, depth u32, line u32, file u32, name u32
//	cfi      addr u64, size u32, rules u32, deltas u32, ndeltas u32
//	deltas   addr u64, rules u32
//	win      addr u64, size u32, prolog u32, epilog u32, params u32, saved u32, locals u32, maxstack u32, flags u32, program u32
//	files    name u32 (indexed by FILE number; 0xffffffff where missing)
//	strings  (uvarint length, bytes)...
//
// Format of .sym: Breakpad's public symbol_files.md (read, not copied).
package sym

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

var le = binary.LittleEndian

const magic = "TSYMIDX1"

// Record sizes.
const (
	funcSize   = 32
	lineSize   = 20
	publicSize = 12
	inlineSize = 28
	cfiSize    = 24
	deltaSize  = 12
	winSize    = 48
	fileSize   = 4
)

// Sections, in file order.
const (
	secFuncs = iota
	secLines
	secPublics
	secInlines
	secCFI
	secDeltas
	secWin
	secFiles
	secStrings
	nSections
)

var recSize = [nSections]int{funcSize, lineSize, publicSize, inlineSize, cfiSize, deltaSize, winSize, fileSize, 1}

// Limits on one symbol file.
const (
	maxLine     = 1 << 20 // bytes of one line; longer lines are skipped
	maxFileID   = 1 << 22 // FILE and INLINE_ORIGIN numbers
	maxNotes    = 16
	noString    = 0xffffffff
	headerBytes = 8 + 8*2*nSections + 4*8 // magic, (offset,count) per section, 4 string refs+pad
)

// Module is a symbol file's MODULE line.
type Module struct {
	OS, Arch, DebugID, Name string
	CodeID                  string
}

// Stats says what Build read.
type Stats struct {
	Module
	Funcs, Lines, Publics, Inlines, CFI, Win int
	// Notes say what was skipped: malformed lines (counted), overlong
	// lines, unsorted sections.
	Notes []string
}

// ErrNotSym is returned for input that does not start with a MODULE line.
var ErrNotSym = errors.New("sym: not a Breakpad symbol file (no MODULE line)")

// builder streams records into one temporary file per section.
type builder struct {
	dir   string
	files [nSections]*os.File
	w     [nSections]*bufio.Writer
	n     [nSections]int64
	last  [nSections]uint64 // last address written, to check the order
	bad   [nSections]bool   // out of order
	strN  uint32            // bytes of strings written
	fileT []uint32          // FILE number -> string
	orig  []uint32          // INLINE_ORIGIN number -> string
	st    Stats
	// the FUNC being read: where its lines and inlines start
	inFunc              bool
	fAddr               uint64
	fSize, fName        uint32
	fLines, fInl        int64
	cfiAddr             uint64
	cfiSize, cfiRules   uint32
	cfiDeltas           int64
	inCFI               bool
	malformed, overlong int
}

// Build reads a .sym file from r and writes its index to path (through a
// temporary file in the same directory, renamed into place).
func Build(r io.Reader, path string) (*Stats, error) {
	dir := filepath.Dir(path)
	b := &builder{dir: dir}
	defer b.cleanup()
	for i := range nSections {
		f, err := os.CreateTemp(dir, ".symsec-*")
		if err != nil {
			return nil, err
		}
		b.files[i] = f
		b.w[i] = bufio.NewWriterSize(f, 16<<10)
	}
	if err := b.read(r); err != nil {
		return nil, err
	}
	if err := b.finish(path); err != nil {
		return nil, err
	}
	return &b.st, nil
}

func (b *builder) cleanup() {
	for _, f := range b.files {
		if f != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}
}

func (b *builder) note(format string, args ...any) {
	if len(b.st.Notes) < maxNotes {
		b.st.Notes = append(b.st.Notes, fmt.Sprintf(format, args...))
	}
}

func (b *builder) read(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	first := true
	var long []byte
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: gather it up to maxLine.
			long = append(long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				if len(long) < maxLine {
					long = append(long, line...)
				}
			}
			if len(long) >= maxLine {
				b.overlong++
				if err == io.EOF {
					break
				}
				continue
			}
			line = long
		}
		if err != nil && err != io.EOF {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		if first {
			if !bytes.HasPrefix(line, []byte("MODULE ")) {
				return ErrNotSym
			}
			first = false
		}
		if len(line) > 0 {
			if perr := b.line(line); perr != nil {
				return perr
			}
		}
		if err == io.EOF {
			break
		}
	}
	if first {
		return ErrNotSym
	}
	b.endFunc()
	b.endCFI()
	if b.malformed > 0 {
		b.note("%d malformed lines skipped", b.malformed)
	}
	if b.overlong > 0 {
		b.note("%d lines longer than %d bytes skipped", b.overlong, maxLine)
	}
	return nil
}

// fields splits s at spaces into at most n fields (the last takes the
// rest).
func fields(s []byte, n int) [][]byte {
	out := make([][]byte, 0, n)
	for len(out) < n-1 {
		s = bytes.TrimLeft(s, " \t")
		i := bytes.IndexAny(s, " \t")
		if i < 0 {
			break
		}
		out = append(out, s[:i])
		s = s[i+1:]
	}
	s = bytes.TrimLeft(s, " \t")
	if len(s) > 0 {
		out = append(out, s)
	}
	return out
}

func hex(b []byte) (uint64, bool) {
	v, err := strconv.ParseUint(string(b), 16, 64)
	return v, err == nil
}

func dec(b []byte) (uint64, bool) {
	v, err := strconv.ParseUint(string(b), 10, 64)
	return v, err == nil
}

func (b *builder) str(s []byte) uint32 {
	if b.strN > 1<<31 {
		return noString
	}
	off := b.strN
	var lb [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(lb[:], uint64(len(s)))
	b.w[secStrings].Write(lb[:n])
	b.w[secStrings].Write(s)
	b.strN += uint32(n + len(s))
	b.n[secStrings] = int64(b.strN)
	return off
}

func (b *builder) rec(sec int, addr uint64, rec []byte) {
	if b.n[sec] > 0 && addr < b.last[sec] {
		b.bad[sec] = true
	}
	b.last[sec] = addr
	b.w[sec].Write(rec)
	b.n[sec]++
}

func (b *builder) line(line []byte) error {
	switch {
	case bytes.HasPrefix(line, []byte("FUNC ")):
		b.endFunc()
		f := fields(line[5:], 4)
		if len(f) > 0 && string(f[0]) == "m" {
			f = fields(line[5:], 5)[1:]
		}
		if len(f) < 3 {
			b.malformed++
			return nil
		}
		addr, ok1 := hex(f[0])
		size, ok2 := hex(f[1])
		if !ok1 || !ok2 || size > 1<<32-1 {
			b.malformed++
			return nil
		}
		name := []byte("<name omitted>")
		if len(f) >= 4 {
			name = f[3]
		}
		b.inFunc = true
		b.fAddr, b.fSize, b.fName = addr, uint32(size), b.str(name)
		b.fLines, b.fInl = b.n[secLines], b.n[secInlines]
	case bytes.HasPrefix(line, []byte("PUBLIC ")):
		b.endFunc()
		f := fields(line[7:], 3)
		if len(f) > 0 && string(f[0]) == "m" {
			f = fields(line[7:], 4)[1:]
		}
		if len(f) < 3 {
			b.malformed++
			return nil
		}
		addr, ok := hex(f[0])
		if !ok {
			b.malformed++
			return nil
		}
		var r [publicSize]byte
		le.PutUint64(r[:], addr)
		le.PutUint32(r[8:], b.str(f[2]))
		b.rec(secPublics, addr, r[:])
		b.st.Publics++
	case bytes.HasPrefix(line, []byte("STACK CFI INIT ")):
		b.endFunc()
		b.endCFI()
		f := fields(line[15:], 3)
		if len(f) < 3 {
			b.malformed++
			return nil
		}
		addr, ok1 := hex(f[0])
		size, ok2 := hex(f[1])
		if !ok1 || !ok2 || size > 1<<32-1 {
			b.malformed++
			return nil
		}
		b.inCFI = true
		b.cfiAddr, b.cfiSize, b.cfiRules, b.cfiDeltas = addr, uint32(size), b.str(f[2]), b.n[secDeltas]
		b.st.CFI++
	case bytes.HasPrefix(line, []byte("STACK CFI ")):
		f := fields(line[10:], 2)
		if !b.inCFI || len(f) < 2 {
			b.malformed++
			return nil
		}
		addr, ok := hex(f[0])
		if !ok {
			b.malformed++
			return nil
		}
		var r [deltaSize]byte
		le.PutUint64(r[:], addr)
		le.PutUint32(r[8:], b.str(f[1]))
		b.w[secDeltas].Write(r[:]) // ordered within their INIT, not globally
		b.n[secDeltas]++
	case bytes.HasPrefix(line, []byte("STACK WIN ")):
		b.endFunc()
		f := fields(line[10:], 11)
		if len(f) < 10 {
			b.malformed++
			return nil
		}
		var v [9]uint64
		for i := range 9 {
			x, ok := hex(f[i])
			if !ok || x > 1<<32-1 {
				b.malformed++
				return nil
			}
			v[i] = x
		}
		hasProg, ok := hex(f[9])
		if !ok {
			b.malformed++
			return nil
		}
		var r [winSize]byte
		le.PutUint64(r[:], v[1])
		for i := 2; i < 9; i++ {
			le.PutUint32(r[8+4*(i-2):], uint32(v[i]))
		}
		flags := uint32(v[0]) & 0xff // type
		prog := uint32(noString)
		if hasProg != 0 {
			flags |= 1 << 8
			if len(f) > 10 {
				prog = b.str(f[10])
			}
		} else if len(f) > 10 && string(f[10]) != "0" {
			flags |= 1 << 9 // allocates the base pointer
		}
		le.PutUint32(r[36:], flags)
		le.PutUint32(r[40:], prog)
		b.rec(secWin, v[1], r[:])
		b.st.Win++
	case bytes.HasPrefix(line, []byte("FILE ")):
		f := fields(line[5:], 2)
		if len(f) < 2 {
			b.malformed++
			return nil
		}
		id, ok := dec(f[0])
		if !ok || id >= maxFileID {
			b.malformed++
			return nil
		}
		b.fileT = setID(b.fileT, int(id), b.str(f[1]))
	case bytes.HasPrefix(line, []byte("INLINE_ORIGIN ")):
		f := fields(line[14:], 2)
		if len(f) < 2 {
			b.malformed++
			return nil
		}
		id, ok := dec(f[0])
		if !ok || id >= maxFileID {
			b.malformed++
			return nil
		}
		b.orig = setID(b.orig, int(id), b.str(f[1]))
	case bytes.HasPrefix(line, []byte("INLINE ")):
		f := bytes.Fields(line[7:])
		if !b.inFunc || len(f) < 6 || len(f)%2 != 0 {
			b.malformed++
			return nil
		}
		var v [4]uint64
		for i := range 4 {
			x, ok := dec(f[i])
			if !ok || x > 1<<31 {
				b.malformed++
				return nil
			}
			v[i] = x
		}
		name := uint32(noString)
		if int(v[3]) < len(b.orig) {
			name = b.orig[v[3]]
		}
		for i := 4; i+1 < len(f); i += 2 {
			addr, ok1 := hex(f[i])
			size, ok2 := hex(f[i+1])
			if !ok1 || !ok2 || size > 1<<32-1 {
				b.malformed++
				return nil
			}
			var r [inlineSize]byte
			le.PutUint64(r[:], addr)
			le.PutUint32(r[8:], uint32(size))
			le.PutUint32(r[12:], uint32(v[0]))
			le.PutUint32(r[16:], uint32(v[1]))
			le.PutUint32(r[20:], uint32(v[2]))
			le.PutUint32(r[24:], name)
			b.w[secInlines].Write(r[:])
			b.n[secInlines]++
			b.st.Inlines++
		}
	case bytes.HasPrefix(line, []byte("MODULE ")):
		f := fields(line[7:], 4)
		if len(f) < 4 {
			return fmt.Errorf("sym: a MODULE line needs os, arch, id and name: %q", line)
		}
		b.st.OS, b.st.Arch, b.st.DebugID, b.st.Name = string(f[0]), string(f[1]), strings.ToUpper(string(f[2])), string(f[3])
	case bytes.HasPrefix(line, []byte("INFO CODE_ID ")):
		if f := fields(line[13:], 2); len(f) > 0 {
			b.st.CodeID = string(f[0])
		}
	case bytes.HasPrefix(line, []byte("INFO ")):
	default:
		// A line record of the current FUNC: addr size line file.
		f := bytes.Fields(line)
		if !b.inFunc || len(f) != 4 {
			b.malformed++
			return nil
		}
		addr, ok1 := hex(f[0])
		size, ok2 := hex(f[1])
		ln, ok3 := dec(f[2])
		file, ok4 := dec(f[3])
		if !ok1 || !ok2 || !ok3 || !ok4 || size > 1<<32-1 || ln > 1<<32-1 || file > 1<<32-1 {
			b.malformed++
			return nil
		}
		var r [lineSize]byte
		le.PutUint64(r[:], addr)
		le.PutUint32(r[8:], uint32(size))
		le.PutUint32(r[12:], uint32(ln))
		le.PutUint32(r[16:], uint32(file))
		b.w[secLines].Write(r[:]) // sorted within their FUNC when searched
		b.n[secLines]++
		b.st.Lines++
	}
	return nil
}

func setID(t []uint32, id int, v uint32) []uint32 {
	for len(t) <= id {
		t = append(t, noString)
	}
	t[id] = v
	return t
}

func (b *builder) endFunc() {
	if !b.inFunc {
		return
	}
	b.inFunc = false
	var r [funcSize]byte
	le.PutUint64(r[:], b.fAddr)
	le.PutUint32(r[8:], b.fSize)
	le.PutUint32(r[12:], b.fName)
	le.PutUint32(r[16:], uint32(b.fLines))
	le.PutUint32(r[20:], uint32(b.n[secLines]-b.fLines))
	le.PutUint32(r[24:], uint32(b.fInl))
	le.PutUint32(r[28:], uint32(b.n[secInlines]-b.fInl))
	b.rec(secFuncs, b.fAddr, r[:])
	b.st.Funcs++
}

func (b *builder) endCFI() {
	if !b.inCFI {
		return
	}
	b.inCFI = false
	var r [cfiSize]byte
	le.PutUint64(r[:], b.cfiAddr)
	le.PutUint32(r[8:], b.cfiSize)
	le.PutUint32(r[12:], b.cfiRules)
	le.PutUint32(r[16:], uint32(b.cfiDeltas))
	le.PutUint32(r[20:], uint32(b.n[secDeltas]-b.cfiDeltas))
	b.rec(secCFI, b.cfiAddr, r[:])
}

// finish sorts what was written out of order, writes the header and the
// sections into one file and renames it to path.
func (b *builder) finish(path string) error {
	for _, id := range b.fileT {
		var r [4]byte
		le.PutUint32(r[:], id)
		b.w[secFiles].Write(r[:])
		b.n[secFiles]++
	}
	for i := range nSections {
		if err := b.w[i].Flush(); err != nil {
			return err
		}
	}
	for _, sec := range []int{secFuncs, secPublics, secCFI, secWin} {
		if b.bad[sec] {
			b.note("section %d was not sorted by address; sorted it", sec)
			if err := b.sortSection(sec); err != nil {
				return err
			}
		}
	}
	out, err := os.CreateTemp(b.dir, ".symidx-*")
	if err != nil {
		return err
	}
	defer func() {
		out.Close()
		os.Remove(out.Name())
	}()
	hdr := make([]byte, headerBytes)
	copy(hdr, magic)
	off := int64(headerBytes)
	for i := range nSections {
		le.PutUint64(hdr[8+16*i:], uint64(off))
		le.PutUint64(hdr[16+16*i:], uint64(b.n[i]))
		off += b.n[i] * int64(recSize[i])
	}
	// The module's strings go at the end of the blob.
	base := 8 + 16*nSections
	for i, s := range []string{b.st.OS, b.st.Arch, b.st.DebugID, b.st.Name} {
		le.PutUint32(hdr[base+4*i:], b.str([]byte(s)))
	}
	le.PutUint32(hdr[base+16:], b.str([]byte(b.st.CodeID)))
	le.PutUint64(hdr[8+16*secStrings+8:], uint64(b.strN))
	if err := b.w[secStrings].Flush(); err != nil {
		return err
	}
	w := bufio.NewWriterSize(out, 32<<10)
	w.Write(hdr)
	for i := range nSections {
		f := b.files[i]
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if _, err := io.Copy(w, f); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := syncFile(out); err != nil {
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(out.Name(), path)
}

// sortSection sorts a section's records by their leading address. Breakpad
// writers emit sorted sections; this is the fallback, and holds the
// section in memory while it runs.
func (b *builder) sortSection(sec int) error {
	f := b.files[sec]
	size := recSize[sec]
	data := make([]byte, b.n[sec]*int64(size))
	if _, err := f.ReadAt(data, 0); err != nil {
		return err
	}
	idx := make([]int, b.n[sec])
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(x, y int) int {
		ax, ay := le.Uint64(data[x*size:]), le.Uint64(data[y*size:])
		if ax < ay {
			return -1
		} else if ax > ay {
			return 1
		}
		return 0
	})
	sorted := make([]byte, 0, len(data))
	for _, i := range idx {
		sorted = append(sorted, data[i*size:(i+1)*size]...)
	}
	_, err := f.WriteAt(sorted, 0)
	return err
}

// syncFile makes an index durable before it is renamed into place; the fuzz
// test, which builds thousands of throwaway indexes, skips it.
var syncFile = (*os.File).Sync
