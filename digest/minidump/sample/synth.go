package sample

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"unicode/utf16"
)

// Synth writes a Linux x86-64 minidump of threads threads, each with
// stack bytes of stack holding return addresses into modules modules (and
// noise), so that every walk ends in frame pointers and stack scans: a
// worst case for the walker at a chosen size.
func Synth(threads, stack, modules int) []byte {
	var b bytes.Buffer
	w := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	at := func() uint32 { return uint32(b.Len()) }
	const nStreams = 5
	w([]uint32{0x504d444d, 0xa793, nStreams, 32, 0, 1700000000})
	w(uint64(0))
	dir := at()
	b.Write(make([]byte, nStreams*12))
	type ent struct{ typ, size, rva uint32 }
	var ents []ent
	str := func(s string) uint32 {
		r := at()
		u := utf16.Encode([]rune(s))
		w(uint32(len(u) * 2))
		w(u)
		w(uint16(0))
		return r
	}
	// System info.
	si := at()
	w(uint16(9))
	w(uint16(6))
	w(uint16(0))
	w(uint8(4))
	w(uint8(1))
	w([]uint32{0, 0, 0, 0x8201, 0})
	w([]uint16{0, 0})
	b.Write(make([]byte, 24))
	ents = append(ents, ent{7, 56, si})
	// Modules: 1 MiB each from 0x400000.
	names := make([]uint32, modules)
	for i := range names {
		names[i] = str("/usr/lib/libsynth" + string(rune('a'+i%26)) + ".so")
	}
	ml := at()
	w(uint32(modules))
	for i := range modules {
		w(uint64(0x400000 + i<<20))
		w([]uint32{1 << 20, 0, 0, names[i]})
		b.Write(make([]byte, 108-24))
	}
	ents = append(ents, ent{4, at() - ml, ml})
	// Stacks and contexts.
	rng := rand.New(rand.NewPCG(1, 2))
	type th struct{ stackRVA, ctxRVA uint32 }
	ths := make([]th, threads)
	for i := range ths {
		ths[i].stackRVA = at()
		base := uint64(0x7f0000000000) + uint64(i)<<24
		for j := 0; j < stack/8; j++ {
			switch {
			case j%7 == 3:
				w(uint64(0x400000 + rng.IntN(modules)<<20 + rng.IntN(1<<20)))
			case j%7 == 5:
				w(base + uint64(j*8+64)) // a frame-pointer-like value
			default:
				w(rng.Uint64())
			}
		}
		ths[i].ctxRVA = at()
		ctx := make([]byte, 1232)
		binary.LittleEndian.PutUint64(ctx[120+8*4:], base)                              // rsp
		binary.LittleEndian.PutUint64(ctx[120+8*5:], base+40)                           // rbp
		binary.LittleEndian.PutUint64(ctx[120+8*16:], uint64(0x400000+rng.IntN(1<<20))) // rip
		b.Write(ctx)
	}
	tl := at()
	w(uint32(threads))
	for i, t := range ths {
		w([]uint32{uint32(1000 + i), 0, 0, 0})
		w(uint64(0))
		w(uint64(0x7f0000000000) + uint64(i)<<24)
		w([]uint32{uint32(stack), t.stackRVA, 1232, t.ctxRVA})
	}
	ents = append(ents, ent{3, at() - tl, tl})
	ex := at()
	w([]uint32{1000, 0, 11, 1})
	b.Write(make([]byte, 168-16-8))
	w([]uint32{1232, ths[0].ctxRVA})
	ents = append(ents, ent{6, 168, ex})
	// The directory (the fifth entry stays empty: type 0, unused).
	out := b.Bytes()
	for i, e := range ents {
		binary.LittleEndian.PutUint32(out[int(dir)+12*i:], e.typ)
		binary.LittleEndian.PutUint32(out[int(dir)+12*i+4:], e.size)
		binary.LittleEndian.PutUint32(out[int(dir)+12*i+8:], e.rva)
	}
	return out
}
