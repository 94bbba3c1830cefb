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
// once: the store keeps only its hash. It works with or without a running
// server (control.go).
func cmdToken(args []string, stdout, stderr io.Writer) error {
	var name, scopes string
	var project int64
	c, pos, err := parseFlags("tinysink token", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "token create: a label for the token")
		fs.StringVar(&scopes, "scope", "read,write,admin", "token create: what the token may do, a comma-separated list of read, write, admin")
		fs.Int64Var(&project, "project", 0, "token create: the one project id the token may touch (0 = all)")
	})
	if err != nil {
		return err
	}
	if len(pos) != 1 || pos[0] != "create" {
		return errors.New("usage: tinysink token create [-name NAME] [-scope read,write,admin] [-project ID]")
	}
	var ss []store.Scope
	for s := range strings.SplitSeq(scopes, ",") {
		if s = strings.TrimSpace(s); s != "" {
			ss = append(ss, store.Scope(s))
		}
	}
	rep, err := control(c.Data, controlRequest{Op: "token-create", Name: name, Scopes: ss, Project: project})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, rep.Secret)
	return nil
}
