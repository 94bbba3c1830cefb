package main

import (
	"bytes"
	"flag"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tinysink/tinysink/store"
)

func TestParseInterspersed(t *testing.T) {
	for _, tt := range []struct {
		name    string
		args    []string
		wantPos []string
		wantD   string
		wantB   bool
	}{
		{"flags after", []string{"FILE", "-d", "x", "-b"}, []string{"FILE"}, "x", true},
		{"flags before", []string{"-d", "x", "FILE"}, []string{"FILE"}, "x", false},
		{"flags between", []string{"create", "-d=x", "NAME", "-b"}, []string{"create", "NAME"}, "x", true},
		{"double dash", []string{"-d", "x", "--", "-b", "FILE"}, []string{"-b", "FILE"}, "x", false},
		{"no args", nil, nil, "", false},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		d := fs.String("d", "", "")
		b := fs.Bool("b", false, "")
		pos, err := parseInterspersed(fs, tt.args)
		if err != nil || !slices.Equal(pos, tt.wantPos) || *d != tt.wantD || *b != tt.wantB {
			t.Errorf("%s: pos %q d %q b %v err %v; want %q %q %v", tt.name, pos, *d, *b, err, tt.wantPos, tt.wantD, tt.wantB)
		}
	}
}

// Every subcommand takes its flags before and after its arguments: the
// README's `tinysink backup FILE -data D` with -url, and the others.
func TestSubcommandFlagsInAnyOrder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	cli := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 0 {
			t.Fatalf("tinysink %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
		}
		return out.String()
	}
	if dsn := cli("project", "create", "-data", dir, "Shop", "-key", "0123456789abcdef0123456789abcdef"); !strings.Contains(dsn, "0123456789abcdef0123456789abcdef@") {
		t.Errorf("project create with -key after NAME: DSN %q", dsn)
	}
	if list := cli("project", "-data", dir, "list"); !strings.Contains(list, "shop") {
		t.Errorf("project list = %q", list)
	}
	if tok := cli("token", "create", "-data", dir); len(strings.TrimSpace(tok)) != 40 {
		t.Errorf("token create = %q", tok)
	}
	// No server holds the directory, so -url and -token go unused, but
	// they must be accepted after FILE.
	file := filepath.Join(t.TempDir(), "b.tar.zst")
	if out := cli("backup", file, "-data", dir, "-url", "http://127.0.0.1:1", "-token", "x"); !strings.Contains(out, "1 projects") {
		t.Errorf("backup = %q", out)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	if out := cli("restore", "-data", restored, file); !strings.Contains(out, "restored") {
		t.Errorf("restore = %q", out)
	}

	var errb bytes.Buffer
	if code := run([]string{"backup", "-data", dir}, io.Discard, &errb); code == 0 || !strings.Contains(errb.String(), "usage: tinysink backup FILE") {
		t.Errorf("backup without FILE: exit %d, %q", code, errb.String())
	}
}

func TestBannerProject(t *testing.T) {
	p := &store.Project{ID: 1, Name: "default"}
	if got := bannerProject(p, 1); got != `"default" (id 1)` {
		t.Errorf("one project: %q", got)
	}
	if got := bannerProject(p, 3); got != `"default" (id 1), 1 of 3 projects: tinysink project list shows every DSN` {
		t.Errorf("three projects: %q", got)
	}
}
