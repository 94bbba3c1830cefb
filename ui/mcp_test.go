package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tinysink/tinysink/store"
)

// The MCP server, driven by the official MCP Go SDK as the client over the
// streamable HTTP transport to a real server on 127.0.0.1. (The stdio
// transport is tested from the top-level package, which builds the
// binary.)

// mcpEvent is an event with a two-frame stack trace, a tag and a release.
func mcpEvent(id, typ, value, tag string) []byte {
	return fmt.Appendf(nil, `{"event_id":%q,"platform":"python","level":"error","release":"shop@1.2.0",
	"tags":{"customer":%q},
	"exception":{"values":[{"type":%q,"value":%q,"stacktrace":{"frames":[
	 {"filename":"app/main.py","function":"main","lineno":10,"in_app":true,"context_line":"    run()"},
	 {"filename":"app/cart.py","function":"checkout","lineno":42,"in_app":true,"context_line":"    total = price / qty"}]}}]}}`,
		id, tag, typ, value)
}

// mcpFixture is a store with two projects, events in each, tokens of each
// kind, and the API on a real HTTP server.
type mcpFixture struct {
	db                            *store.DB
	srv                           *httptest.Server
	shop, other                   *store.Project
	read, write, otherOnly, shop1 string
}

func newMCPFixture(t *testing.T) *mcpFixture {
	t.Helper()
	ts := newTestServer(t)
	f := &mcpFixture{db: ts.db, shop: ts.project}
	var err error
	if f.other, err = ts.db.CreateProject("Other"); err != nil {
		t.Fatal(err)
	}
	ts.ingest(t, f.shop.ID,
		mcpEvent("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1", "ZeroDivisionError", "division by zero", "Chrome"),
		mcpEvent("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2", "ZeroDivisionError", "division by zero", "Firefox"),
		[]byte(`{"event_id":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa3","platform":"python","exception":{"values":[{"type":"KeyError","value":"'sku'",
		  "stacktrace":{"frames":[{"filename":"app/stock.py","function":"lookup","lineno":7}]}}]}}`))
	ts.ingest(t, f.other.ID, mcpEvent("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb1", "TimeoutError", "upstream took too long", "Safari"))
	mk := func(scope store.Scope, project int) string {
		scopes := []store.Scope{store.ScopeRead}
		if scope == store.ScopeWrite {
			scopes = append(scopes, store.ScopeWrite)
		}
		tok, _, err := ts.db.CreateTokenWith("agent", scopes, int64(project))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	f.read, f.write = mk(store.ScopeRead, 0), mk(store.ScopeWrite, 0)
	f.otherOnly, f.shop1 = mk(store.ScopeRead, f.other.ID), mk(store.ScopeWrite, f.shop.ID)
	mux := http.NewServeMux()
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	api := NewAPI(ts.db, f.srv.URL, nil)
	api.Version = "test"
	api.Register(mux)
	return f
}

// bearer adds the token to every request.
type bearer struct{ tok string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.tok)
	return http.DefaultTransport.RoundTrip(r)
}

// connect returns an SDK client session to the fixture's /mcp with tok.
func (f *mcpFixture) connect(t *testing.T, tok string) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "tinysink-test", Version: "1"}, nil)
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{
		Endpoint: f.srv.URL + MCPPath, HTTPClient: &http.Client{Transport: bearer{tok}}, MaxRetries: -1,
	}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// callTool calls a tool and returns its text and whether it is an error.
func callTool(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any) (string, bool) {
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

func toolNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tl := range res.Tools {
		out = append(out, tl.Name)
	}
	return out
}

