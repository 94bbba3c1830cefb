package ui

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/tinysink/tinysink/store"
)

// The MCP server (Model Context Protocol, https://modelcontextprotocol.io),
// for coding agents: JSON-RPC 2.0 over the streamable HTTP transport at
// /mcp and over stdio (tinysink mcp). It is written by hand on the
// standard library: the protocol's server side is small, and an SDK would
// add to the binary, which the kernel maps into RSS.
//
// The server is stateless: no Mcp-Session-Id, no server-to-client stream
// (GET /mcp answers 405), every POST carries one JSON-RPC message and gets
// its one reply as application/json. The API token of the request (HTTP)
// or of the command (stdio) decides what it may do: a read token gets the
// read tools, a write token also the write tools, a token for one project
// sees only that project. The tools are in mcp_tools.go.

// mcpVersions are the protocol versions the server speaks, newest first.
// It answers initialize with the client's version when it is one of them,
// else with the newest.
var mcpVersions = []string{"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"}

// mcpMaxMessage caps one JSON-RPC message from a client.
const mcpMaxMessage = 1 << 20

// The JSON-RPC 2.0 error codes the server answers with, and MCP's code for
// an unknown resource.
const (
	rpcParseError       = -32700
	rpcInvalidRequest   = -32600
	rpcMethodNotFound   = -32601
	rpcInvalidParams    = -32602
	rpcInternalError    = -32603
	rpcResourceNotFound = -32002
)

// rpcRequest is one JSON-RPC message from the client: a request (with an
// id), a notification (without), or a response to a request of ours
// (result or error; the server sends none, so these are ignored).
type rpcRequest struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
	Result  json.RawMessage `json:"result"`
	Error   json.RawMessage `json:"error"`
}

