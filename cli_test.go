package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The CLI commands work on a data directory no server holds, and refuse
// with a clear message while one does.
func TestCLICommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a subprocess")
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, err := exec.Command(bin, "project", "create", "Backend API", "-data", dir, "-base-url", "https://errors.example.org").Output()
	if err != nil {
		t.Fatalf("project create: %v", err)
	}
	dsn := strings.TrimSpace(string(out))
	if !strings.HasPrefix(dsn, "https://") || !strings.HasSuffix(dsn, "@errors.example.org/1") {
		t.Errorf("DSN = %q", dsn)
	}
	out, err = exec.Command(bin, "project", "list", "-data", dir).Output()
	if err != nil || !strings.Contains(string(out), "backend-api") {
		t.Errorf("project list = %q, %v", out, err)
	}
	if out, err := exec.Command(bin, "token", "create", "-data", dir).Output(); err != nil || len(strings.TrimSpace(string(out))) != 40 {
		t.Errorf("token create = %q, %v", out, err)
	}
	help, _ := exec.Command(bin, "-h").CombinedOutput()
	_, settings := newSettings()
	for _, s := range settings {
		if !strings.Contains(string(help), "-"+s.flag) || !strings.Contains(string(help), s.env) {
			t.Errorf("-h does not list -%s / %s", s.flag, s.env)
		}
	}
	startProc(t, dir)
	cmd := exec.Command(bin, "project", "list", "-data", dir)
	msg, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "in use by a running tinysink") {
		t.Errorf("project list while a server runs: %v, %q", err, msg)
	}
	// The account commands go through the server's control socket.
	if out, err := exec.Command(bin, "token", "create", "-data", dir).Output(); err != nil || len(strings.TrimSpace(string(out))) != 40 {
		t.Errorf("token create while a server runs = %q, %v", out, err)
	}
	cmd = exec.Command(bin, "user", "password", "admin", "-data", dir)
	cmd.Stdin = strings.NewReader("a-new-password\n")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "password of admin changed") {
		t.Errorf("user password while a server runs = %q, %v", out, err)
	}
}

// The README's settings table is generated from the settings list
// (go test . -run TestREADMESettings -update).
func TestREADMESettings(t *testing.T) {
	var b strings.Builder
	b.WriteString("| flag | environment | default | meaning |\n| --- | --- | --- | --- |\n")
	_, settings := newSettings()
	for _, s := range settings {
		def := "`" + s.def + "`"
		if s.def == "" {
			def = "(empty)"
		}
		fmt.Fprintf(&b, "| `-%s` | `%s` | %s | %s |\n", s.flag, s.env, def, strings.ReplaceAll(s.help, "|", "\\|"))
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	const open, close = "<!-- settings -->\n", "<!-- /settings -->"
	i, j := bytes.Index(readme, []byte(open)), bytes.Index(readme, []byte(close))
	if i < 0 || j < i {
		t.Fatal("README.md has no settings markers")
	}
	got := string(readme[i+len(open) : j])
	if got == b.String() {
		return
	}
	if *update {
		out := append(append(append([]byte{}, readme[:i+len(open)]...), b.String()...), readme[j:]...)
		if err := os.WriteFile("README.md", out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's settings table is out of date (go test . -run TestREADMESettings -update)")
}

// `tinysink health` (the container image's health check) exits 0 when the
// server is ready and 1 with the server's reasons when it is not.
func TestHealthCommand(t *testing.T) {
	ts := startServer(t)
	for _, args := range [][]string{{"health", "-url", ts.base}, {"health", "-live", "-url", ts.base}, {"health", "-addr", strings.TrimPrefix(ts.base, "http://")}} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 0 || strings.TrimSpace(out.String()) != "OK" {
			t.Errorf("%q: exit %d, %q %q", args, code, out.String(), errOut.String())
		}
	}

	notReady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"status":"unavailable","reasons":["disk nearly full"]}`)
	}))
	defer notReady.Close()
	var out, errOut bytes.Buffer
	if code := run([]string{"health", "-url", notReady.URL}, &out, &errOut); code != 1 || !strings.Contains(out.String(), "disk nearly full") || !strings.Contains(errOut.String(), "503") {
		t.Errorf("not ready: exit %d, %q %q", code, out.String(), errOut.String())
	}
	notReady.Close()
	if code := run([]string{"health", "-url", notReady.URL}, io.Discard, io.Discard); code != 1 {
		t.Errorf("no server: exit %d, want 1", code)
	}

	for addr, want := range map[string]string{":8000": "http://127.0.0.1:8000", "0.0.0.0:9000": "http://127.0.0.1:9000", "[::]:80": "http://[::1]:80", "10.0.0.2:8000": "http://10.0.0.2:8000"} {
		if got := localURL(addr); got != want {
			t.Errorf("localURL(%q) = %q, want %q", addr, got, want)
		}
	}
}
