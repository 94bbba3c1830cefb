package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/tinysink/tinysink/store"
)

// cmdToken creates an API token: by default with every scope for all
// projects; -scope and -project narrow it (a read token for one project is
// what an MCP agent that only reads needs).
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
	db, err := openStore(c.Data)
	if err != nil {
		return err
	}
	defer db.Close()
	s := store.Scope(strings.ToLower(strings.TrimSpace(scope)))
	scopes := store.Scopes
	if i := indexScope(s); i >= 0 {
		scopes = store.Scopes[:i+1]
	} else {
		return fmt.Errorf("-scope: unknown scope %q (want read, write or admin)", scope)
	}
	tok, _, err := db.CreateTokenWith(name, scopes, project)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
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