func TestMCPReadToken(t *testing.T) {
	t.Parallel()
	f := newMCPFixture(t)
	cs := f.connect(t, f.read)
	if got := cs.InitializeResult(); got.ServerInfo.Name != "tinysink" || got.ProtocolVersion != "2025-11-25" {
		t.Errorf("initialize: server %+v, version %q", got.ServerInfo, got.ProtocolVersion)
	}
	if got, want := strings.Join(toolNames(t, cs), ","), "list_projects,search_issues,get_issue,get_event,list_releases"; got != want {
		t.Errorf("tools = %s, want %s", got, want)
	}

	text, isErr := callTool(t, cs, "list_projects", nil)
	if isErr || !strings.Contains(text, `"slug":"shop"`) || !strings.Contains(text, `"slug":"other"`) {
		t.Errorf("list_projects = %s", text)
	}

	t.Run("search_issues uses the issue list's search", func(t *testing.T) {
		for _, tt := range []struct {
			name  string
			args  map[string]any
			want  []string // friendly ids, in order
			isErr bool
		}{
			{"all open", map[string]any{"project": "shop"}, []string{"SHOP-2", "SHOP-1"}, false},
			{"free text", map[string]any{"project": f.shop.ID, "query": "division"}, []string{"SHOP-1"}, false},
			{"tag", map[string]any{"project": "shop", "query": "customer:Firefox"}, []string{"SHOP-1"}, false},
			{"tag that no event had", map[string]any{"project": "shop", "query": "customer:Opera"}, nil, false},
			{"limit and cursor", map[string]any{"project": "shop", "limit": 1, "cursor": "1"}, []string{"SHOP-1"}, false},
			{"two projects, none named", map[string]any{}, nil, true},
			{"bad state", map[string]any{"project": "shop", "state": "gone"}, nil, true},
			{"limit too large", map[string]any{"project": "shop", "limit": 1000}, nil, true},
		} {
			text, isErr := callTool(t, cs, "search_issues", tt.args)
			if isErr != tt.isErr {
				t.Errorf("%s: isError = %v (%s)", tt.name, isErr, text)
				continue
			}
			if isErr {
				continue
			}
			var out struct {
				Issues []struct {
					FriendlyID string `json:"friendly_id"`
				} `json:"issues"`
			}
			if err := json.Unmarshal([]byte(text), &out); err != nil {
				t.Fatalf("%s: %v in %s", tt.name, err, text)
			}
			var got []string
			for _, i := range out.Issues {
				got = append(got, i.FriendlyID)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("%s: issues = %v, want %v", tt.name, got, tt.want)
			}
		}
	})

	text, isErr = callTool(t, cs, "get_issue", map[string]any{"issue": "SHOP-1"})
	for _, want := range []string{"# SHOP-1: ZeroDivisionError: division by zero", "customer: Chrome (1)", "shop@1.2.0",
		"## Latest event aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2", "app/cart.py:42 in checkout", "total = price / qty"} {
		if isErr || !strings.Contains(text, want) {
			t.Errorf("get_issue lacks %q:\n%s", want, text)
		}
	}
	text, isErr = callTool(t, cs, "get_event", map[string]any{"event_id": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1"})
	if isErr || !strings.Contains(text, "app/cart.py:42 in checkout") || !strings.Contains(text, `"customer"`) {
		t.Errorf("get_event:\n%s", text)
	}
	text, isErr = callTool(t, cs, "list_releases", map[string]any{"project": "shop"})
	if isErr || !strings.Contains(text, `"version":"shop@1.2.0"`) {
		t.Errorf("list_releases = %s", text)
	}
	if text, isErr = callTool(t, cs, "get_issue", map[string]any{"issue": "SHOP-99"}); !isErr {
		t.Errorf("get_issue of no issue: %s", text)
	}

	// A read token lists no write tools and may not call them.
	text, isErr = callTool(t, cs, "resolve_issue", map[string]any{"issue": "SHOP-1"})
	if !isErr || !strings.Contains(text, "write scope") {
		t.Errorf("resolve_issue with a read token: %v %s", isErr, text)
	}
	if iss, _ := f.db.IssueByRef("SHOP-1"); iss.IsResolved {
		t.Error("a read token resolved an issue")
	}
	if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "drop_tables"}); err == nil {
		t.Error("an unknown tool is not a protocol error")
	}
}

