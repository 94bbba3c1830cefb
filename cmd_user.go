package main

import (
	"crypto/rand"
	"flag"
	"fmt"
	"io"
)

// cmdUser creates users and sets passwords, with or without a running
// server (control.go). The password is read from stdin, one line:
//
//	tinysink user create NAME [-admin]   (an empty stdin makes up a password and prints it)
//	tinysink user password NAME
func cmdUser(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	const usage = "tinysink user create NAME [-admin] | tinysink user password NAME (the password on stdin)"
	var admin bool
	c, pos, err := parseFlags("tinysink user", args, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&admin, "admin", false, "user create: make the user an admin")
	})
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 2, 2, usage); err != nil {
		return &usageError{err}
	}
	req := controlRequest{Name: pos[1], Admin: admin}
	switch pos[0] {
	case "create":
		req.Op = "user-create"
	case "password":
		req.Op = "user-password"
	default:
		return &usageError{fmt.Errorf("unknown user command %q; usage: %s", pos[0], usage)}
	}
	if req.Password, err = readPassword(stdin); err != nil {
		return err
	}
	made := false
	if req.Password == "" && req.Op == "user-create" {
		req.Password, made = rand.Text(), true
	}
	if _, err := control(c.Data, req); err != nil {
		return err
	}
	switch {
	case made:
		fmt.Fprintf(stdout, "created %s with the password %s\n", req.Name, req.Password)
	case req.Op == "user-create":
		fmt.Fprintf(stdout, "created %s\n", req.Name)
	default:
		fmt.Fprintf(stdout, "password of %s changed; its sessions are logged out\n", req.Name)
	}
	return nil
}
