package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/tinysink/tinysink/store"
)

// FuzzMCPRequest feeds arbitrary messages to the MCP server (as a read
// token for all projects, over a store with one issue): it must answer
// each with one well-formed JSON-RPC reply, or none for a notification,
// and never panic.
func FuzzMCPRequest(f *testing.F) {
	for _, seed := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":"a","method":"tools/list"}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"search_issues","arguments":{"query":"boom tag:\"x y\"","limit":5}}}`,
		`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"get_issue","arguments":{"issue":"SHOP-1"}}}`,
		`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"get_event","arguments":{"event_id":"dddddddddddddddddddddddddddddddd","project":1}}}`,
		`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"list_releases","arguments":{"project":"shop"}}}`,
		`{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"resolve_issue","arguments":{"issue":1}}}`,
		`{"jsonrpc":"2.0","id":7,"method":"resources/read","params":{"uri":"tinysink://projects/1/events/dddddddddddddddddddddddddddddddd"}}`,
		`{"jsonrpc":"2.0","id":8,"method":"resources/list"}`,
		`{"jsonrpc":"2.0","id":9.5,"method":"ping"}`,
		`[{"jsonrpc":"2.0","id":1,"method":"ping"}]`,
		`{"jsonrpc":"2.0","id":1,"method":"ping","params":"x"}`,
		`{"jsonrpc":"2.0","id":1,"result":{}}`,
		``, `null`, `{}`, `{"id":1}`,
	} {
		f.Add([]byte(seed))
	}
	db, err := store.Open(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	p, _ := db.CreateProject("Shop")
	err = db.Digest(func(tx *store.Tx) error {
		pr, _ := tx.Project(p.ID)
		iss := &store.Issue{CalculatedType: "Error", CalculatedValue: "boom"}
		if err := tx.CreateIssue(pr, iss, "k", "k", "test"); err != nil {
			return err
		}
		id := [16]byte{0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd}
		return tx.AddEvent(pr, iss, &store.NewEvent{EventID: id,
			Body: []byte(`{"exception":{"values":[{"type":"Error","value":"boom","stacktrace":{"frames":[{"filename":"a.go","lineno":1}]}}]}}`)})
	})
	if err != nil {
		f.Fatal(err)
	}
	a := NewAPI(db, "http://127.0.0.1", nil)
	s := &mcpSession{tok: store.Token{Scopes: []store.Scope{store.ScopeRead}}}
	f.Fuzz(func(t *testing.T, msg []byte) {
		resp := a.handleRPC(context.Background(), s, msg)
		req, perr := parseRPC(msg)
		if resp == nil {
			if perr != nil || req.ID != nil && req.Method != "" {
				t.Fatalf("no reply to %q", msg)
			}
			return
		}
		b := marshalRPC(resp)
		var out struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
			Result  json.RawMessage `json:"result"`
			Error   *rpcError       `json:"error"`
		}
		if err := json.Unmarshal(b, &out); err != nil || out.JSONRPC != "2.0" || (out.Result == nil) == (out.Error == nil) {
			t.Fatalf("reply to %q is not JSON-RPC: %s", msg, b)
		}
		// The reply carries the request's id as the same JSON value: compact,
		// with <, > and & escaped as encoding/json writes them in strings
		// ("&" comes back as "\u0026").
		var compact, want bytes.Buffer
		if perr == nil {
			if json.Compact(&compact, req.ID) != nil {
				t.Fatalf("request %q parsed with an invalid id %s", msg, req.ID)
			}
			json.HTMLEscape(&want, compact.Bytes())
			if !bytes.Equal(out.ID, want.Bytes()) {
				t.Fatalf("reply to %q has id %s, want %s", msg, out.ID, want.Bytes())
			}
		}
		if out.Error != nil && out.Error.Code == rpcInternalError {
			t.Fatalf("internal error for %q: %s", msg, b)
		}
	})
}