func TestMCPResources(t *testing.T) {
	t.Parallel()
	f := newMCPFixture(t)
	cs := f.connect(t, f.read)
	ctx := context.Background()
	list, err := cs.ListResources(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Resources) != 3 {
		t.Errorf("resources = %d, want the 3 unresolved issues", len(list.Resources))
	}
	tpls, err := cs.ListResourceTemplates(ctx, nil)
	if err != nil || len(tpls.ResourceTemplates) != 2 {
		t.Fatalf("templates: %v %v", tpls, err)
	}
	for _, r := range list.Resources {
		res, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: r.URI})
		if err != nil || len(res.Contents) != 1 || !strings.HasPrefix(res.Contents[0].Text, "# "+r.Name+": ") {
			t.Errorf("read %s: %v %+v", r.URI, err, res)
		}
	}
	res, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: fmt.Sprintf("tinysink://projects/%d/events/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa3", f.shop.ID)})
	if err != nil || !strings.Contains(res.Contents[0].Text, "app/stock.py:7 in lookup") {
		t.Errorf("read event: %v %+v", err, res)
	}
	for _, uri := range []string{"tinysink://issues/999", "tinysink://projects/1/events/00", "file:///etc/passwd",
		fmt.Sprintf("tinysink://projects/%d/events/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa3", f.other.ID)} {
		if _, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri}); err == nil || !strings.Contains(err.Error(), "not found") {
			t.Errorf("read %s: err = %v, want resource not found", uri, err)
		}
	}
}

func TestMCPWriteToken(t *testing.T) {
	t.Parallel()
	f := newMCPFixture(t)
	cs := f.connect(t, f.write)
	if got := strings.Join(toolNames(t, cs), ","); !strings.HasSuffix(got, "resolve_issue,mute_issue,comment_issue") {
		t.Errorf("tools = %s", got)
	}
	state := func(ref string) string {
		iss, err := f.db.IssueByRef(ref)
		if err != nil {
			t.Fatal(err)
		}
		return stateWord(iss)
	}

	if text, isErr := callTool(t, cs, "resolve_issue", map[string]any{"issue": "SHOP-1", "comment": "fixed in #12"}); isErr {
		t.Fatalf("resolve_issue: %s", text)
	}
	if got := state("SHOP-1"); got != "resolved" {
		t.Errorf("after resolve_issue: %s", got)
	}
	if text, isErr := callTool(t, cs, "resolve_issue", map[string]any{"issue": "SHOP-1"}); !isErr || !strings.Contains(text, "is resolved") {
		t.Errorf("resolving a resolved issue: %v %s", isErr, text)
	}

	if text, isErr := callTool(t, cs, "mute_issue", map[string]any{"issue": "SHOP-2", "for_period": "week", "for_count": 1}); isErr {
		t.Fatalf("mute_issue: %s", text)
	}
	if got := state("SHOP-2"); got != "muted" {
		t.Errorf("after mute_issue: %s", got)
	}
	if iss, _ := f.db.IssueByRef("SHOP-2"); iss.UnmuteAfter.IsZero() {
		t.Error("mute_issue for 1 week set no unmute time")
	}
	if text, isErr := callTool(t, cs, "mute_issue", map[string]any{"issue": "OTHER-1", "for_period": "fortnight", "for_count": 1}); !isErr {
		t.Errorf("mute for a fortnight: %s", text)
	}

	if text, isErr := callTool(t, cs, "comment_issue", map[string]any{"issue": "OTHER-1", "comment": "looking into it"}); isErr {
		t.Fatalf("comment_issue: %s", text)
	}
	if text, isErr := callTool(t, cs, "comment_issue", map[string]any{"issue": "OTHER-1", "comment": " "}); !isErr {
		t.Errorf("an empty comment: %s", text)
	}
	text, _ := callTool(t, cs, "get_issue", map[string]any{"issue": "SHOP-1"})
	if !strings.Contains(text, "resolved by MCP (agent): fixed in #12") {
		t.Errorf("get_issue after resolve lacks the history:\n%s", text)
	}
	text, _ = callTool(t, cs, "get_issue", map[string]any{"issue": "OTHER-1"})
	if !strings.Contains(text, "comment by MCP (agent): looking into it") {
		t.Errorf("get_issue after comment lacks it:\n%s", text)
	}
	text, _ = callTool(t, cs, "search_issues", map[string]any{"project": "shop", "state": "resolved"})
	if !strings.Contains(text, `"SHOP-1"`) || strings.Contains(text, `"SHOP-2"`) {
		t.Errorf("resolved issues = %s", text)
	}
}

