// Command tmploverlay writes a `go build -overlay` file that compiles the
// toolchain's own text/template without its lookup of template methods by
// name.
//
// text/template's field evaluation calls reflect.Value.MethodByName with a
// name known only when a template runs. The linker then cannot tell which
// methods the program calls, so it keeps every exported method of every type
// that is ever converted to an interface: 1.5 MB of tinysink's 13.9 MB
// binary, and the kernel maps those pages with the rest of the binary.
// tinysink's templates (the UI's and the alert emails') read fields and call
// template functions, never methods, so the release builds take the lookup
// out. With the overlay, a template that calls a method fails with "can't
// evaluate field"; `make test` runs the tests with the overlay, so such a
// template fails there too.
//
// Usage (the Makefile's):
//
//	go run ./ui/cmd/tmploverlay -goroot "$(go env GOROOT)" -dir bin/overlay
//
// It writes DIR/text_template_exec.go.txt and DIR/overlay.json and prints
// "-overlay=DIR/overlay.json" for the go command. When the toolchain's
// text/template is not one it knows (the statement it replaces is not there
// exactly once), it prints nothing and says so on standard error: the build
// then keeps the lookup and is only bigger, and CI's memory gate fails.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

// lookup is the statement of text/template's (*state).evalField that looks
// a method up by name, and noLookup what it becomes: a method that is never
// found, so evaluation goes on to fields and map keys as before.
const (
	lookup   = "if method := ptr.MethodByName(fieldName); method.IsValid() {"
	noLookup = "if method := (reflect.Value{}); method.IsValid() { // tinysink: templates call no methods (ui/cmd/tmploverlay)"
)

func main() {
	goroot := flag.String("goroot", "", "the toolchain's GOROOT (go env GOROOT)")
	dir := flag.String("dir", "bin/overlay", "where to write the patched file and overlay.json")
	flag.Parse()
	if *goroot == "" {
		fmt.Fprintln(os.Stderr, "tmploverlay: -goroot is required")
		os.Exit(2)
	}
	path, err := write(*goroot, *dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tmploverlay: %v; building without the overlay (a bigger binary)\n", err)
		return
	}
	fmt.Printf("-overlay=%s\n", path)
}

// errUnknown says that the toolchain's text/template is not one this
// command knows how to patch.
var errUnknown = errors.New("text/template's method lookup is not the one this command replaces")

// write patches goroot's text/template/exec.go into dir and writes the
// overlay file naming it. It returns the overlay file's absolute path.
func write(goroot, dir string) (string, error) {
	src := filepath.Join(goroot, "src", "text", "template", "exec.go")
	b, err := os.ReadFile(src)
	if err != nil {
		return "", err
	}
	patched, err := patch(b)
	if err != nil {
		return "", err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// Not a .go file: the directory is inside the module, and ./... would
	// take it for a package.
	dst := filepath.Join(dir, "text_template_exec.go.txt")
	if err := os.WriteFile(dst, patched, 0o644); err != nil {
		return "", err
	}
	overlay, _ := json.Marshal(map[string]map[string]string{"Replace": {src: dst}})
	path := filepath.Join(dir, "overlay.json")
	return path, os.WriteFile(path, overlay, 0o644)
}

// patch replaces the lookup statement, which must occur exactly once.
func patch(src []byte) ([]byte, error) {
	if bytes.Count(src, []byte(lookup)) != 1 {
		return nil, errUnknown
	}
	return bytes.Replace(src, []byte(lookup), []byte(noLookup), 1), nil
}
