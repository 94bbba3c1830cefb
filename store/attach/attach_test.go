package attach

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const id1, id2 = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"

func TestCapsListAndSweep(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s.MaxEventBytes, s.MaxProjectBytes = 10, 15

	w, _ := s.Begin(1)
	if _, err := w.Add("a/b.txt", "text/plain", "", strings.NewReader("12345")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Add("big", "", TypeMinidump, strings.NewReader("123456")); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the event cap: %v", err)
	}
	if err := w.Commit(id1); err != nil {
		t.Fatal(err)
	}
	items, err := s.List(1, id1)
	if err != nil || len(items) != 1 || items[0].Name != "a_b.txt" || items[0].Type != TypeAttachment || items[0].Size != 5 {
		t.Fatalf("items = %+v, %v", items, err)
	}
	f, it, err := s.Open(1, id1, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "12345" || it.ContentType != "text/plain" {
		t.Errorf("read %q %+v", b, it)
	}

	// The project cap counts what is stored: 5 of 15 bytes used.
	w, _ = s.Begin(1)
	if _, err := w.Add("x", "", "", strings.NewReader("1234567890")); err != nil {
		t.Fatalf("within the project cap: %v", err)
	}
	w.Abort()
	w, _ = s.Begin(1)
	w.Add("x", "", "", strings.NewReader("1234567890"))
	w.Commit(id2)
	w, _ = s.Begin(1)
	if _, err := w.Add("y", "", "", strings.NewReader("1")); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the project cap: %v", err)
	}
	w.Abort()

	if err := s.Clone(1, id1, strings.Repeat("1", 32)); err != nil {
		t.Fatal(err)
	}
	// Sweep: id2's event is gone (and old enough), id1's is not.
	old := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(s.dir, "1", id2), old, old)
	n := s.Sweep(func(_ int, id string) bool { return id != id2 }, 0)
	if n != 1 {
		t.Errorf("swept %d, want 1", n)
	}
	if items, _ := s.List(1, id2); items != nil {
		t.Errorf("id2 still listed: %+v", items)
	}
	if items, _ := s.List(1, id1); len(items) != 1 {
		t.Errorf("id1 lost: %+v", items)
	}
	// Retention by age.
	os.Chtimes(filepath.Join(s.dir, "1", id1), old, old)
	if n := s.Sweep(func(int, string) bool { return true }, time.Minute); n != 1 {
		t.Errorf("swept %d by age, want 1", n)
	}
}
