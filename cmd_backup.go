package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/tinysink/tinysink/store"
)

// cmdBackup writes a backup archive to FILE. When a server holds the data
// directory, the server makes it (POST /api/canonical/0/backup/ with an API
// token from -token, TINYSINK_TOKEN or the file api-token in the data
// directory, at -url or TINYSINK_URL, by default the local -addr);
// otherwise the store is opened directly.
func cmdBackup(args []string, stdout, stderr io.Writer) error {
	var url, token string
	c, pos, err := parseFlags("tinysink backup", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&url, "url", os.Getenv("TINYSINK_URL"), "URL of the running server (env TINYSINK_URL; default: the local -addr)")
		fs.StringVar(&token, "token", os.Getenv("TINYSINK_TOKEN"), "API token (env TINYSINK_TOKEN; default: <data>/api-token)")
	})
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "tinysink backup FILE [-url URL] [-token TOKEN] [flags]"); err != nil {
		return err
	}
	file := pos[0]
	if _, err := os.Stat(filepath.Join(c.Data, "store.db")); err != nil {
		return fmt.Errorf("no tinysink data directory at %s (-data)", c.Data)
	}
	db, err := store.Open(c.Data)
	switch {
	case err == nil:
		err = store.WriteBackup(db, file)
		db.Close()
	case errors.Is(err, store.ErrLocked):
		if url, token, err = serverAccess(c, url, token); err != nil {
			return err
		}
		err = store.FetchBackup(context.Background(), url, token, file)
	}
	if err != nil {
		return err
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	m, err := store.ReadManifest(f)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d projects, %d stored events, %d spool files\n", file, len(m.Projects), m.StoredEvents(), m.SpoolFiles)
	return nil
}
