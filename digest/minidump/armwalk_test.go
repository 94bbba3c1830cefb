package minidump

import (
	"bytes"
	"encoding/binary"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinysink/tinysink/digest/minidump/sym"
)

// armDump builds a dump in memory of one thread whose stack (at
// stackBase) holds words, with one module of code at 0x10000000.
func armDump(ptr int, words map[uint64]uint64, size int) (*Dump, *Thread) {
	const stackBase = 0x70000000
	mem := make([]byte, size)
	for addr, v := range words {
		off := addr - stackBase
		if ptr == 8 {
			binary.LittleEndian.PutUint64(mem[off:], v)
		} else {
			binary.LittleEndian.PutUint32(mem[off:], uint32(v))
		}
	}
	d := &Dump{
		Modules: []Module{{Base: 0x10000000, Size: 0x100000, Name: "/usr/bin/app", DebugID: strings.Repeat("A", 33)}},
		r:       bytes.NewReader(mem), size: int64(size),
	}
	return d, &Thread{ID: 1, StackBase: stackBase, Stack: Location{RVA: 0, Size: uint32(size)}}
}

func regs(arch Arch, kv map[string]uint64) *Context {
	c := &Context{Arch: arch}
	for name, v := range kv {
		c.Set(arch.RegIndex(name), v)
	}
	return c
}

type wantFrame struct {
	pc    uint64
	trust string
}

func checkFrames(t *testing.T, got []Frame, want []wantFrame) {
	t.Helper()
	var g []wantFrame
	for _, f := range got {
		g = append(g, wantFrame{f.PC, f.Trust})
	}
	if len(g) != len(want) {
		t.Fatalf("frames %x, want %x", g, want)
	}
	for i := range want {
		if g[i] != want[i] {
			t.Fatalf("frame %d: %x, want %x (all: %x)", i, g[i], want[i], g)
		}
	}
}

// arm64: the frame-record chain (x29 → saved x29, saved x30), with a
// pointer-authentication code in a saved return address stripped, ending
// at a null frame record.
func TestWalkARM64FramePointers(t *testing.T) {
	const pac = 0x002b000000000000
	d, th := armDump(8, map[uint64]uint64{
		0x70000100: 0x70000200, 0x70000108: pac | 0x10002004,
		0x70000200: 0x70000300, 0x70000208: 0x10003008,
		0x70000300: 0, 0x70000308: 0,
	}, 4096)
	ctx := regs(ArchARM64, map[string]uint64{"pc": 0x10001000, "sp": 0x70000000, "x29": 0x70000100, "x30": 0x10002004})
	checkFrames(t, d.Walk(th, ctx, nil), []wantFrame{
		{0x10001000, TrustContext}, {0x10002004, TrustFP}, {0x10003008, TrustFP},
	})
}

// arm64 CFI from uploaded symbols: a leaf function whose return address is
// still in the link register (.ra: x30), then a function that saved its
// frame record (.cfa: sp 32 +, x29 and .ra at the CFA's -32 and -24).
func TestWalkARM64CFI(t *testing.T) {
	d, th := armDump(8, map[uint64]uint64{
		0x70000000: 0x70000400, // x29 saved by the middle frame
		0x70000008: 0x10003010, // and its return address
	}, 4096)
	src := "MODULE Linux arm64 " + strings.Repeat("A", 33) + " app\n" +
		"FUNC 1000 100 0 leaf\nFUNC 2000 100 0 middle\nFUNC 3000 100 0 outer\n" +
		"STACK CFI INIT 1000 100 .cfa: sp 0 + .ra: x30\n" +
		"STACK CFI INIT 2000 100 .cfa: sp 32 + .ra: .cfa -24 + ^ x29: .cfa -32 + ^\n"
	tab := buildSym(t, src)
	syms := func(m *Module) *sym.Table { return tab }
	ctx := regs(ArchARM64, map[string]uint64{"pc": 0x10001010, "sp": 0x70000000, "x29": 0x70000100, "x30": 0x10002020})
	frames := d.Walk(th, ctx, syms)
	if len(frames) < 3 {
		t.Fatalf("frames %+v", frames)
	}
	checkFrames(t, frames[:3], []wantFrame{
		{0x10001010, TrustContext}, {0x10002020, TrustCFI}, {0x10003010, TrustCFI},
	})
	if got := frames[1].Symbols; len(got) == 0 || got[len(got)-1].Function != "middle" {
		t.Errorf("frame 1 symbols %+v, want middle", got)
	}
}

// arm (32-bit): frame pointers are not followed; the caller is found by
// scanning the stack for a word inside a module.
func TestWalkARMScan(t *testing.T) {
	d, th := armDump(4, map[uint64]uint64{
		0x70000000: 0xdeadbeef, 0x70000004: 0x12, 0x70000008: 0x10004001,
	}, 1024)
	ctx := regs(ArchARM, map[string]uint64{"pc": 0x10001000, "sp": 0x70000000, "r11": 0x70000100})
	frames := d.Walk(th, ctx, nil)
	if len(frames) < 2 {
		t.Fatalf("frames %+v", frames)
	}
	checkFrames(t, frames[:2], []wantFrame{{0x10001000, TrustContext}, {0x10004001, TrustScan}})
	if frames[1].Module == nil || frames[1].Module.Name != "/usr/bin/app" {
		t.Errorf("scanned frame's module %+v", frames[1].Module)
	}
}

func buildSym(t *testing.T, src string) *sym.Table {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app.idx")
	if _, err := sym.Build(strings.NewReader(src), path); err != nil {
		t.Fatal(err)
	}
	tab, err := sym.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tab.Close() })
	return tab
}
