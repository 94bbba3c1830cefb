// Command tinysink-relay is tinysink's relay-only mode in a binary of its
// own: `tinysink -store=false` parses its settings and executes this
// binary when it lies beside it. A relay then runs only the code it needs
// (ingest, spool, forwarder) and idles in a few MiB, since every page of a
// Go binary the process touches counts in its VmRSS. Started by hand it
// says how to start a relay.
package main

import (
	"fmt"
	"os"

	"github.com/tinysink/tinysink/ingest/httpserve"
	"github.com/tinysink/tinysink/ingest/relay"
)

func main() {
	raw, ok := os.LookupEnv(relay.ConfigEnv)
	if !ok {
		fmt.Fprintf(os.Stderr, "%s is started by tinysink: run tinysink -store=false -forward-dsn DSN (see tinysink -h)\n", relay.Binary)
		os.Exit(2)
	}
	os.Unsetenv(relay.ConfigEnv)
	if err := run(raw); err != nil {
		fmt.Fprintln(os.Stderr, "tinysink:", err)
		os.Exit(1)
	}
}

func run(raw string) error {
	c, err := relay.DecodeConfig(raw)
	if err != nil {
		return err
	}
	log, err := httpserve.NewLogger(c.LogLevel, c.LogFormat, os.Stderr)
	if err != nil {
		return err
	}
	return relay.Main(c, log, os.Stdout, os.Stderr)
}