// rpcResponse is the server's reply to a request.
type rpcResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  any             `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

// rpcError is a JSON-RPC error object; it is also the error type of the
// method handlers.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

func (e *rpcError) Error() string { return e.Message }

func invalidParams(msg string) *rpcError { return &rpcError{Code: rpcInvalidParams, Message: msg} }

// parseRPC parses one message. It returns a *rpcError (parse error or
// invalid request) for input that is not a single well-formed JSON-RPC 2.0
// message; batches, which MCP dropped in 2025-06-18, are refused.
func parseRPC(b []byte) (*rpcRequest, *rpcError) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, &rpcError{Code: rpcParseError, Message: "Parse error: empty message"}
	}
	if b[0] == '[' {
		return nil, &rpcError{Code: rpcInvalidRequest, Message: "Invalid request: JSON-RPC batches are not supported (MCP 2025-06-18 and later send one message per request)"}
	}
	if b[0] != '{' || !json.Valid(b) {
		return nil, &rpcError{Code: rpcParseError, Message: "Parse error: the message is not a JSON object"}
	}
	var m rpcRequest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, &rpcError{Code: rpcInvalidRequest, Message: "Invalid request: " + err.Error()}
	}
	if m.JSONRPC != "2.0" {
		return nil, &rpcError{Code: rpcInvalidRequest, Message: `Invalid request: "jsonrpc" must be "2.0"`}
	}
	if m.ID != nil && !validRPCID(m.ID) {
		return nil, &rpcError{Code: rpcInvalidRequest, Message: "Invalid request: the id must be a string or an integer"}
	}
	if m.Method == "" && (m.ID == nil || m.Result == nil && m.Error == nil) {
		return nil, &rpcError{Code: rpcInvalidRequest, Message: `Invalid request: "method" is missing`}
	}
	if p := bytes.TrimSpace(m.Params); len(p) > 0 && p[0] != '{' && !bytes.Equal(p, []byte("null")) {
		return nil, &rpcError{Code: rpcInvalidRequest, Message: `Invalid request: "params" must be an object`}
	}
	return &m, nil
}

// validRPCID reports whether id is a string or an integer: MCP forbids a
// null id, and fractions make poor ids.
func validRPCID(id json.RawMessage) bool {
	var v any
	d := json.NewDecoder(bytes.NewReader(id))
	d.UseNumber()
	if d.Decode(&v) != nil {
		return false
	}
	switch v := v.(type) {
	case string:
		return true
	case json.Number:
		_, err := v.Int64()
		return err == nil
	}
	return false
}

// mcpSession is what one message is answered with: the token's rights.
type mcpSession struct {
	tok store.Token
}

// handleRPC answers one message. It returns nil for a notification or a
// response, which get no reply.
func (a *API) handleRPC(ctx context.Context, s *mcpSession, msg []byte) *rpcResponse {
	m, perr := parseRPC(msg)
	if perr != nil {
		return &rpcResponse{JSONRPC: "2.0", ID: json.RawMessage("null"), Error: perr}
	}
	if m.ID == nil || m.Method == "" {
		return nil // a notification (initialized, cancelled, …) or a response
	}
	res, err := a.callRPC(ctx, s, m.Method, m.Params)
	out := &rpcResponse{JSONRPC: "2.0", ID: m.ID}
	var re *rpcError
	switch {
	case err == nil:
		out.Result = res
	case errors.As(err, &re):
		out.Error = re
	default:
		a.log.Error("mcp request failed", "method", m.Method, "err", err)
		out.Error = &rpcError{Code: rpcInternalError, Message: "Internal error"}
	}
	return out
}

// callRPC runs one method. Errors other than *rpcError are internal.
func (a *API) callRPC(ctx context.Context, s *mcpSession, method string, params json.RawMessage) (res any, err error) {
	defer func() {
		if v := recover(); v != nil {
			a.log.Error("mcp request panicked", "method", method, "panic", v)
			err = &rpcError{Code: rpcInternalError, Message: "Internal error"}
		}
	}()
	if len(params) == 0 || bytes.Equal(params, []byte("null")) {
		params = json.RawMessage("{}")
	}
	switch method {
	case "initialize":
		var p struct {
			ProtocolVersion string `json:"protocolVersion"`
		}
		if err := json.Unmarshal(params, &p); err != nil {
			return nil, invalidParams("initialize: " + err.Error())
		}
		v := mcpVersions[0]
		if slices.Contains(mcpVersions, p.ProtocolVersion) {
			v = p.ProtocolVersion
		}
		return map[string]any{
			"protocolVersion": v,
			"capabilities": map[string]any{
				"tools":     map[string]any{"listChanged": false},
				"resources": map[string]any{"subscribe": false, "listChanged": false},
			},
			"serverInfo":   map[string]string{"name": "tinysink", "title": "tinysink error tracker", "version": a.Version},
			"instructions": mcpInstructions,
		}, nil
	case "ping":
		return struct{}{}, nil
	case "tools/list":
		return map[string]any{"tools": a.mcpToolList(s)}, nil
	case "tools/call":
		var p struct {
			Name      string          `json:"name"`
			Arguments json.RawMessage `json:"arguments"`
		}
		if err := json.Unmarshal(params, &p); err != nil {
			return nil, invalidParams("tools/call: " + err.Error())
		}
		return a.mcpCallTool(ctx, s, p.Name, p.Arguments)
	case "resources/list":
		return a.mcpResourceList(s)
	case "resources/templates/list":
		return map[string]any{"resourceTemplates": mcpResourceTemplates}, nil
	case "resources/read":
		var p struct {
			URI string `json:"uri"`
		}
		if err := json.Unmarshal(params, &p); err != nil || p.URI == "" {
			return nil, invalidParams(`resources/read needs {"uri": "tinysink://…"}`)
		}
		return a.mcpReadResource(s, p.URI)
	case "prompts/list":
		return map[string]any{"prompts": []any{}}, nil
	}
	return nil, &rpcError{Code: rpcMethodNotFound, Message: "Method not found: " + method}
}

const mcpInstructions = "tinysink is a self-hosted error tracker. Find issues with search_issues " +
	"(the issue list's search: free text matches an issue's type and message, key:value matches a tag, " +
	`e.g. "TypeError environment:production"), read one with get_issue (Markdown with the latest event's stack trace), ` +
	"an event with get_event. Issues are named by number or by friendly id (PROJECT-123). " +
	"Outputs are capped; narrow the query when an output says it was truncated."

// handleMCP serves POST /mcp, the streamable HTTP transport: one JSON-RPC
// message per request, answered with application/json, or 202 when it
// needs no reply. requireToken has checked the token.
func (a *API) handleMCP(w http.ResponseWriter, r *http.Request) error {
	// Browsers send Origin; a page of another site must not reach a local
	// server through DNS rebinding (the transport's security warning).
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			writeRPCHTTP(w, http.StatusForbidden, &rpcResponse{JSONRPC: "2.0", ID: json.RawMessage("null"),
				Error: &rpcError{Code: rpcInvalidRequest, Message: "Origin " + o + " is not this server"}})
			return nil
		}
	}
	if v := r.Header.Get("MCP-Protocol-Version"); v != "" && !slices.Contains(mcpVersions, v) {
		writeRPCHTTP(w, http.StatusBadRequest, &rpcResponse{JSONRPC: "2.0", ID: json.RawMessage("null"),
			Error: &rpcError{Code: rpcInvalidRequest, Message: "Unsupported MCP-Protocol-Version " + v + "; supported: " + strings.Join(mcpVersions, ", ")}})
		return nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, mcpMaxMessage))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeRPCHTTP(w, http.StatusRequestEntityTooLarge, &rpcResponse{JSONRPC: "2.0", ID: json.RawMessage("null"),
				Error: &rpcError{Code: rpcInvalidRequest, Message: "Invalid request: the message is larger than 1 MiB"}})
			return nil
		}
		return err
	}
	tok, _ := r.Context().Value(tokenCtxKey{}).(store.Token)
	resp := a.handleRPC(r.Context(), &mcpSession{tok: tok}, body)
	switch {
	case resp == nil:
		w.WriteHeader(http.StatusAccepted)
	case resp.Error != nil && (resp.Error.Code == rpcParseError || resp.Error.Code == rpcInvalidRequest):
		writeRPCHTTP(w, http.StatusBadRequest, resp)
	default:
		writeRPCHTTP(w, http.StatusOK, resp)
	}
	return nil
}

