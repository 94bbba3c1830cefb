// Command budget prints tinysink's RAM profile, stage by stage (see
// budget/profile): `go run ./budget/cmd/budget -binary ./tinysink`, or
// `make budget`. It is a command of its own, not a subcommand of the
// server, so that the profiler's code (~0.5 MB) is not in the binary it
// measures: every MB of that binary is resident memory.
//
// Bad arguments exit 2, a profile over its ceiling exits 1.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/tinysink/tinysink/budget/profile"
)

func main() {
	err := profile.Run(os.Args[1:], os.Stdout, os.Stderr)
	var usage *profile.UsageError
	switch {
	case err == nil:
		return
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.As(err, &usage):
		fmt.Fprintf(os.Stderr, "budget: %v\n", err)
		os.Exit(2)
	}
	fmt.Fprintf(os.Stderr, "budget: %v\n", err)
	os.Exit(1)
}
