package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// goTool is the go command of the toolchain running the test.
func goTool(t *testing.T) string {
	t.Helper()
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); runtime.GOROOT() != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	p, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command: %v", err)
	}
	return p
}

func goEnv(t *testing.T, goBin, key string) string {
	t.Helper()
	out, err := exec.Command(goBin, "env", key).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", key, err)
	}
	return strings.TrimSpace(string(out))
}

func TestPatch(t *testing.T) {
	src := []byte("a\n\t" + lookup + "\n\t\treturn method\n\t}\n")
	got, err := patch(src)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(got, []byte(".MethodByName(")) || !bytes.Contains(got, []byte(noLookup)) {
		t.Fatalf("patched:\n%s", got)
	}
	for _, bad := range [][]byte{[]byte("no lookup here"), append(append([]byte{}, src...), src...)} {
		if _, err := patch(bad); !errors.Is(err, errUnknown) {
			t.Errorf("patch(%q) = %v, want errUnknown", bad, err)
		}
	}
}

// TestOverlay writes the overlay for this toolchain and builds one small
// program twice, with and without it: with it, the linker drops an
// exported method the program never calls, fields still work in templates,
// and a template that calls a method fails to execute.
func TestOverlay(t *testing.T) {
	goBin := goTool(t)
	dir := t.TempDir()
	path, err := write(goEnv(t, goBin, "GOROOT"), filepath.Join(dir, "overlay"))
	if err != nil {
		t.Fatalf("this toolchain's text/template cannot be patched: %v", err)
	}
	var ov struct{ Replace map[string]string }
	if b, err := os.ReadFile(path); err != nil || json.Unmarshal(b, &ov) != nil || len(ov.Replace) != 1 {
		t.Fatalf("overlay file: %v %+v", err, ov)
	}
	for from, to := range ov.Replace {
		if filepath.Base(from) != "exec.go" || !strings.HasSuffix(filepath.Dir(from), filepath.Join("text", "template")) {
			t.Errorf("the overlay replaces %s", from)
		}
		if b, err := os.ReadFile(to); err != nil || bytes.Contains(b, []byte(".MethodByName(")) {
			t.Errorf("patched file %s: %v, or it still looks methods up", to, err)
		}
	}

	prog := filepath.Join(dir, "prog")
	os.MkdirAll(prog, 0o755)
	os.WriteFile(filepath.Join(prog, "go.mod"), []byte("module prog\n\ngo 1.26\n"), 0o644)
	os.WriteFile(filepath.Join(prog, "main.go"), []byte(`package main

import (
	"os"
	"text/template"
)

type T struct{ Name string }

func (t *T) NeverCalledMarker() string { return "called" }

func main() {
	var x any = &T{Name: "field"}
	err := template.Must(template.New("t").Parse(os.Args[1])).Execute(os.Stdout, x)
	if err != nil {
		os.Stdout.WriteString("error: " + err.Error())
	}
}
`), 0o644)
	build := func(out string, flags ...string) string {
		args := append([]string{"build", "-o", out}, flags...)
		cmd := exec.Command(goBin, args...)
		cmd.Dir = prog
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GOWORK=off")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %v: %v\n%s", flags, err, b)
		}
		nm, err := exec.Command(goBin, "tool", "nm", out).Output()
		if err != nil {
			t.Fatalf("go tool nm: %v", err)
		}
		return string(nm)
	}
	run := func(bin, tmpl string) string {
		out, _ := exec.Command(bin, tmpl).Output()
		return string(out)
	}
	plain := filepath.Join(dir, "plain")
	patched := filepath.Join(dir, "patched")
	if nm := build(plain); !strings.Contains(nm, "NeverCalledMarker") {
		t.Fatal("without the overlay the linker dropped the method: the test proves nothing")
	}
	if nm := build(patched, "-overlay="+path); strings.Contains(nm, "NeverCalledMarker") {
		t.Error("with the overlay the linker still keeps a method nothing calls")
	}
	if got := run(plain, "{{.NeverCalledMarker}}"); got != "called" {
		t.Errorf("plain build, method call: %q", got)
	}
	if got := run(patched, "{{.Name}}"); got != "field" {
		t.Errorf("patched build, field: %q", got)
	}
	if got := run(patched, "{{.NeverCalledMarker}}"); !strings.Contains(got, "can't evaluate field NeverCalledMarker") {
		t.Errorf("patched build, method call: %q, want an error", got)
	}
}
