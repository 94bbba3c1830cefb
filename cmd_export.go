package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/tinysink/tinysink/digest"
	"github.com/tinysink/tinysink/ingest/spool"
	"github.com/tinysink/tinysink/store"
	"github.com/tinysink/tinysink/store/exchange"
)

// cmdExport writes every project, release, stored event and issue as an
// export (store/exchange) to DIR, or as a tar stream to stdout for "-".
// When a server holds the data directory, the export is made from a
// consistent snapshot: the server writes a backup (as for `tinysink
// backup`, with -url and -token), which is restored into a temporary
// directory inside the data directory, its spool digested, exported and
// removed.
func cmdExport(args []string, stdout, stderr io.Writer) error {
	var url, token string
	c, pos, err := parseFlags("tinysink export", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&url, "url", os.Getenv("TINYSINK_URL"), "URL of the running server (env TINYSINK_URL; default: the local -addr)")
		fs.StringVar(&token, "token", os.Getenv("TINYSINK_TOKEN"), "API token (env TINYSINK_TOKEN; default: <data>/api-token)")
	})
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "tinysink export DIR|- [-url URL] [-token TOKEN] [flags]"); err != nil {
		return &usageError{err}
	}
	if _, err := os.Stat(filepath.Join(c.Data, "store.db")); err != nil {
		return fmt.Errorf("no tinysink data directory at %s (-data)", c.Data)
	}
	db, err := store.Open(c.Data)
	if errors.Is(err, store.ErrLocked) {
		var cleanup func()
		if db, cleanup, err = snapshot(c, url, token); err != nil {
			return err
		}
		defer cleanup()
	} else if err != nil {
		return err
	} else {
		defer db.Close()
	}
	var st exchange.Stats
	where := pos[0]
	if where == "-" {
		st, err = exchange.ExportTar(db, stdout, buildVersion())
		where, stdout = "standard output", stderr
	} else {
		st, err = exchange.ExportDir(db, where, buildVersion())
	}
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	fmt.Fprintf(stdout, "exported %d projects, %d releases, %d events (%d attachments) and %d issues to %s\n", st.Projects, st.Releases, st.Events, st.Attachments, st.Issues, where)
	return nil
}

// snapshot opens a consistent copy of the data directory that a running
// server holds: the server's backup, restored into a temporary directory
// inside the data directory (the same disk, not a tmpfs), with its spool
// digested. cleanup closes and removes it.
func snapshot(c *config, url, token string) (*store.DB, func(), error) {
	url, token, err := serverAccess(c, url, token)
	if err != nil {
		return nil, nil, err
	}
	tmp, err := os.MkdirTemp(c.Data, "export-snapshot-*.tmp")
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (*store.DB, func(), error) {
		os.RemoveAll(tmp)
		return nil, nil, err
	}
	archive := filepath.Join(tmp, "backup")
	if err := store.FetchBackup(context.Background(), url, token, archive); err != nil {
		return fail(err)
	}
	f, err := os.Open(archive)
	if err != nil {
		return fail(err)
	}
	dir := filepath.Join(tmp, "data")
	_, err = store.Restore(f, dir)
	f.Close()
	os.Remove(archive)
	if err != nil {
		return fail(fmt.Errorf("restore the server's snapshot: %w", err))
	}
	db, err := store.Open(dir)
	if err != nil {
		return fail(err)
	}
	// Events the server had acknowledged but not digested yet are in the
	// snapshot's spool: digest them, so the export has them too.
	sp, err := spool.Open(filepath.Join(dir, "spool"), spool.Options{})
	if err == nil {
		var w *digest.Worker
		if w, err = digest.New(db, sp, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
			err = w.Drain()
		}
		sp.Close()
	}
	if err != nil {
		db.Close()
		return fail(fmt.Errorf("digest the snapshot's spool: %w", err))
	}
	return db, func() { db.Close(); os.RemoveAll(tmp) }, nil
}

// serverAccess returns the URL and API token to reach the server that
// holds the data directory: as given, else the token in <data>/api-token
// and the local -addr.
func serverAccess(c *config, url, token string) (string, string, error) {
	if token == "" {
		// The Debian package leaves a token for this in the data directory.
		b, _ := os.ReadFile(filepath.Join(c.Data, "api-token"))
		token = strings.TrimSpace(string(b))
	}
	if token == "" {
		return "", "", store.ErrNoToken
	}
	if url == "" {
		url = baseURL(&config{Addr: strings.Replace(c.Addr, "0.0.0.0:", "127.0.0.1:", 1)}, nil)
	}
	return url, token, nil
}
