package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// `tinysink budget` runs the profiler binary found beside it (make build
// writes tinysink-budget there; CI's `make budget` runs the real one end to
// end), on its own executable unless -binary is given, and passes the
// profiler's exit status on: 2 for bad arguments, 1 over a ceiling. A
// stand-in profiler here records what it was given.
func TestBudgetCommandRunsTheProfiler(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a subprocess")
	}
	built, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "tinysink")
	// A copy, not a symlink: the command looks beside its own executable.
	exe, err := os.ReadFile(built)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, exe, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, int) {
		cmd := exec.Command(bin, append([]string{"budget"}, args...)...)
		cmd.Env = append(os.Environ(), "PATH="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	if out, code := run("-max-rss", "20MiB"); code != 2 || !strings.Contains(out, "tinysink-budget") {
		t.Errorf("without the profiler: exit %d, %q; want 2 and its name", code, out)
	}

	script := "#!/bin/sh\necho \"args: $*\"\ncase \"$*\" in *ceiling*) exit 1;; *bogus*) exit 2;; esac\n"
	if err := os.WriteFile(filepath.Join(dir, "tinysink-budget"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, code := run("-max-rss", "20MiB"); code != 0 || strings.TrimSpace(out) != "args: -binary "+bin+" -max-rss 20MiB" {
		t.Errorf("exit %d, %q; want the profiler given -binary %s -max-rss 20MiB", code, out, bin)
	}
	if out, code := run("-binary=/other/tinysink", "-scenario", "old"); code != 0 || strings.TrimSpace(out) != "args: -binary=/other/tinysink -scenario old" {
		t.Errorf("exit %d, %q; want -binary passed as given", code, out)
	}
	if _, code := run("-bogus"); code != 2 {
		t.Errorf("bad arguments: exit %d, want 2", code)
	}
	if _, code := run("ceiling"); code != 1 {
		t.Errorf("over a ceiling: exit %d, want 1", code)
	}
}
