package store

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
	f, err := os.Create(filepath.Join(t.TempDir(), "seg"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var parts [][]byte
	var want []byte
	for i := range 2*maxIovecs + 7 {
		p := bytes.Repeat([]byte{byte(i)}, i%13) // every 13th is empty
		parts = append(parts, p)
		want = append(want, p...)
	}
	const off = 5000
	if err := writeParts(f, parts, off); err != nil {
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

// TestSkipWritten checks what writeParts goes on with after a short
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
