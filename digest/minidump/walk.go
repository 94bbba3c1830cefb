package minidump

import (
	"strconv"
	"strings"

	"github.com/tinysink/tinysink/digest/minidump/sym"
)

// Trust says how a frame was found, as Breakpad and Sentry name it.
const (
	TrustContext = "context" // the thread's or the exception's registers
	TrustCFI     = "cfi"     // call frame information from symbols
	TrustFP      = "fp"      // the frame pointer chain
	TrustScan    = "scan"    // a return address found by scanning the stack
	TrustCFIScan = "cfi_scan"
)

// Limits of a stack walk.
const (
	MaxFrames       = 256     // of the crashing thread
	maxOtherFrames  = 64      // of every other thread
	maxStack        = 1 << 20 // bytes of one thread's stack read
	scanWords       = 40      // words scanned for a return address
	scanWordsFirst  = 160     // from the context frame, where no CFI helped
	maxWalkThreads  = 128     // threads walked; the rest keep their context frame
	maxProgramToken = 256
)

// Frame is one frame of a walked stack.
type Frame struct {
	// PC is the instruction address: the faulting one for frame 0, the
	// return address for the others.
	PC     uint64
	Trust  string
	Module *Module // nil outside every module
	// Symbols are the functions at PC when the module's symbols were
	// found: inlined ones first, the function that contains them last.
	Symbols []sym.Frame
	ctx     *Context
}

// LookupAddr is the address whose symbol the frame shows: for a return
// address, the call instruction before it.
func (f *Frame) LookupAddr(first bool) uint64 {
	if first || f.PC == 0 {
		return f.PC
	}
	return f.PC - 1
}

// Symbols finds a module's symbols; it returns nil when they are not
// there.
type Symbols func(m *Module) *sym.Table

// stackMem is a thread's stack memory.
type stackMem struct {
	base uint64
	b    []byte
	ptr  int
}

func (s *stackMem) word(addr uint64) (uint64, bool) {
	if addr < s.base || addr-s.base+uint64(s.ptr) > uint64(len(s.b)) {
		return 0, false
	}
	off := addr - s.base
	if s.ptr == 4 {
		return uint64(le.Uint32(s.b[off:])), true
	}
	return le.Uint64(s.b[off:]), true
}

func (s *stackMem) end() uint64 { return s.base + uint64(len(s.b)) }

// walker walks one thread.
type walker struct {
	d     *Dump
	syms  Symbols
	arch  Arch
	stack stackMem
}

// Walk walks a thread's stack from ctx (its registers, or the exception's
// for the crashing thread).
func (d *Dump) Walk(t *Thread, ctx *Context, syms Symbols) []Frame {
	return d.walk(t, ctx, syms, MaxFrames)
}

func (d *Dump) walk(t *Thread, ctx *Context, syms Symbols, maxFrames int) []Frame {
	if ctx == nil {
		return nil
	}
	w := &walker{d: d, syms: syms, arch: ctx.Arch}
	w.stack.ptr = ctx.Arch.PointerSize()
	w.stack.b, w.stack.base = d.ThreadStack(t, maxStack)
	frames := []Frame{{PC: ctx.PC(), Trust: TrustContext, ctx: ctx}}
	for len(frames) < maxFrames {
		next := w.caller(frames)
		if next == nil {
			break
		}
		frames = append(frames, *next)
	}
	for i := range frames {
		f := &frames[i]
		f.Module = d.ModuleAt(f.LookupAddr(i == 0))
		if f.Module != nil && syms != nil {
			if tab := syms(f.Module); tab != nil {
				f.Symbols = tab.Lookup(f.LookupAddr(i == 0) - f.Module.Base)
			}
		}
		f.ctx = nil
	}
	return frames
}

func (w *walker) table(addr uint64) (*sym.Table, uint64) {
	m := w.d.ModuleAt(addr)
	if m == nil || w.syms == nil {
		return nil, 0
	}
	return w.syms(m), addr - m.Base
}

