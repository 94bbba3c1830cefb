//go:build unix

package main

import (
	"os"
	"syscall"

	"github.com/tinysink/tinysink/ingest/relay"
)

// execRelay replaces this process with the relay binary bin (same PID, so
// systemd and the like keep supervising it), handing it its settings in
// the environment. The relay gets this process's arguments too, which it
// does not read, so that ps shows how it was started. It returns only on
// failure.
func execRelay(bin, config string) error {
	env := append(os.Environ(), relay.ConfigEnv+"="+config)
	return syscall.Exec(bin, append([]string{bin}, os.Args[1:]...), env)
}
