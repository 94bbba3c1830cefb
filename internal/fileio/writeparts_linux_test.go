package fileio

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteParts writes more parts than one pwritev takes, empty ones
// among them, at an offset past the file's end, and reads them back
// whole.
func TestWriteParts(t *testing.T) {
	t.Parallel()
	f := tempFile(t)
	var parts [][]byte
	var want []byte
	for i := range 2*maxIovecs + 7 {
		p := bytes.Repeat([]byte{byte(i)}, i%13) // every 13th is empty
		parts = append(parts, p)
		want = append(want, p...)
	}
	const off = 5000
	if err := WriteParts(f, parts, off); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != off+len(want) || !bytes.Equal(got[off:], want) || !bytes.Equal(got[:off], make([]byte, off)) {
		t.Fatalf("read back %d bytes, want %d zero bytes then the %d written", len(got), off, len(want))
	}
}

// TestWritePartsPast4GiB writes past 4 GiB (a sparse file), where a 32-bit
// system passes the offset's high half in a word of its own.
func TestWritePartsPast4GiB(t *testing.T) {
	t.Parallel()
	f := tempFile(t)
	const off int64 = 1<<32 + 7
	if err := WriteParts(f, [][]byte{[]byte("high"), []byte(" half")}, off); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 9)
	if _, err := f.ReadAt(got, off); err != nil || string(got) != "high half" {
		t.Fatalf("read back %q, %v", got, err)
	}
	if st, err := f.Stat(); err != nil || st.Size() != off+9 {
		t.Fatalf("file size %v, %v; want %d", st.Size(), err, off+9)
	}
}

// TestSkipWritten checks what WriteParts goes on with after a short
// write, wherever it stopped.
func TestSkipWritten(t *testing.T) {
	parts := [][]byte{[]byte("abc"), nil, []byte("de"), []byte("fghi")}
	const all = "abcdefghi"
	for n := range len(all) + 1 {
		got := bytes.Join(skipWritten(parts, n), nil)
		if string(got) != all[n:] {
			t.Errorf("after %d bytes: left %q, want %q", n, got, all[n:])
		}
	}
	if string(parts[0]) != "abc" || len(parts) != 4 {
		t.Error("skipWritten changed its argument")
	}
}

// TestWritePartsOne writes a single buffer (a plain pwrite) over the
// middle of a file and checks what is around it is kept.
func TestWritePartsOne(t *testing.T) {
	t.Parallel()
	f := tempFile(t)
	if err := WriteParts(f, [][]byte{bytes.Repeat([]byte("a"), 100)}, 0); err != nil {
		t.Fatal(err)
	}
	if err := WriteParts(f, [][]byte{[]byte("bcd")}, 40); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("a"), 100)
	copy(want[40:], "bcd")
	if !bytes.Equal(got, want) {
		t.Fatalf("read back %q", got)
	}
}

// tempFile creates an empty file in a test's temporary directory, closed
// when the test ends.
func tempFile(t *testing.T) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "seg"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
