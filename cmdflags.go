package main

import (
	"flag"
	"fmt"
)

// parseInterspersed parses args with fs, letting flags come before, between
// and after the positional arguments (`backup FILE -data D -url U` as well
// as `backup -data D FILE`), which it returns in order. Everything after
// "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// wantArgs checks that a command got between min and max positional
// arguments (max < 0: no upper bound).
func wantArgs(pos []string, min, max int, usage string) error {
	if len(pos) < min || max >= 0 && len(pos) > max {
		return fmt.Errorf("usage: %s", usage)
	}
	return nil
}
