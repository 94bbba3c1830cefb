package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/tinysink/tinysink/ui"
)

func cmdProject(args []string, stdout, stderr io.Writer) error {
	const usage = "tinysink project create NAME [-key KEY] | tinysink project list"
	var key string
	// -key KEY keeps a DSN key from another installation.
	c, pos, err := parseFlags("tinysink project", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&key, "key", "", "project create: the DSN key to keep (from another installation)")
	})
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return errors.New("usage: " + usage)
	}
	sub, name := pos[0], ""
	switch sub {
	case "create":
		if err := wantArgs(pos, 2, 2, "tinysink project create NAME [-key KEY]"); err != nil {
			return err
		}
		name = pos[1]
	case "list":
		if err := wantArgs(pos, 1, 1, "tinysink project list"); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown project command %q", sub)
	}
	db, err := openStore(c.Data)
	if err != nil {
		return err
	}
	defer db.Close()
	base := baseURL(c, nil)
	switch sub {
	case "create":
		p, err := db.CreateProject(name)
		if err != nil {
			return err
		}
		if key != "" {
			if err := db.SetProjectKey(p.ID, key); err != nil {
				return err
			}
			p.Key = key
		}
		fmt.Fprintln(stdout, ui.DSN(base, p))
	case "list":
		ps, err := db.Projects()
		if err != nil {
			return err
		}
		for i := range ps {
			fmt.Fprintf(stdout, "%d\t%s\t%s\n", ps[i].ID, ps[i].Slug, ui.DSN(base, &ps[i]))
		}
	}
	return nil
}
