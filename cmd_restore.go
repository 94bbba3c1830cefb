package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/tinysink/tinysink/store"
)

// cmdRestore rebuilds the data directory -data, which must be empty, from
// a backup archive, and opens it once to check it.
func cmdRestore(args []string, stdout, stderr io.Writer) error {
	c, pos, err := parseFlags("tinysink restore", args, stderr)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "tinysink restore FILE -data DIR"); err != nil {
		return err
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return err
	}
	defer f.Close()
	m, err := store.Restore(f, c.Data)
	if err != nil {
		return err
	}
	db, err := store.Open(c.Data)
	if err != nil {
		return fmt.Errorf("the restored directory %s does not open: %w", c.Data, err)
	}
	defer db.Close()
	ps, err := db.Projects()
	if err != nil {
		return err
	}
	var events int64
	for _, p := range ps {
		events += p.StoredEventCount
	}
	fmt.Fprintf(stdout, "restored %s into %s: %d projects, %d stored events (backup of %s); undigested events in the spool are digested at the next start\n",
		pos[0], c.Data, len(ps), events, m.Created.Format(time.RFC3339))
	return nil
}
