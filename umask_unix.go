//go:build unix

package main

import "syscall"

// privateUmask makes every file the process creates private to its user,
// including those that libraries create with 0666 (buntdb's store.db and
// the file it rewrites it through).
func privateUmask() { syscall.Umask(0o077) }
