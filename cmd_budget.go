package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/tinysink/tinysink/budget/profile"
)

// cmdBudget implements `tinysink budget [flags]`: the RAM profile, stage
// by stage (budget/profile). Bad arguments exit 2, a profile over its
// ceiling exits 1.
func cmdBudget(args []string, stdout, stderr io.Writer) error {
	err := profile.Run(args, stdout, stderr)
	var usage *profile.UsageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return err
	case errors.As(err, &usage):
		return &usageError{fmt.Errorf("budget: %w", err)}
	}
	return fmt.Errorf("budget: %w", err)
}

// cmdIdle implements `tinysink idle`, a process that only sleeps: the
// "bare binary" row of the profile.
func cmdIdle() {
	for {
		time.Sleep(time.Hour)
	}
}
