package minidump

import (
	"fmt"
	"strings"
)

// Arch is a CPU family.
type Arch uint8

// CPU families the reader knows the contexts of.
const (
	ArchUnknown Arch = iota
	ArchX86
	ArchAMD64
	ArchARM
	ArchARM64
)

// String returns the name Sentry's device context uses ("x86", "x86_64",
// "arm", "arm64").
func (a Arch) String() string {
	switch a {
	case ArchX86:
		return "x86"
	case ArchAMD64:
		return "x86_64"
	case ArchARM:
		return "arm"
	case ArchARM64:
		return "arm64"
	}
	return "unknown"
}

// PointerSize is the size of an address in bytes.
func (a Arch) PointerSize() int {
	if a == ArchX86 || a == ArchARM {
		return 4
	}
	return 8
}

func archFromCode(c uint16) Arch {
	switch c {
	case 0: // PROCESSOR_ARCHITECTURE_INTEL
		return ArchX86
	case 9: // PROCESSOR_ARCHITECTURE_AMD64
		return ArchAMD64
	case 5: // PROCESSOR_ARCHITECTURE_ARM
		return ArchARM
	case 12, 0x8003: // ARM64, and Breakpad's older code for it
		return ArchARM64
	}
	return ArchUnknown
}

// Context is a thread's registers. Regs is indexed by the arch's register
// numbers (RegNames); Valid has a bit per register known.
type Context struct {
	Arch  Arch
	Regs  [34]uint64
	Valid uint64
}

// Register names per arch, in the order of Regs. The stack pointer, frame
// pointer and instruction pointer indexes follow.
var regNames = [...][]string{
	ArchX86:   {"eip", "esp", "ebp", "ebx", "esi", "edi", "eax", "ecx", "edx", "eflags"},
	ArchAMD64: {"rip", "rsp", "rbp", "rbx", "rsi", "rdi", "rax", "rcx", "rdx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"},
	ArchARM:   {"pc", "sp", "r11", "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r12", "lr", "cpsr"},
	ArchARM64: {"pc", "sp", "x29", "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14", "x15", "x16", "x17", "x18", "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28", "x30"},
}

// The first three registers of every arch are the instruction pointer,
// the stack pointer and the frame pointer.
const (
	regPC = 0
	regSP = 1
	regFP = 2
)

// RegNames returns the arch's register names, in Regs order.
func (a Arch) RegNames() []string {
	if int(a) < len(regNames) {
		return regNames[a]
	}
	return nil
}

// RegIndex returns the index of the register called name (without
// Breakpad's "$"; "fp"/"lr" are x29/x30 on arm64, r11/r14 on arm), or -1.
func (a Arch) RegIndex(name string) int {
	name = strings.TrimPrefix(name, "$")
	switch a {
	case ArchARM64:
		switch name {
		case "fp":
			name = "x29"
		case "lr":
			name = "x30"
		case "x31":
			name = "sp"
		}
	case ArchARM:
		switch name {
		case "fp":
			name = "r11"
		case "r13":
			name = "sp"
		case "r14":
			name = "lr"
		case "r15":
			name = "pc"
		}
	case ArchX86:
		if name == "efl" {
			name = "eflags"
		}
	}
	for i, n := range a.RegNames() {
		if n == name {
			return i
		}
	}
	return -1
}

// PC returns the instruction pointer.
func (c *Context) PC() uint64 { return c.Regs[regPC] }

// SP returns the stack pointer.
func (c *Context) SP() uint64 { return c.Regs[regSP] }

// FP returns the frame pointer.
func (c *Context) FP() uint64 { return c.Regs[regFP] }

// Get returns register i and whether it is known.
func (c *Context) Get(i int) (uint64, bool) {
	if i < 0 || i >= len(c.Regs) {
		return 0, false
	}
	return c.Regs[i], c.Valid&(1<<i) != 0
}

// Set sets register i and marks it known.
func (c *Context) Set(i int, v uint64) {
	if i < 0 || i >= len(c.Regs) {
		return
	}
	if c.Arch.PointerSize() == 4 {
		v &= 0xffffffff
	}
	c.Regs[i] = v
	c.Valid |= 1 << i
}

// Map returns the known registers by name, formatted as hex, for the
// event's thread registers.
func (c *Context) Map() map[string]string {
	m := make(map[string]string)
	w := c.Arch.PointerSize() * 2
	for i, n := range c.Arch.RegNames() {
		if v, ok := c.Get(i); ok {
			m[n] = fmt.Sprintf("0x%0*x", w, v)
		}
	}
	return m
}

// Context sizes.
const (
	contextX86Size      = 716
	contextAMD64Size    = 1232
	contextARMSize      = 368
	contextARM64Size    = 912
	contextARM64OldSize = 792
)

// parseContext reads a CPU context. The arch comes from the system info;
// without it the size decides.
func parseContext(b []byte, arch Arch) (*Context, error) {
	if arch == ArchUnknown {
		switch len(b) {
		case contextX86Size:
			arch = ArchX86
		case contextAMD64Size:
			arch = ArchAMD64
		case contextARMSize:
			arch = ArchARM
		case contextARM64Size, contextARM64OldSize:
			arch = ArchARM64
		default:
			return nil, fmt.Errorf("unknown CPU and a context of %d bytes", len(b))
		}
	}
	c := &Context{Arch: arch}
	u32 := func(off int) uint64 { return uint64(le.Uint32(b[off:])) }
	u64 := func(off int) uint64 { return le.Uint64(b[off:]) }
	set := func(name string, v uint64) { c.Set(arch.RegIndex(name), v) }
	switch arch {
	case ArchX86:
		if len(b) < 204 {
			return nil, fmt.Errorf("an x86 context of %d bytes (expected %d)", len(b), contextX86Size)
		}
		for i, n := range []string{"edi", "esi", "ebx", "edx", "ecx", "eax", "ebp", "eip"} {
			set(n, u32(156+4*i))
		}
		set("eflags", u32(192))
		set("esp", u32(196))
	case ArchAMD64:
		if len(b) < 256 {
			return nil, fmt.Errorf("an amd64 context of %d bytes (expected %d)", len(b), contextAMD64Size)
		}
		set("eflags", u32(68))
		for i, n := range []string{"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip"} {
			set(n, u64(120+8*i))
		}
	case ArchARM:
		if len(b) < 72 {
			return nil, fmt.Errorf("an arm context of %d bytes (expected %d)", len(b), contextARMSize)
		}
		for i := range 16 {
			set(fmt.Sprintf("r%d", i), u32(4+4*i))
		}
		set("cpsr", u32(68))
	case ArchARM64:
		switch {
		case len(b) >= contextARM64Size:
			// Windows layout: flags, cpsr, x0..x30, sp, pc.
			for i := range 31 {
				set(fmt.Sprintf("x%d", i), u64(8+8*i))
			}
			set("sp", u64(256))
			set("pc", u64(264))
		case len(b) >= 276:
			// Breakpad's older layout: 64-bit flags, x0..x31 (x31 = sp), pc.
			for i := range 31 {
				set(fmt.Sprintf("x%d", i), u64(8+8*i))
			}
			set("sp", u64(8+8*31))
			set("pc", u64(264))
		default:
			return nil, fmt.Errorf("an arm64 context of %d bytes (expected %d)", len(b), contextARM64Size)
		}
	default:
		return nil, fmt.Errorf("contexts of this CPU are not supported")
	}
	return c, nil
}
