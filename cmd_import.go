package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/tinysink/tinysink/store/exchange"
)

// cmdImport reads an export (DIR, a tar stream in a file, or one on stdin
// for "-") into
// the data directory -data, merging into its projects; with -forward DSN
// it replays the export's events into any Sentry-compatible server
// instead.
func cmdImport(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var forward, project string
	c, pos, err := parseFlags("tinysink import", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&forward, "forward", "", "send the events to this DSN over HTTP instead of into -data")
		fs.StringVar(&project, "project", "", "with -forward: only the events of this project of the export (its slug)")
	})
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "tinysink import DIR|- [-forward DSN [-project SLUG]] [flags]"); err != nil {
		return &usageError{err}
	}
	if project != "" && forward == "" {
		return &usageError{fmt.Errorf("-project goes with -forward")}
	}
	var r *exchange.Reader
	if pos[0] == "-" {
		r, err = exchange.OpenStream(bufio.NewReaderSize(stdin, 64<<10))
	} else if st, serr := os.Stat(pos[0]); serr != nil {
		return serr
	} else if st.IsDir() {
		r, err = exchange.OpenDir(pos[0])
	} else {
		// A stream saved to a file (tinysink export - > FILE).
		f, ferr := os.Open(pos[0])
		if ferr != nil {
			return ferr
		}
		defer f.Close()
		r, err = exchange.OpenStream(bufio.NewReaderSize(f, 64<<10))
	}
	if err != nil {
		return err
	}
	if forward != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		st, err := exchange.Forward(ctx, r, exchange.ForwardOptions{
			DSN: forward, Project: project, UserAgent: "tinysink-import/" + buildVersion(),
			Rejected: func(ev exchange.Event, status int, msg string) {
				fmt.Fprintf(stderr, "tinysink: the upstream refused event %s: %d %s\n", ev.EventID, status, msg)
			},
		})
		fmt.Fprintf(stdout, "forwarded %d events (%d refused, %d retries, %s waited for the upstream)\n", st.Sent, st.Rejected, st.Retries, st.Waited)
		if err != nil {
			return fmt.Errorf("forward: %w", err)
		}
		fmt.Fprintln(stdout, "issue states, comments and releases are not forwarded: the envelope protocol has no place for them")
		return nil
	}
	db, err := openStore(c.Data)
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := exchange.Import(db, r)
	fmt.Fprintf(stdout, "imported %d events (%d already there; %d attachments, %d over the attachment caps dropped), %d issues' states (%d history entries added, %d issues without events), %d new releases, %d new projects\n",
		st.Events, st.Duplicates, st.Attachments, st.AttachmentsDropped, st.Issues, st.History, st.IssuesWithoutEvents, st.Releases, st.ProjectsCreated)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	return nil
}