// caller finds the frame that called the last one, trying CFI, then the
// frame pointer, then a stack scan.
func (w *walker) caller(frames []Frame) *Frame {
	last := &frames[len(frames)-1]
	first := len(frames) == 1
	callee := last.ctx
	lookup := last.LookupAddr(first)
	tab, rel := w.table(lookup)

	if tab != nil {
		if rules, ok := tab.CFI(rel); ok {
			if c := w.cfi(callee, rules); c != nil && w.valid(callee, c, true) {
				return &Frame{PC: c.PC(), Trust: TrustCFI, ctx: c}
			}
		}
		if w.arch == ArchX86 {
			if win, ok := tab.Win(rel); ok {
				if c := w.stackWin(callee, win, first); c != nil && w.valid(callee, c, true) {
					return &Frame{PC: c.PC(), Trust: TrustCFI, ctx: c}
				}
			}
		}
	}
	if c := w.framePointer(callee); c != nil {
		if w.valid(callee, c, false) {
			return &Frame{PC: c.PC(), Trust: TrustFP, ctx: c}
		}
		// A frame pointer chain that reads, up to a null return address,
		// has reached the outermost frame.
		if c.PC() == 0 && c.SP() > callee.SP() {
			return nil
		}
	}
	words := scanWords
	if first {
		words = scanWordsFirst
	}
	if c := w.scan(callee, callee.SP(), words); c != nil {
		return &Frame{PC: c.PC(), Trust: TrustScan, ctx: c}
	}
	return nil
}

// valid checks a caller's registers: a return address that is not null
// and, unless CFI vouches for it, inside a module; a stack pointer that
// moved up and stays in the captured stack.
func (w *walker) valid(callee, c *Context, cfi bool) bool {
	pc, sp := c.PC(), c.SP()
	// The stack pointer moves up, except on ARM, where a leaf function
	// that keeps its return address in the link register may leave it
	// where it was (CFI says so: .cfa: sp 0 + .ra: lr); a different
	// return address keeps the walk going forward.
	leaf := cfi && sp == callee.SP() && pc != callee.PC() && (w.arch == ArchARM || w.arch == ArchARM64)
	if pc < 0x1000 || sp <= callee.SP() && !leaf || sp > w.stack.end()+uint64(w.stack.ptr) {
		return false
	}
	if !cfi && !w.plausible(pc) {
		return false
	}
	return cfi || w.d.ModuleAt(pc) != nil
}

// plausible reports whether addr may be a return address: it lies in a
// module, and in one of its functions when the module has symbols.
func (w *walker) plausible(addr uint64) bool {
	m := w.d.ModuleAt(addr)
	if m == nil {
		return false
	}
	if w.syms != nil {
		if tab := w.syms(m); tab != nil {
			return tab.HasFunc(addr-1-m.Base) || len(tab.Lookup(addr-1-m.Base)) > 0
		}
	}
	return true
}

func (w *walker) newContext() *Context { return &Context{Arch: w.arch} }

// calleeSaved are the registers a function preserves: a caller has the
// same values unless a rule says otherwise.
var calleeSaved = [...][]string{
	ArchX86:   {"ebp", "ebx", "esi", "edi"},
	ArchAMD64: {"rbx", "rbp", "r12", "r13", "r14", "r15"},
	ArchARM:   {"r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11"},
	ArchARM64: {"x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28", "x29"},
}

// calleeSavedIdx are calleeSaved as register indexes.
var calleeSavedIdx = func() [len(calleeSaved)][]int {
	var out [len(calleeSaved)][]int
	for a, names := range calleeSaved {
		for _, n := range names {
			out[a] = append(out[a], Arch(a).RegIndex(n))
		}
	}
	return out
}()

func (w *walker) keepCalleeSaved(callee, c *Context) {
	if int(w.arch) >= len(calleeSavedIdx) {
		return
	}
	for _, i := range calleeSavedIdx[w.arch] {
		if v, ok := callee.Get(i); ok {
			c.Set(i, v)
		}
	}
}

func (w *walker) framePointer(callee *Context) *Context {
	p := uint64(w.stack.ptr)
	fp, ok := callee.Get(regFP)
	if !ok || fp == 0 {
		return nil
	}
	switch w.arch {
	case ArchX86, ArchAMD64, ArchARM64:
	default:
		return nil // ARM frame pointers are not reliable enough to follow
	}
	savedFP, ok1 := w.stack.word(fp)
	ret, ok2 := w.stack.word(fp + p)
	if !ok1 || !ok2 {
		return nil
	}
	if w.arch == ArchARM64 {
		ret = w.stripPAC(ret)
	}
	c := w.newContext()
	w.keepCalleeSaved(callee, c)
	c.Set(regFP, savedFP)
	c.Set(regSP, fp+2*p)
	c.Set(regPC, ret)
	return c
}

// stripPAC removes a pointer authentication code from an arm64 return
// address when the address is not in a module as it stands.
func (w *walker) stripPAC(a uint64) uint64 {
	if w.d.ModuleAt(a) != nil {
		return a
	}
	return a & (1<<47 - 1)
}

