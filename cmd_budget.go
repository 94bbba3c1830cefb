package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// budgetTool is the RAM profiler's own binary (budget/cmd/budget), which
// `make build` writes beside tinysink. It is not part of the server binary:
// its ~0.5 MB of code cost ~0.35 MiB of the fully warmed VmRSS it measures.
const budgetTool = "tinysink-budget"

// cmdBudget implements `tinysink budget [flags]`: it runs the profiler
// (tinysink-budget, found beside this executable or on PATH) on this
// binary unless -binary names another. Bad arguments exit 2, a profile over
// its ceiling exits 1, as the profiler itself does.
func cmdBudget(args []string, stdout, stderr io.Writer) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	tool := filepath.Join(filepath.Dir(self), budgetTool)
	if _, err := os.Stat(tool); err != nil {
		if tool, err = exec.LookPath(budgetTool); err != nil {
			return &usageError{fmt.Errorf("budget: the profiler %s is neither beside %s nor on PATH (make build builds both; or go run ./budget/cmd/budget -binary %s)", budgetTool, self, self)}
		}
	}
	given := false
	for _, a := range args {
		if a == "--" {
			break
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		given = given || (strings.HasPrefix(a, "-") && name == "binary")
	}
	if !given {
		args = append([]string{"-binary", self}, args...)
	}
	cmd := exec.Command(tool, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if exit.ExitCode() == 2 {
			return &usageError{errors.New("budget: bad arguments (see above)")}
		}
		return errors.New("budget: the profile is over its ceiling or failed (see above)")
	}
	return err
}

// cmdIdle implements `tinysink idle`, a process that only sleeps: the
// "bare binary" row of the RAM profile.
func cmdIdle() {
	for {
		time.Sleep(time.Hour)
	}
}
