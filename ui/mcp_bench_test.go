package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tinysink/tinysink/store"
)

// BenchmarkMCPSearchIssues measures search_issues over 100,000 issues of
// one project (the bar: 50 ms), through the JSON-RPC dispatch and, for the
// common query, over HTTP on 127.0.0.1. The issues are made directly in the
// store (about 10 s) with two counted tags each.
//
//	go test ./ui -run '^$' -bench BenchmarkMCPSearchIssues -benchtime 20x
func BenchmarkMCPSearchIssues(b *testing.B) {
	const n = 100_000
	db, err := store.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	p, _ := db.CreateProject("Shop")
	regions := []string{"eu-west", "eu-north", "us-east", "us-west", "ap-south"}
	start := time.Now().Add(-n * time.Minute)
	for lo := 0; lo < n; lo += 5000 {
		err := db.Digest(func(tx *store.Tx) error {
			pr, err := tx.Project(p.ID)
			if err != nil {
				return err
			}
			for i := lo; i < lo+5000; i++ {
				key := fmt.Sprint(i)
				at := start.Add(time.Duration(i) * time.Minute)
				iss := &store.Issue{CalculatedType: benchLetters(i) + "Error", CalculatedValue: fmt.Sprintf("could not process item %d", i),
					FirstSeen: at, LastSeen: at, DigestedEventCount: int64(1 + i%97), Level: "error", Platform: "python",
					LastFrameFilename: "app/handlers/step_5.py", LastFrameFunction: "handle_" + benchLetters(i)}
				if err := tx.CreateIssue(pr, iss, key, key, "bench"); err != nil {
					return err
				}
				if err := tx.CountTag(iss, "region", regions[i%len(regions)]); err != nil {
					return err
				}
				if i%1000 == 0 {
					if err := tx.CountTag(iss, "customer_tier", "rare"); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	a := NewAPI(db, "http://127.0.0.1", nil)
	s := &mcpSession{tok: store.Token{Scopes: []store.Scope{store.ScopeRead}}}
	call := func(b *testing.B, args string) {
		res, err := a.callRPC(context.Background(), s, "tools/call", json.RawMessage(`{"name":"search_issues","arguments":`+args+`}`))
		if err != nil {
			b.Fatal(err)
		}
		if m := res.(map[string]any); m["isError"] != nil {
			b.Fatalf("search_issues %s: %v", args, m["content"])
		}
	}
	for _, bc := range []struct{ name, args string }{
		{"open_by_last_seen", `{"query":""}`},
		{"most_events", `{"sort":"events"}`},
		{"text_common", `{"query":"could not process"}`},
		{"text_one_match", `{"query":"item 4242"}`},
		{"text_no_match", `{"query":"no such thing"}`},
		{"tag_common", `{"query":"region:us-east"}`},
		{"tag_rare", `{"query":"customer_tier:rare"}`},
		{"text_and_tag", `{"query":"BError region:eu-west"}`},
		{"page_40", `{"cursor":"1000"}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				call(b, bc.args)
			}
		})
	}

	// The same over the streamable HTTP transport, token check included.
	tok, _, _ := db.CreateTokenWith("bench", []store.Scope{store.ScopeRead}, 0)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	NewAPI(db, srv.URL, nil).Register(mux)
	b.Run("http_open_by_last_seen", func(b *testing.B) {
		body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search_issues","arguments":{}}}`
		for b.Loop() {
			req, _ := http.NewRequest("POST", srv.URL+MCPPath, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			var out rpcResponse
			json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			if resp.StatusCode != 200 || out.Error != nil {
				b.Fatalf("%d %v", resp.StatusCode, out.Error)
			}
		}
	})
}

// benchLetters spells n in base 26, so that issue types differ.
func benchLetters(n int) string {
	var out []byte
	for {
		out = append([]byte{byte('A' + n%26)}, out...)
		n /= 26
		if n == 0 {
			return string(out)
		}
	}
}
