package main

// Relay-only mode (-store=false): the relay itself is ingest/relay, and
// runs as a binary of its own, tinysink-relay (ingest/cmd/relay), when that
// lies beside this one: that process maps only the relay's code, where
// this binary's package initialisers alone touch ~10 MiB of its pages.
// This file turns the settings into the relay's Config and hands over.

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/tinysink/tinysink/ingest/relay"
)

// relayConfig parses the settings a relay uses.
func (c *config) relayConfig() (relay.Config, error) {
	limit, maxEv, maxEvC, maxEnv, maxEnvC, err := c.sizes()
	if err != nil {
		return relay.Config{}, err
	}
	maxBacklog, err := c.forwardConfig()
	if err != nil {
		return relay.Config{}, err
	}
	minFree, minFreeFrac, err := c.minFree()
	if err != nil {
		return relay.Config{}, err
	}
	maxConns, err := c.maxConns()
	if err != nil {
		return relay.Config{}, err
	}
	perEvent, perProject, maxAge, err := c.attachmentLimits()
	if err != nil {
		return relay.Config{}, err
	}
	return relay.Config{
		Version: buildVersion(), Addr: c.Addr, BaseURL: c.BaseURL, MetricsAddr: c.MetricsAddr, TrustProxy: c.TrustProxy,
		Data: c.Data, ForwardDSN: c.Forward.DSN, MaxBacklog: maxBacklog, MemoryLimit: limit,
		MaxEvent: maxEv, MaxEventCompressed: maxEvC, MaxEnvelope: maxEnv, MaxEnvelopeCompr: maxEnvC,
		MinFree: minFree, MinFreeFrac: minFreeFrac, MaxConns: maxConns,
		AttachEventBytes: perEvent, AttachProjectBytes: perProject, AttachMaxAge: maxAge,
		LogLevel: c.LogLevel, LogFormat: c.LogFormat,
		MinBackoff: forwardBackoff[0], MaxBackoff: forwardBackoff[1],
	}, nil
}

// runRelay serves in relay-only mode until SIGINT or SIGTERM: it executes
// tinysink-relay, found beside this executable, with the parsed settings,
// and runs the relay in this process when that binary is not there (or
// cannot be executed on this system).
func runRelay(c *config, log *slog.Logger, stdout, stderr io.Writer) error {
	rc, err := c.relayConfig()
	if err != nil {
		return err
	}
	if bin := relayBinary(); bin != "" {
		raw, err := json.Marshal(rc)
		if err != nil {
			return err
		}
		err = execRelay(bin, string(raw))
		// execRelay returns only when the exec failed.
		log.Warn("relay binary not started: relaying in this process", "binary", bin, "err", err)
	} else {
		log.Info("relaying in this process: " + relay.Binary + " is not beside tinysink (make build builds both); it would idle in less memory")
	}
	return relay.Main(rc, log, stdout, stderr)
}

// relayBinary is the path of tinysink-relay beside this executable, or ""
// when there is none.
func relayBinary() string {
	self, err := os.Executable()
	if err != nil {
		return ""
	}
	bin := filepath.Join(filepath.Dir(self), relay.Binary)
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return ""
	}
	return bin
}

// errNoExec is execRelay's error where a process cannot replace itself.
var errNoExec = errors.New("exec is not supported on this system")
