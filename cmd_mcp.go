package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/tinysink/tinysink/ingest/httpserve"
	"github.com/tinysink/tinysink/store"
	"github.com/tinysink/tinysink/ui"
)

// cmdMCP serves the MCP server over stdio, for an agent that starts it as
// a subprocess. With -url, or when a running server holds the data
// directory, it relays each message to that server's /mcp (the local -addr
// by default), so that the server's token check and its one store answer;
// otherwise it opens the data directory itself. Either way the API token
// (-token or TINYSINK_TOKEN) decides what the agent may do.
func cmdMCP(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var url, token string
	c, pos, err := parseFlags("tinysink mcp", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&url, "url", os.Getenv("TINYSINK_URL"), "URL of the running server (env TINYSINK_URL; default: the data directory, or the local -addr while a server holds it)")
		fs.StringVar(&token, "token", os.Getenv("TINYSINK_TOKEN"), "API token (env TINYSINK_TOKEN): a read token gets the read tools, a write token also the write tools")
	})
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 0, 0, "tinysink mcp [-url URL] [-token TOKEN] [flags]"); err != nil {
		return err
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return errors.New("tinysink mcp needs an API token: -token or TINYSINK_TOKEN (tinysink token create)")
	}
	log, err := newLogger(c, stderr)
	if err != nil {
		return err
	}
	ctx, stop := httpserve.Signals(stderr)
	defer stop()
	if url == "" {
		db, err := store.Open(c.Data)
		switch {
		case err == nil:
			defer db.Close()
			tok, ok := db.LookupToken(token)
			if !ok {
				return errors.New("tinysink mcp: unknown API token")
			}
			api := ui.NewAPI(db, baseURL(c, nil), log.With("component", "mcp"))
			api.Version = buildVersion()
			return api.ServeMCP(ctx, stdin, stdout, tok)
		case !errors.Is(err, store.ErrLocked):
			return err
		}
		url = baseURL(&config{Addr: strings.Replace(c.Addr, "0.0.0.0:", "127.0.0.1:", 1)}, nil)
	}
	return relayMCP(ctx, strings.TrimRight(url, "/")+ui.MCPPath, token, stdin, stdout, log.Warn)
}

// relayMCP relays newline-delimited JSON-RPC messages from in to the
// streamable HTTP endpoint and writes each reply as a line to out. A reply
// that is not JSON-RPC (a refused token, an unreachable server) becomes a
// JSON-RPC error for the request's id, so that the agent sees why.
func relayMCP(ctx context.Context, endpoint, token string, in io.Reader, out io.Writer, warn func(string, ...any)) error {
	client := &http.Client{Timeout: 60 * time.Second}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20+1)
	bw := bufio.NewWriter(out)
	for sc.Scan() && ctx.Err() == nil {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		reply := relayOne(ctx, client, endpoint, token, line, warn)
		if reply == nil {
			continue
		}
		bw.Write(reply)
		bw.WriteByte('\n')
		if err := bw.Flush(); err != nil {
			return err
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		return errors.New("tinysink mcp: a message is larger than 1 MiB")
	}
	return sc.Err()
}

// relayOne posts one message and returns the reply line, or nil when none
// is due.
func relayOne(ctx context.Context, client *http.Client, endpoint, token string, msg []byte, warn func(string, ...any)) []byte {
	var head struct {
		ID json.RawMessage `json:"id"`
	}
	json.Unmarshal(msg, &head)
	fail := func(text string) []byte {
		warn("mcp relay", "endpoint", endpoint, "err", text)
		if head.ID == nil {
			return nil // a notification gets no reply, not even an error
		}
		b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": head.ID,
			"error": map[string]any{"code": -32603, "message": text}})
		return b
	}
	req, err := http.NewRequestWithContext(ctx, "POST", endpoint, bytes.NewReader(msg))
	if err != nil {
		return fail(err.Error())
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := client.Do(req)
	if err != nil {
		return fail("tinysink server unreachable: " + err.Error())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fail("reading the server's reply: " + err.Error())
	}
	if resp.StatusCode == http.StatusAccepted {
		return nil
	}
	var rpc struct {
		JSONRPC string `json:"jsonrpc"`
	}
	if json.Unmarshal(body, &rpc) == nil && rpc.JSONRPC == "2.0" {
		var b bytes.Buffer
		if json.Compact(&b, body) == nil {
			return b.Bytes()
		}
	}
	var detail struct {
		Detail string `json:"detail"`
	}
	json.Unmarshal(body, &detail)
	return fail(fmt.Sprintf("tinysink server: %s %s", resp.Status, detail.Detail))
}
