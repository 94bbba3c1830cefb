package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/tinysink/tinysink/store"
)

// cmdToken creates an API token and prints its secret, which is shown
// once: the store keeps only its hash. By default the token has every
// scope for all projects; -scope and -project narrow it (a read token for
// one project is what an MCP agent that only reads needs). It works with
// or without a running server (control.go).
func cmdToken(args []string, stdout, stderr io.Writer) error {
	var scope, name string
	var project int64
	c, pos, err := parseFlags("tinysink token", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&scope, "scope", "admin", "token create: read, write or admin (each implies the ones before it)")
		fs.Int64Var(&project, "project", 0, "token create: the one project the token may touch (0: all projects)")
		fs.StringVar(&name, "name", "", "token create: a label for the token")
	})
	if err != nil {
		return err
	}
	if len(pos) != 1 || pos[0] != "create" {
		return errors.New("usage: tinysink token create [-scope read|write|admin] [-project ID] [-name NAME]")
	}
	s := store.Scope(strings.ToLower(strings.TrimSpace(scope)))
	i := indexScope(s)
	if i < 0 {
		return fmt.Errorf("-scope: unknown scope %q (want read, write or admin)", scope)
	}
	rep, err := control(c.Data, controlRequest{Op: "token-create", Name: name, Scopes: store.Scopes[:i+1], Project: project})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, rep.Secret)
	return nil
}

func indexScope(s store.Scope) int {
	for i, have := range store.Scopes {
		if have == s {
			return i
		}
	}
	return -1
}
