package main

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tinysink/tinysink/budget"
	"github.com/tinysink/tinysink/ingest/forward"
	"github.com/tinysink/tinysink/ingest/spool"
	"github.com/tinysink/tinysink/store/attach"
)

// newForwarding returns the forwarding of a server's spool sp, with the
// attachments of events in att; dsn gives each project's upstream. The
// forwarder itself starts with Ensure.
func newForwarding(sp *spool.Spool, dir string, att *attach.Store, dsn func(int) string, maxBacklog int64, log *slog.Logger) *forward.Runner {
	return forward.NewRunner(forward.Config{
		Spool: sp, Dir: dir, DSN: dsn, Attachments: att, MaxBacklog: maxBacklog, DropOldest: true,
		UserAgent: "tinysink/" + buildVersion(), Log: log,
		MinBackoff: forwardBackoff[0], MaxBackoff: forwardBackoff[1],
	})
}

// forwardBackoff bounds the forwarder's retry backoff, the server's and the
// relay's; zero: its defaults (1 s to 5 min). Tests shorten it.
var forwardBackoff [2]time.Duration

// forwardConfig parses the forwarding settings.
func (c *config) forwardConfig() (maxBacklog int64, err error) {
	if c.Forward.DSN != "" {
		if _, err := forward.ParseDSN(c.Forward.DSN); err != nil {
			return 0, fmt.Errorf("-forward-dsn: %w", err)
		}
	}
	if maxBacklog, err = budget.ParseSize(c.Forward.MaxBacklog); err != nil {
		return 0, fmt.Errorf("-forward-max-backlog: %w", err)
	}
	if !c.Store && c.Forward.DSN == "" {
		return 0, errors.New("-store=false relays to -forward-dsn: set it")
	}
	return maxBacklog, nil
}
