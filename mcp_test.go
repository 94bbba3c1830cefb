package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// tinysink mcp over stdio, driven by the official MCP Go SDK, which runs
// the built binary as a subprocess (CommandTransport): first relaying to a
// running server that holds the data directory, then, with the server
// stopped, opening the data directory itself.

// mcpStdio connects an SDK client to `tinysink mcp args...`.
func mcpStdio(t *testing.T, args ...string) (*mcp.ClientSession, error) {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "tinysink-test", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.CommandTransport{Command: exec.Command(bin, append([]string{"mcp"}, args...)...)}, nil)
	if err == nil {
		t.Cleanup(func() { cs.Close() })
	}
	return cs, err
}

func mcpCall(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any) (string, bool) {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String(), res.IsError
}

func TestMCPStdio(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cli := func(args ...string) string {
		out, err := exec.Command(bin, append(args, "-data", dir)...).Output()
		if err != nil {
			t.Fatalf("tinysink %s: %v", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out))
	}
	cli("project", "create", "Shop")
	readTok := cli("token", "create", "-scope", "read", "-name", "reader")
	writeTok := cli("token", "create", "-scope", "write", "-name", "fixer")
	if out, err := exec.Command(bin, "token", "create", "-scope", "root", "-data", dir).CombinedOutput(); err == nil || !strings.Contains(string(out), "unknown scope") {
		t.Errorf("token create -scope root: %v %s", err, out)
	}

	p := startProc(t, dir)
	id := newID()
	ev := fmt.Sprintf(`{"event_id":%q,"platform":"python","exception":{"values":[{"type":"ZeroDivisionError","value":"division by zero",`+
		`"stacktrace":{"frames":[{"filename":"app/cart.py","function":"checkout","lineno":42,"context_line":"total = price / qty"}]}}]}}`, id)
	env := fmt.Sprintf("{\"event_id\":%q}\n{\"type\":\"event\"}\n%s\n", id, ev)
	if status, body := post(t, p.base+"/api/1/envelope/?sentry_key="+p.key, nil, []byte(env)); status != 200 {
		t.Fatalf("envelope: %d %s", status, body)
	}
	waitFor(t, 10*time.Second, "the event to be digested", func() bool {
		var out struct{ Results []any }
		p.get(t, readTok, "/api/canonical/0/issues/?project=1", &out)
		return len(out.Results) == 1
	})

	// The server holds the data directory: tinysink mcp relays to its -addr.
	addr := strings.TrimPrefix(p.base, "http://")
	cs, err := mcpStdio(t, "-data", dir, "-addr", addr, "-token", writeTok)
	if err != nil {
		t.Fatalf("connect through the server: %v", err)
	}
	if text, isErr := mcpCall(t, cs, "search_issues", map[string]any{"query": "division"}); isErr || !strings.Contains(text, `"SHOP-1"`) {
		t.Errorf("search_issues through the server: %s", text)
	}
	if text, isErr := mcpCall(t, cs, "resolve_issue", map[string]any{"issue": "SHOP-1", "comment": "fixed"}); isErr {
		t.Errorf("resolve_issue through the server: %s", text)
	}
	var iss struct {
		IsResolved bool `json:"is_resolved"`
	}
	if p.get(t, readTok, "/api/canonical/0/issues/SHOP-1/", &iss); !iss.IsResolved {
		t.Error("resolve_issue over stdio did not resolve the issue on the server")
	}
	cs.Close()
	if _, err := mcpStdio(t, "-url", p.base, "-token", "0000000000000000000000000000000000000000"); err == nil ||
		!strings.Contains(err.Error(), "401") {
		t.Errorf("an unknown token through the server: %v", err)
	}

	p.cmd.Process.Kill()
	p.cmd.Wait()

	// No server: tinysink mcp opens the data directory itself.
	cs, err = mcpStdio(t, "-data", dir, "-token", readTok)
	if err != nil {
		t.Fatalf("connect to the data directory: %v", err)
	}
	tools, err := cs.ListTools(context.Background(), nil)
	if err != nil || len(tools.Tools) != 5 {
		t.Errorf("a read token's tools: %v %v", tools, err)
	}
	text, isErr := mcpCall(t, cs, "get_issue", map[string]any{"issue": "SHOP-1"})
	for _, want := range []string{"- state: Resolved", "resolved by MCP (fixer): fixed", "app/cart.py:42 in checkout"} {
		if isErr || !strings.Contains(text, want) {
			t.Errorf("get_issue lacks %q:\n%s", want, text)
		}
	}
	if text, isErr := mcpCall(t, cs, "comment_issue", map[string]any{"issue": "SHOP-1", "comment": "x"}); !isErr {
		t.Errorf("comment_issue with a read token: %s", text)
	}
	res, err := cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: "tinysink://projects/1/events/" + id})
	if err != nil || !strings.Contains(res.Contents[0].Text, "ZeroDivisionError") {
		t.Errorf("read the event resource: %v %v", res, err)
	}
}

// TestMCPSDKNotInBinary checks that the MCP SDK the tests use stays out of
// the binary, whose size is resident memory.
func TestMCPSDKNotInBinary(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "modelcontextprotocol") {
		t.Errorf("the binary links the MCP SDK:\n%s", out)
	}
}
