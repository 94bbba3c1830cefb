package sym

import (
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// build indexes a gzipped .sym from ../testdata.
func build(t testing.TB, name string) *Table {
	t.Helper()
	dir := "testdata"
	if name == "test_app.sym.gz" {
		dir = "sample"
	}
	f, err := os.Open(filepath.Join("..", dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "idx")
	if _, err := Build(zr, path); err != nil {
		t.Fatal(err)
	}
	tab, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tab.Close() })
	return tab
}

func TestWindowsSym(t *testing.T) {
	tab := build(t, "test_app.sym.gz")
	m := tab.Module
	if m.OS != "windows" || m.Arch != "x86" || m.DebugID != "5A9832E5287241C1838ED98914E9B7FF1" || m.Name != "test_app.pdb" {
		t.Errorf("module = %+v", m)
	}
	fr := tab.Lookup(0x429e)
	if len(fr) != 1 || fr[0].Function != "`anonymous namespace'::CrashFunction" || fr[0].Line != 58 || !strings.HasSuffix(fr[0].File, `c:\test_app.cc`) {
		t.Errorf("0x429e = %+v", fr)
	}
	if w, ok := tab.Win(0x4295); !ok || w.Type != 4 || !w.HasProgram || !strings.HasPrefix(w.Program, "$T0 $ebp =") {
		t.Errorf("STACK WIN at 0x4295 = %+v %v", w, ok)
	}
	if fr := tab.Lookup(0x9b08); len(fr) == 0 {
		t.Errorf("no PUBLIC for 0x9b08")
	}
}

func TestInlines(t *testing.T) {
	tab := build(t, "crash-client.sym.gz")
	// 0xdf3 lies in alloc::raw_vec::finish_grow with two levels inlined
	// (INLINE 0 ... 1 df3 5 and INLINE 1 ... 2 df3 5).
	fr := tab.Lookup(0xdf4)
	if len(fr) != 3 {
		t.Fatalf("0xdf4 = %+v, want 2 inlined frames and the function", fr)
	}
	if fr[0].Function != "alloc::alloc::Global::grow_impl" || !fr[0].Inlined || fr[2].Inlined ||
		fr[2].Function != "alloc::raw_vec::finish_grow::<alloc::alloc::Global>" || fr[1].Line != 256 {
		t.Errorf("frames = %+v", fr)
	}
	rules, ok := tab.CFI(0xdd4)
	if !ok || !strings.HasPrefix(rules[0], ".cfa: $rbp 16 +") {
		t.Errorf("CFI = %q %v", rules, ok)
	}
}

func TestMalformed(t *testing.T) {
	dir := t.TempDir()
	for _, in := range []string{"", "garbage\n", "FUNC 1 2 3 x\n"} {
		if _, err := Build(strings.NewReader(in), filepath.Join(dir, "x")); err != ErrNotSym {
			t.Errorf("%q: err = %v, want ErrNotSym", in, err)
		}
	}
	st, err := Build(strings.NewReader("MODULE Linux x86_64 ABC app\nFUNC zz 1 0 f\nFUNC 10 5 0 f\n10 2 7 99\nINLINE 0 1\nSTACK CFI 1 x\n"), filepath.Join(dir, "y"))
	if err != nil || st.Funcs != 1 || len(st.Notes) == 0 {
		t.Fatalf("stats %+v, %v", st, err)
	}
	tab, err := Open(filepath.Join(dir, "y"))
	if err != nil {
		t.Fatal(err)
	}
	defer tab.Close()
	if fr := tab.Lookup(0x11); len(fr) != 1 || fr[0].Function != "f" || fr[0].Line != 7 || fr[0].File != "" {
		t.Errorf("lookup = %+v", fr)
	}
}

func FuzzSym(f *testing.F) {
	f.Add([]byte("MODULE Linux x86_64 ABC app\nFILE 0 a.c\nINLINE_ORIGIN 0 g\nFUNC 10 5 0 f\n10 2 7 0\nINLINE 0 3 0 0 10 2\nPUBLIC 20 0 p\nSTACK CFI INIT 10 5 .cfa: $rsp 8 + .ra: .cfa -8 + ^\nSTACK CFI 12 .cfa: $rsp 16 +\nSTACK WIN 4 10 5 0 0 0 0 0 0 1 $T0 $ebp =\n"))
	dir := f.TempDir()
	sync := syncFile
	syncFile = func(*os.File) error { return nil } // throwaway indexes
	f.Cleanup(func() { syncFile = sync })
	f.Fuzz(func(t *testing.T, in []byte) {
		path := filepath.Join(dir, "idx")
		if _, err := Build(strings.NewReader(string(in)), path); err != nil {
			return
		}
		tab, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer tab.Close()
		for _, a := range []uint64{0, 0x10, 0x12, 0x20, 1 << 40} {
			tab.Lookup(a)
			tab.CFI(a)
			tab.Win(a)
		}
	})
}