// handleMCPStream serves GET and DELETE /mcp: the server opens no stream of
// its own and keeps no sessions, which the transport answers with 405.
func (a *API) handleMCPStream(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Allow", "POST")
	writeJSON(w, http.StatusMethodNotAllowed, apiError{"This MCP server is stateless: POST one JSON-RPC message per request."})
	return nil
}

func writeRPCHTTP(w http.ResponseWriter, status int, resp *rpcResponse) {
	b := marshalRPC(resp)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

// marshalRPC encodes resp; a result that does not encode becomes an
// internal error.
func marshalRPC(resp *rpcResponse) []byte {
	b, err := json.Marshal(resp)
	if err != nil {
		b, _ = json.Marshal(&rpcResponse{JSONRPC: "2.0", ID: resp.ID, Error: &rpcError{Code: rpcInternalError, Message: "Internal error"}})
	}
	return b
}

// ServeMCP serves MCP's stdio transport for tok: newline-delimited
// JSON-RPC messages from in, one reply line each to out, until in ends or
// ctx is done. A line longer than 1 MiB is refused and skipped.
func (a *API) ServeMCP(ctx context.Context, in io.Reader, out io.Writer, tok store.Token) error {
	s := &mcpSession{tok: tok}
	br := bufio.NewReaderSize(in, 64<<10)
	bw := bufio.NewWriter(out)
	for ctx.Err() == nil {
		line, tooLong, err := readLine(br, mcpMaxMessage)
		if len(bytes.TrimSpace(line)) > 0 || tooLong {
			var resp *rpcResponse
			if tooLong {
				resp = &rpcResponse{JSONRPC: "2.0", ID: json.RawMessage("null"),
					Error: &rpcError{Code: rpcInvalidRequest, Message: "Invalid request: the message is larger than 1 MiB"}}
			} else {
				resp = a.handleRPC(ctx, s, line)
			}
			if resp != nil {
				bw.Write(marshalRPC(resp))
				bw.WriteByte('\n')
				if err := bw.Flush(); err != nil {
					return err
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}

// readLine reads one line of at most max bytes; of a longer one it keeps
// nothing, reads to its end, and reports tooLong.
func readLine(br *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	for {
		part, isPrefix, err := br.ReadLine()
		if !tooLong {
			if len(line)+len(part) > max {
				tooLong, line = true, nil
			} else {
				line = append(line, part...)
			}
		}
		if err != nil || !isPrefix {
			return line, tooLong, err
		}
	}
}