func TestMCPProjectToken(t *testing.T) {
	t.Parallel()
	f := newMCPFixture(t)
	cs := f.connect(t, f.otherOnly)
	text, _ := callTool(t, cs, "list_projects", nil)
	if !strings.Contains(text, `"slug":"other"`) || strings.Contains(text, `"slug":"shop"`) {
		t.Errorf("list_projects = %s", text)
	}
	// One visible project: search_issues needs no project argument.
	if text, isErr := callTool(t, cs, "search_issues", nil); isErr || !strings.Contains(text, `"OTHER-1"`) {
		t.Errorf("search_issues = %s", text)
	}
	for _, c := range []struct {
		tool string
		args map[string]any
	}{
		{"search_issues", map[string]any{"project": "shop"}},
		{"search_issues", map[string]any{"project": f.shop.ID}},
		{"get_issue", map[string]any{"issue": "SHOP-1"}},
		{"get_event", map[string]any{"event_id": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1"}},
		{"list_releases", map[string]any{"project": "shop"}},
	} {
		if text, isErr := callTool(t, cs, c.tool, c.args); !isErr || strings.Contains(text, "ZeroDivision") || strings.Contains(text, "shop@") {
			t.Errorf("%s %v with another project's token: %v %s", c.tool, c.args, isErr, text)
		}
	}
	list, err := cs.ListResources(context.Background(), nil)
	if err != nil || len(list.Resources) != 1 || list.Resources[0].Name != "OTHER-1" {
		t.Errorf("resources = %+v, %v", list, err)
	}

	// A write token for Shop changes Shop's issues, and nothing of Other's.
	cs = f.connect(t, f.shop1)
	if text, isErr := callTool(t, cs, "resolve_issue", map[string]any{"issue": "OTHER-1"}); !isErr {
		t.Errorf("resolved another project's issue: %s", text)
	}
	if iss, _ := f.db.IssueByRef("OTHER-1"); iss.IsResolved {
		t.Error("OTHER-1 resolved by Shop's token")
	}
	if text, isErr := callTool(t, cs, "resolve_issue", map[string]any{"issue": "SHOP-2"}); isErr {
		t.Errorf("resolve own issue: %s", text)
	}
}

// post sends one raw message to /mcp.
func (f *mcpFixture) post(t *testing.T, tok, body string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.srv.URL+MCPPath, strings.NewReader(body))
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestMCPProtocolErrors(t *testing.T) {
	t.Parallel()
	f := newMCPFixture(t)
	for _, tt := range []struct {
		name, tok, body string
		hdr             []string
		status          int
		want            string
	}{
		{"no token", "", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, nil, 401, `"detail"`},
		{"ping", f.read, `{"jsonrpc":"2.0","id":1,"method":"ping"}`, nil, 200, `{"jsonrpc":"2.0","id":1,"result":{}}`},
		{"string id", f.read, `{"jsonrpc":"2.0","id":"x","method":"ping"}`, nil, 200, `"id":"x","result":{}`},
		{"not JSON", f.read, `{"jsonrpc":`, nil, 400, `"code":-32700`},
		{"empty", f.read, ``, nil, 400, `"code":-32700`},
		{"batch", f.read, `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, nil, 400, `"code":-32600`},
		{"old jsonrpc", f.read, `{"jsonrpc":"1.0","id":1,"method":"ping"}`, nil, 400, `"code":-32600`},
		{"null id", f.read, `{"jsonrpc":"2.0","id":null,"method":"ping"}`, nil, 400, `"code":-32600`},
		{"object id", f.read, `{"jsonrpc":"2.0","id":{},"method":"ping"}`, nil, 400, `"code":-32600`},
		{"no method", f.read, `{"jsonrpc":"2.0","id":1}`, nil, 400, `"code":-32600`},
		{"params not an object", f.read, `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":[1]}`, nil, 400, `"code":-32600`},
		{"unknown method", f.read, `{"jsonrpc":"2.0","id":2,"method":"server/discover"}`, nil, 200, `"id":2,"error":{"code":-32601`},
		{"bad params", f.read, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":5}}`, nil, 200, `"code":-32602`},
		{"unknown tool", f.read, `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"x"}}`, nil, 200, `"code":-32602`},
		{"bad tool arguments", f.read, `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"get_issue","arguments":{"issue":[1]}}}`, nil, 200, `"isError":true`},
		{"resource without uri", f.read, `{"jsonrpc":"2.0","id":6,"method":"resources/read","params":{}}`, nil, 200, `"code":-32602`},
		{"notification", f.read, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, nil, 202, ``},
		{"a client's response", f.read, `{"jsonrpc":"2.0","id":9,"result":{}}`, nil, 202, ``},
		{"foreign origin", f.read, `{"jsonrpc":"2.0","id":1,"method":"ping"}`, []string{"Origin", "https://evil.example"}, 403, `"code":-32600`},
		{"unknown protocol version", f.read, `{"jsonrpc":"2.0","id":1,"method":"ping"}`, []string{"MCP-Protocol-Version", "1999-01-01"}, 400, `MCP-Protocol-Version`},
		{"too large", f.read, `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"` + strings.Repeat("a", mcpMaxMessage) + `"}}`, nil, 413, `"code":-32600`},
	} {
		status, body := f.post(t, tt.tok, tt.body, tt.hdr...)
		if status != tt.status || !strings.Contains(body, tt.want) {
			t.Errorf("%s: %d %s, want %d with %s", tt.name, status, body, tt.status, tt.want)
		}
	}
	for _, method := range []string{"GET", "DELETE"} {
		req, _ := http.NewRequest(method, f.srv.URL+MCPPath, nil)
		req.Header.Set("Authorization", "Bearer "+f.read)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s /mcp: %d, want 405", method, resp.StatusCode)
		}
	}
}

func TestMCPOutputCap(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	huge := strings.Repeat("x", 3*mcpMaxText)
	ts.ingest(t, ts.project.ID, []byte(`{"event_id":"cccccccccccccccccccccccccccccccc","exception":{"values":[{"type":"E","value":"big",
	  "stacktrace":{"frames":[{"filename":"a.py","function":"f","lineno":1}]}}]},"extra":{"blob":"`+huge+`"}}`))
	tok, _, _ := ts.db.CreateTokenWith("", []store.Scope{store.ScopeRead}, 0)
	tokRec, _ := ts.db.LookupToken(tok)
	api := NewAPI(ts.db, "http://127.0.0.1", nil)
	res, err := api.callRPC(context.Background(), &mcpSession{tok: tokRec}, "tools/call",
		json.RawMessage(`{"name":"get_event","arguments":{"event_id":"cccccccccccccccccccccccccccccccc"}}`))
	if err != nil {
		t.Fatal(err)
	}
	text := res.(map[string]any)["content"].([]any)[0].(map[string]string)["text"]
	if len(text) > mcpMaxText || !strings.Contains(text, "truncated by tinysink") || !strings.Contains(text, "a.py:1 in f") {
		t.Errorf("get_event of a huge event: %d bytes, ends %q", len(text), text[max(0, len(text)-200):])
	}
	if got := capText(huge); len(got) > mcpMaxText || !strings.HasSuffix(got, fmt.Sprintf("outputs are capped at %d bytes]", mcpMaxText)) {
		t.Errorf("capText: %d bytes", len(got))
	}
}

func TestMCPStdioFraming(t *testing.T) {
	t.Parallel()
	f := newMCPFixture(t)
	tok, _ := f.db.LookupToken(f.read)
	in := strings.Join([]string{
		`{"jsonrpc":"2.0","id":1,"method":"ping"}`,
		``,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":2,"method":"ping","params":{"x":"` + strings.Repeat("a", mcpMaxMessage) + `"}}`,
		`not json`,
		`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"list_projects"}}`, // no newline at the end
	}, "\n")
	var out strings.Builder
	if err := NewAPI(f.db, f.srv.URL, nil).ServeMCP(context.Background(), strings.NewReader(in), &out, tok); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	want := []string{`"id":1,"result":{}`, `"id":null,"error":{"code":-32600,"message":"Invalid request: the message is larger than 1 MiB"`,
		`"id":null,"error":{"code":-32700`, `"id":3,"result":{"content"`}
	if len(lines) != len(want) {
		t.Fatalf("%d replies, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("reply %d = %s, want %s", i, lines[i], w)
		}
	}
}