// scan looks for a return address on the stack from sp up.
func (w *walker) scan(callee *Context, sp uint64, words int) *Context {
	p := uint64(w.stack.ptr)
	for i := range words {
		addr := sp + uint64(i)*p
		v, ok := w.stack.word(addr)
		if !ok {
			return nil
		}
		if w.arch == ArchARM64 {
			v = w.stripPAC(v)
		}
		if !w.plausible(v) {
			continue
		}
		c := w.newContext()
		w.keepCalleeSaved(callee, c)
		c.Set(regPC, v)
		c.Set(regSP, addr+p)
		if c.SP() <= callee.SP() {
			continue
		}
		// On x86-64 a scanned frame's saved rbp sits right below its
		// return address when the caller keeps frame pointers.
		if w.arch == ArchAMD64 || w.arch == ArchX86 {
			if bp, ok := w.stack.word(addr - p); ok && bp > addr && bp < w.stack.end() {
				c.Set(regFP, bp)
			}
		}
		return c
	}
	return nil
}

// cfi applies STACK CFI rules: .cfa first, then .ra and the registers.
func (w *walker) cfi(callee *Context, ruleSets []string) *Context {
	rules := map[string][]string{}
	for _, set := range ruleSets {
		var name string
		for _, tok := range strings.Fields(set) {
			if strings.HasSuffix(tok, ":") {
				name = strings.TrimSuffix(tok, ":")
				rules[name] = nil
				continue
			}
			if name != "" && len(rules[name]) < maxProgramToken {
				rules[name] = append(rules[name], tok)
			}
		}
	}
	e := evaluator{w: w, callee: callee}
	cfa, ok := e.expr(rules[".cfa"])
	if !ok {
		return nil
	}
	e.cfa, e.hasCFA = cfa, true
	ra, ok := e.expr(rules[".ra"])
	if !ok {
		return nil
	}
	c := w.newContext()
	w.keepCalleeSaved(callee, c)
	for name, toks := range rules {
		if strings.HasPrefix(name, ".") {
			continue
		}
		i := w.arch.RegIndex(name)
		if i < 0 {
			continue
		}
		if v, ok := e.expr(toks); ok {
			c.Set(i, v)
		}
	}
	if w.arch == ArchARM64 {
		ra = w.stripPAC(ra)
	}
	c.Set(regPC, ra)
	c.Set(regSP, cfa)
	return c
}

// stackWin applies a STACK WIN record (x86 only): its program when it has
// one, else the FPO layout of return address above locals and saved
// registers.
func (w *walker) stackWin(callee *Context, win *sym.Win, first bool) *Context {
	esp := callee.SP()
	e := evaluator{w: w, callee: callee, vars: map[string]uint64{
		".cbParams":    uint64(win.Params),
		".cbSavedRegs": uint64(win.SavedRegs),
		".cbLocals":    uint64(win.Locals),
	}}
	e.vars[".raSearchStart"] = esp + uint64(win.Locals) + uint64(win.SavedRegs)
	e.vars[".raSearch"] = e.vars[".raSearchStart"]
	for _, n := range []string{"eip", "esp", "ebp", "ebx", "esi", "edi"} {
		if v, ok := callee.Get(w.arch.RegIndex(n)); ok {
			e.vars["$"+n] = v
		}
	}
	c := w.newContext()
	w.keepCalleeSaved(callee, c)
	if win.HasProgram {
		if !e.assign(strings.Fields(win.Program)) {
			return nil
		}
	} else {
		rs := e.vars[".raSearchStart"]
		ret, ok := w.stack.word(rs)
		if !ok {
			return nil
		}
		e.vars["$eip"], e.vars["$esp"] = ret, rs+4
	}
	for _, n := range []string{"eip", "esp", "ebp", "ebx", "esi", "edi"} {
		if v, ok := e.vars["$"+n]; ok {
			c.Set(w.arch.RegIndex(n), v)
		}
	}
	// A program whose return address does not look like one: scan from
	// where it should be, as Breakpad does.
	if !w.plausible(c.PC()) {
		s := w.scan(callee, e.vars[".raSearchStart"], scanWords)
		if s == nil {
			return nil
		}
		c.Set(regPC, s.PC())
		c.Set(regSP, s.SP())
	}
	return c
}

// evaluator runs Breakpad's postfix expressions.
type evaluator struct {
	w      *walker
	callee *Context
	cfa    uint64
	hasCFA bool
	vars   map[string]uint64 // STACK WIN variables and registers
}

