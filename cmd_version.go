package main

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

// buildVersion is the version the binary was built as: the -ldflags one,
// else the VCS revision, else "dev".
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return s.Value[:12]
			}
		}
	}
	return "dev"
}

// cmdVersion implements `tinysink version`.
func cmdVersion(args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return errors.New("usage: tinysink version")
	}
	fmt.Fprintln(stdout, buildVersion())
	return nil
}
