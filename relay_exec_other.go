//go:build !unix

package main

// execRelay cannot replace the process here: the relay runs in-process.
func execRelay(bin, config string) error { return errNoExec }
