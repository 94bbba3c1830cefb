// Command tinysink is a self-hosted error tracker that any Sentry SDK can
// report to: one binary, one data directory, under a memory ceiling.
//
// Usage:
//
//	tinysink [serve] [flags]          run the server (the default)
//	tinysink project create NAME      create a project, print its DSN
//	tinysink project list             list projects and their DSNs
//	tinysink token create             create an API bearer token
//	tinysink user create NAME [-admin] create a user (password on stdin)
//	tinysink user password NAME       set a user's password (read from stdin)
//	tinysink backup FILE              write a backup archive (online, through a running server)
//	tinysink restore FILE             rebuild an empty data directory from a backup
//	tinysink export DIR|-             write projects, releases, events and issues as a portable export
//	tinysink import DIR|-             read an export into -data (or, with -forward DSN, into any Sentry)
//	tinysink health [-live]           exit 0 when the local server is ready
//	tinysink budget [-max-rss SIZE]   print the RAM profile, stage by stage (runs tinysink-budget)
//
// Every flag takes its default from an environment variable; `tinysink -h`
// lists both.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tinysink/tinysink/store"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	privateUmask()
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = cmdServe(args, stdout, stderr)
	case "project":
		err = cmdProject(args, stdout, stderr)
	case "token":
		err = cmdToken(args, stdout, stderr)
	case "user":
		err = cmdUser(args, os.Stdin, stdout, stderr)
	case "backup":
		err = cmdBackup(args, stdout, stderr)
	case "mcp":
		err = cmdMCP(args, os.Stdin, stdout, stderr)
	case "restore":
		err = cmdRestore(args, stdout, stderr)
	case "export":
		err = cmdExport(args, stdout, stderr)
	case "import":
		err = cmdImport(args, os.Stdin, stdout, stderr)
	case "budget":
		err = cmdBudget(args, stdout, stderr)
	case "idle":
		cmdIdle()
	case "health":
		err = cmdHealth(args, stdout, stderr)
	case "version":
		err = cmdVersion(args, stdout)
	case "help":
		_, _, err = parseFlags("tinysink", []string{"-h"}, stderr)
	default:
		err = fmt.Errorf("unknown command %q (try tinysink -h)", cmd)
	}
	var usage *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &usage):
		fmt.Fprintln(stderr, "tinysink:", err)
		return 2
	}
	fmt.Fprintln(stderr, "tinysink:", err)
	return 1
}

// usageError is a command's error about its arguments: the exit code is 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// openStore opens the data directory for a command, with a clear message
// when a running server holds it.
func openStore(dir string) (*store.DB, error) {
	db, err := store.Open(dir)
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("the data directory %s is in use by a running tinysink; stop it first", dir)
	}
	return db, err
}
