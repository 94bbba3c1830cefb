package symstore

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinysink/tinysink/digest/minidump/sample"
)

const id = "5A9832E5287241C1838ED98914E9B7FF1"

func TestAddLookupAndCacheBound(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	zr, _ := gzip.NewReader(bytes.NewReader(sample.SymGz))
	info, err := s.Add(zr)
	if err != nil || info.DebugID != id || info.Name != "test_app.pdb" {
		t.Fatalf("add: %+v %v", info, err)
	}
	if _, err := s.Add(strings.NewReader("not symbols")); err == nil {
		t.Error("a file that is not a .sym was taken")
	}
	tab := s.Table(id)
	if tab == nil || tab.Lookup(0x429e)[0].Function != sample.CrashFunction {
		t.Fatal("lookup failed")
	}
	// A cache of 1 byte keeps no index; the next use builds it again.
	s.Close()
	s.MaxCacheBytes = 1
	s.trim()
	if m, _ := filepath.Glob(filepath.Join(dir, "cache", "*.idx")); len(m) != 0 {
		t.Errorf("cache not trimmed: %v", m)
	}
	if tab := s.Table(id); tab == nil || tab.Lookup(0x429e)[0].Function != sample.CrashFunction {
		t.Fatal("lookup after the cache was trimmed failed")
	}
	if s.Table("nothex") != nil || s.Table(strings.Repeat("0", 33)) != nil {
		t.Error("a table for an unknown id")
	}
	if err := s.Delete(id); err != nil || s.Has(id) {
		t.Errorf("delete: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "files", id)); !os.IsNotExist(err) {
		t.Errorf("files left: %v", err)
	}
}
