package minidump

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinysink/tinysink/digest/minidump/sym"
)

// testFile is where a sample lives: test.dmp and its symbols are embedded
// in package sample, the others are test data.
func testFile(name string) string {
	if name == "test.dmp" || name == "test_app.sym.gz" {
		return filepath.Join("sample", name)
	}
	return filepath.Join("testdata", name)
}

func open(t testing.TB, name string) *Dump {
	t.Helper()
	f, err := os.Open(testFile(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	d, err := Read(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// symbols indexes gzipped .sym files from testdata and finds them by
// debug id.
func symbols(t testing.TB, names ...string) Symbols {
	t.Helper()
	tabs := map[string]*sym.Table{}
	for _, name := range names {
		f, err := os.Open(testFile(name))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "idx")
		if _, err := sym.Build(zr, path); err != nil {
			t.Fatal(err)
		}
		f.Close()
		tab, err := sym.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tab.Close() })
		tabs[tab.Module.DebugID] = tab
	}
	return func(m *Module) *sym.Table { return tabs[m.DebugID] }
}

func crashFrames(t testing.TB, d *Dump, syms Symbols) []Frame {
	i := d.CrashingThread()
	if i < 0 {
		t.Fatal("no crashing thread")
	}
	ctx := d.Threads[i].Context
	if d.Exception != nil && d.Exception.Context != nil {
		ctx = d.Exception.Context
	}
	return d.Walk(&d.Threads[i], ctx, syms)
}

// The facts the samples' README lists for each dump.

func TestWindowsX86(t *testing.T) {
	d := open(t, "test.dmp")
	if d.System == nil || d.System.OS != "Windows" || d.System.Arch != ArchX86 {
		t.Fatalf("system = %+v", d.System)
	}
	reason, addr, ok := d.Reason()
	if !ok || reason != "EXCEPTION_ACCESS_VIOLATION_WRITE" || addr != 0x45 {
		t.Errorf("reason = %q 0x%x %v", reason, addr, ok)
	}
	if len(d.Threads) != 2 || d.CrashingThread() != 0 || !d.HasDumpThread || d.DumpThreadID != d.Threads[1].ID {
		t.Errorf("threads: %d, crashing %d, dump thread %d", len(d.Threads), d.CrashingThread(), d.DumpThreadID)
	}
	if m := d.Modules[0]; m.Name != `c:\test_app.exe` || m.DebugID != "5A9832E5287241C1838ED98914E9B7FF1" || m.DebugFile != `c:\test_app.pdb` {
		t.Errorf("module 0 = %+v", m)
	}

	// Without symbols: four frames, the last one by frame pointer.
	fr := crashFrames(t, d, nil)
	if len(fr) != 4 {
		t.Fatalf("%d frames, want 4: %+v", len(fr), fr)
	}
	if fr[0].PC != 0x40429e || fr[0].Trust != TrustContext || fr[0].Module.Name != `c:\test_app.exe` || d.Exception.Context.SP() != 0x12fe84 {
		t.Errorf("frame 0 = %+v", fr[0])
	}
	if fr[3].PC != 0x7c816fd7 || fr[3].Trust != TrustFP || fr[3].Module.Name != `C:\WINDOWS\system32\kernel32.dll` {
		t.Errorf("frame 3 = %+v", fr[3])
	}

	// With symbols: frame 0 is CrashFunction; STACK WIN unwinds frames 1-3.
	fr = crashFrames(t, d, symbols(t, "test_app.sym.gz"))
	if len(fr) != 4 || len(fr[0].Symbols) != 1 || fr[0].Symbols[0].Function != "`anonymous namespace'::CrashFunction" {
		t.Fatalf("frames = %+v", fr)
	}
	if fr[1].Trust != TrustCFI || fr[1].Symbols[0].Function != "main" || fr[3].PC != 0x7c816fd7 {
		t.Errorf("frames 1, 3 = %+v %+v", fr[1], fr[3])
	}
}

func TestLinux(t *testing.T) {
	d := open(t, "linux-mini.dmp")
	v, b := d.System.OSVersion()
	if d.System.OS != "Linux" || v != "4.9.60-linuxkit-aufs" || b != "#1 SMP Mon Nov 6 16:00:12 UTC 2017" {
		t.Errorf("os = %q %q %q", d.System.OS, v, b)
	}
	l := d.Linux
	if l == nil || l.ProcStatus == "" || l.LSBRelease == "" || !strings.Contains(l.CPUInfo, "processor") || len(l.Maps) == 0 {
		t.Fatalf("linux streams = %+v", l)
	}
	if !d.ProcessCreateTime.IsZero() {
		t.Errorf("process create time = %v, want none", d.ProcessCreateTime)
	}
	if m := d.Modules[0]; m.CodeID != "f1c3bcc0279865fe3058404b2831d9e64135386c" || m.DebugID != "C0BCC3F19827FE653058404B2831D9E60" {
		t.Errorf("module 0 ids = %q %q", m.CodeID, m.DebugID)
	}
	if r, _, _ := d.Reason(); r != "SIGSEGV" {
		t.Errorf("reason = %q", r)
	}
}

func TestCrashpad(t *testing.T) {
	d := open(t, "simple-crashpad.dmp")
	c := d.Crashpad
	if c == nil || c.ReportID != "42F9DE72-518A-43DD-97D7-8DDC328D3662" || c.ClientID != "6FD2B3B9-9833-4B2F-BBF7-0BCF501BAD7E" || c.SimpleAnnotations["hello"] != "world" {
		t.Fatalf("crashpad = %+v", c)
	}
	if len(c.Modules) != 2 || c.Modules[0].ModuleIndex != 16 || len(c.Modules[0].ListAnnotations) != 1 || c.Modules[0].ListAnnotations[0] != "abort() called" {
		t.Errorf("crashpad modules = %+v", c.Modules)
	}
	if r, _, _ := d.Reason(); r != "EXC_CRASH / SIGABRT" {
		t.Errorf("reason = %q", r)
	}
}

func TestAssertion(t *testing.T) {
	d := open(t, "invalid-parameter.dmp")
	a := d.Assertion
	if a == nil || a.Expression != "format != nullptr" || a.Function != "common_vfprintf" || a.File != `minkernel\crts\ucrt\src\appcrt\stdio\output.cpp` {
		t.Errorf("assertion = %+v", a)
	}
}

func TestMacInlines(t *testing.T) {
	d := open(t, "pipeline-inlines-macos-segv.dmp")
	if d.System.OS != "macOS" || d.System.Arch != ArchAMD64 {
		t.Fatalf("system = %+v", d.System)
	}
	if r, _, _ := d.Reason(); r != "EXC_BAD_ACCESS / KERN_INVALID_ADDRESS" {
		t.Errorf("reason = %q", r)
	}
	fr := crashFrames(t, d, symbols(t, "crash-client.sym.gz"))
	if len(fr) < 6 {
		t.Fatalf("%d frames", len(fr))
	}
	inlined := 0
	for i, f := range fr[:6] {
		if len(f.Symbols) == 0 || f.Symbols[len(f.Symbols)-1].Function == "" {
			t.Errorf("frame %d not symbolicated: %+v", i, f)
		}
		if i > 0 && f.Trust != TrustCFI {
			t.Errorf("frame %d trust %s, want cfi", i, f.Trust)
		}
		for _, s := range f.Symbols {
			if s.Inlined {
				inlined++
			}
		}
	}
	if inlined == 0 {
		t.Error("no inlined frames")
	}
	if s := fr[0].Symbols; s[0].Line == 0 || !strings.HasSuffix(s[0].File, ".rs") {
		t.Errorf("frame 0 has no file and line: %+v", s[0])
	}
}

func TestMalformed(t *testing.T) {
	d := open(t, "invalid-range.dmp")
	if !hasNote(d, "runs backwards") {
		t.Errorf("notes = %q", d.Notes)
	}
	d = open(t, "invalid-record-count.dmp")
	if !hasNote(d, "claims") {
		t.Errorf("notes = %q", d.Notes)
	}
	if _, err := Read(strings.NewReader("not a dump at all, really not"), 29); err != ErrNotMinidump {
		t.Errorf("err = %v", err)
	}
}

func hasNote(d *Dump, s string) bool {
	for _, n := range d.Notes {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

func FuzzMinidump(f *testing.F) {
	for _, name := range []string{"test.dmp", "linux-mini.dmp", "invalid-range.dmp", "invalid-record-count.dmp", "simple-crashpad.dmp"} {
		b, err := os.ReadFile(testFile(name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Read(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		d.Reason()
		for i := range d.Threads {
			d.Walk(&d.Threads[i], d.Threads[i].Context, nil)
		}
	})
}

func BenchmarkProcessTestDump(b *testing.B) {
	d0 := open(b, "test.dmp")
	_ = d0
	syms := symbols(b, "test_app.sym.gz")
	raw, _ := os.ReadFile(testFile("test.dmp"))
	b.ResetTimer()
	for b.Loop() {
		d, err := Read(bytes.NewReader(raw), int64(len(raw)))
		if err != nil {
			b.Fatal(err)
		}
		fr := crashFrames(b, d, syms)
		if fr[0].Symbols[0].Function != "`anonymous namespace'::CrashFunction" {
			b.Fatal(fr[0])
		}
	}
}
