package main

import (
	"errors"
	"fmt"
	"io"
)

func cmdToken(args []string, stdout, stderr io.Writer) error {
	c, pos, err := parseFlags("tinysink token", args, stderr)
	if err != nil {
		return err
	}
	if len(pos) != 1 || pos[0] != "create" {
		return errors.New("usage: tinysink token create")
	}
	db, err := openStore(c.Data)
	if err != nil {
		return err
	}
	defer db.Close()
	tok, err := db.CreateToken()
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
