package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// cmdHealth implements `tinysink health`: it asks the running server's
// /health/ready (or /health/live with -live) and exits 0 when it answers
// 200, 1 otherwise, printing the answer. The container image has no shell
// and no curl, so this is its HEALTHCHECK.
func cmdHealth(args []string, stdout, stderr io.Writer) error {
	var url string
	var live bool
	var timeout time.Duration
	c, pos, err := parseFlags("tinysink health", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&url, "url", os.Getenv("TINYSINK_URL"), "URL of the running server (env TINYSINK_URL; default: the local -addr)")
		fs.BoolVar(&live, "live", false, "ask /health/live (the process serves HTTP) instead of /health/ready")
		fs.DurationVar(&timeout, "timeout", 5*time.Second, "give up after this long")
	})
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 0, 0, "tinysink health [-url URL] [-live] [-timeout D] [flags]"); err != nil {
		return err
	}
	if url == "" {
		url = localURL(c.Addr)
	}
	path := "/health/ready"
	if live {
		path = "/health/live"
	}
	resp, err := (&http.Client{Timeout: timeout}).Get(strings.TrimRight(url, "/") + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	fmt.Fprintln(stdout, strings.TrimSpace(string(body)))
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}

// localURL is the URL a command on the server's own machine reaches the
// listen address addr at: loopback for a wildcard host, and no name to
// resolve (a container image has no /etc/hosts of its own).
func localURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://127.0.0.1:8000"
	}
	switch host {
	case "", "0.0.0.0", "localhost":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port)
}