func (e *evaluator) value(tok string) (uint64, bool) {
	if tok == ".cfa" {
		return e.cfa, e.hasCFA
	}
	if e.vars != nil {
		if v, ok := e.vars[tok]; ok {
			return v, true
		}
	}
	if i := e.w.arch.RegIndex(tok); i >= 0 {
		return e.callee.Get(i)
	}
	if n, err := strconv.ParseInt(tok, 0, 64); err == nil {
		return uint64(n), true
	}
	if n, err := strconv.ParseUint(tok, 0, 64); err == nil {
		return n, true
	}
	return 0, false
}

// binop applies a binary operator; ok is false for an unknown operator or
// a division by zero.
func (e *evaluator) binop(op string, a, b uint64) (uint64, bool) {
	switch op {
	case "+":
		return a + b, true
	case "-":
		return a - b, true
	case "*":
		return a * b, true
	case "/":
		if b == 0 {
			return 0, false
		}
		return uint64(int64(a) / int64(b)), true
	case "%":
		if b == 0 {
			return 0, false
		}
		return uint64(int64(a) % int64(b)), true
	case "@":
		if b == 0 || b&(b-1) != 0 {
			return 0, false
		}
		return a &^ (b - 1), true
	}
	return 0, false
}

func (e *evaluator) mask(v uint64) uint64 {
	if e.w.stack.ptr == 4 {
		return v & 0xffffffff
	}
	return v
}

// expr evaluates one CFI expression to a value.
func (e *evaluator) expr(toks []string) (uint64, bool) {
	if len(toks) == 0 {
		return 0, false
	}
	var st []uint64
	for _, t := range toks {
		switch t {
		case "+", "-", "*", "/", "%", "@":
			if len(st) < 2 {
				return 0, false
			}
			v, ok := e.binop(t, st[len(st)-2], st[len(st)-1])
			if !ok {
				return 0, false
			}
			st = append(st[:len(st)-2], e.mask(v))
		case "^":
			if len(st) < 1 {
				return 0, false
			}
			v, ok := e.w.stack.word(st[len(st)-1])
			if !ok {
				return 0, false
			}
			st[len(st)-1] = v
		default:
			v, ok := e.value(t)
			if !ok {
				return 0, false
			}
			st = append(st, e.mask(v))
		}
	}
	if len(st) != 1 {
		return 0, false
	}
	return st[0], true
}

// assign runs a STACK WIN program: postfix with variables and "=".
func (e *evaluator) assign(toks []string) bool {
	if len(toks) > 4*maxProgramToken {
		return false
	}
	type item struct {
		name string
		v    uint64
		isV  bool
	}
	var st []item
	pop := func() (item, bool) {
		if len(st) == 0 {
			return item{}, false
		}
		x := st[len(st)-1]
		st = st[:len(st)-1]
		return x, true
	}
	val := func(x item) (uint64, bool) {
		if x.isV {
			return x.v, true
		}
		return e.value(x.name)
	}
	for _, t := range toks {
		switch t {
		case "+", "-", "*", "/", "%", "@":
			b, ok1 := pop()
			a, ok2 := pop()
			if !ok1 || !ok2 {
				return false
			}
			av, ok1 := val(a)
			bv, ok2 := val(b)
			if !ok1 || !ok2 {
				return false
			}
			v, ok := e.binop(t, av, bv)
			if !ok {
				return false
			}
			st = append(st, item{v: e.mask(v), isV: true})
		case "^":
			a, ok := pop()
			if !ok {
				return false
			}
			av, ok := val(a)
			if !ok {
				return false
			}
			v, ok := e.w.stack.word(av)
			if !ok {
				return false
			}
			st = append(st, item{v: v, isV: true})
		case "=":
			b, ok1 := pop()
			a, ok2 := pop()
			if !ok1 || !ok2 || a.isV || !strings.HasPrefix(a.name, "$") {
				return false
			}
			bv, ok := val(b)
			if !ok {
				return false
			}
			e.vars[a.name] = bv
		default:
			if strings.HasPrefix(t, "$") || strings.HasPrefix(t, ".") {
				st = append(st, item{name: t})
				continue
			}
			v, ok := e.value(t)
			if !ok {
				return false
			}
			st = append(st, item{v: e.mask(v), isV: true})
		}
		if len(st) > maxProgramToken {
			return false
		}
	}
	return len(st) == 0
}
