package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tinysink/tinysink/digest/minidump/symstore"
	"github.com/tinysink/tinysink/store"
	"github.com/tinysink/tinysink/store/attach"
)

// planted marks the secret part of every planted secret: no page or reply
// may show it. (Masks keep only the last four characters of a long secret,
// so the marker is never at the end.)
const planted = "PLANTEDSECRET"

// TestNoPageOrReplyShowsASecret creates a backend of every kind with
// planted secrets, and a failure that quotes them, then fetches every page
// and API reply that shows backends.
func TestNoPageOrReplyShowsASecret(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	api := NewAPI(s.db, "http://127.0.0.1:8000", nil)
	api.SendTest = func(_ context.Context, id uint32) (*store.Failure, error) {
		b, err := s.db.AlertBackend(id)
		if err != nil {
			return nil, err
		}
		// Unscrubbed on purpose: the API must not rely on the sender.
		sec := strings.Join(b.Secrets(), " ")
		return &store.Failure{At: time.Now(), Status: 401, Error: "Post " + strconv.Quote(sec), Body: sec}, nil
	}
	api.Register(s.mux)
	tok, err := s.db.CreateToken()
	if err != nil {
		t.Fatal(err)
	}
	admin := s.login(t, "admin")
	pid := s.project.ID

	secretFor := map[string]string{
		"webhook_url": "https://hooks.example.com/services/" + planted + "0123/wxyz",
		"bot_token":   "123456:" + planted + "abcdWXYZ",
	}
	var ids []uint32
	for _, bk := range store.AlertBackendKinds() {
		b := &store.AlertBackend{Project: pid, Kind: bk.Kind, Name: bk.Label, Config: map[string]string{}}
		for _, f := range bk.Fields {
			switch {
			case f.Secret:
				b.Config[f.Key] = secretFor[f.Key]
			case f.Key == "chat_id":
				b.Config[f.Key] = "-1001"
			}
		}
		if err := s.db.CreateAlertBackend(b); err != nil {
			t.Fatalf("%s: %v", bk.Kind, err)
		}
		// A failure whose texts quote the secrets, as if stored unscrubbed.
		all := strings.Join(b.Secrets(), " ")
		f := &store.Failure{At: time.Now(), Status: 400, Error: all, Body: `{"error":"` + all + `"}`, IsJSON: true}
		if err := s.db.RecordBackendResult(b.ID, f, time.Now()); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, b.ID)
	}

	check := func(what string, code int, body string) {
		t.Helper()
		if code >= 500 {
			t.Errorf("%s: status %d", what, code)
		}
		if strings.Contains(body, planted) {
			i := strings.Index(body, planted)
			t.Errorf("%s shows a secret: …%s…", what, body[max(0, i-60):min(len(body), i+40)])
		}
	}
	page := func(method, target string, form url.Values) {
		t.Helper()
		rec := s.do(method, target, form, admin)
		check(method+" "+target, rec.Code, rec.Body.String())
	}
	apiCall := func(method, target, body string) map[string]any {
		t.Helper()
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		s.mux.ServeHTTP(rec, req)
		check(method+" "+target, rec.Code, rec.Body.String())
		var v map[string]any
		json.Unmarshal(rec.Body.Bytes(), &v)
		return v
	}

	settings := fmt.Sprintf("/projects/%d/settings/", pid)
	page("GET", settings, nil)
	page("GET", settings+"?saved", nil)
	alerts := fmt.Sprintf("/api/canonical/0/projects/%d/alerts/", pid)
	apiCall("GET", alerts, "")
	for _, id := range ids {
		b, _ := s.db.AlertBackend(id)
		edit := fmt.Sprintf("/projects/%d/alerts/%d/", pid, id)
		page("GET", edit, nil)
		page("GET", settings+fmt.Sprintf("?tested=%d", id), nil)
		// A refused edit renders the form again, with the stored secret's mask.
		page("POST", edit, url.Values{"name": {strings.Repeat("x", store.MaxBackendName+1)}})
		item := fmt.Sprintf("%s%d/", alerts, id)
		got := apiCall("GET", item, "")
		masked, _ := json.Marshal(got["config"])
		apiCall("PATCH", item, `{"name":"renamed"}`)
		apiCall("PUT", item, fmt.Sprintf(`{"kind":%q,"name":"again","config":%s}`, b.Kind, masked))
		apiCall("PATCH", item, `{"config":{"chat_id":"not a chat id"}}`)
		apiCall("POST", item+"test/", "")
		if after, _ := s.db.AlertBackend(id); !maps(after.Config, b.Config) {
			t.Errorf("backend %d: sending the masks back changed the config: %v, was %v", id, after.Config, b.Config)
		}
	}
	// Creating echoes the backend, masked; a refused create names no secret.
	apiCall("POST", alerts, `{"kind":"slack","config":{"webhook_url":"`+secretFor["webhook_url"]+`"}}`)
	apiCall("POST", alerts, `{"kind":"telegram","config":{"bot_token":"`+secretFor["bot_token"]+`","chat_id":"bad chat"}}`)
	page("POST", fmt.Sprintf("/projects/%d/alerts/new/", pid), url.Values{"kind": {"slack"}, "name": {strings.Repeat("x", 200)}, "webhook_url": {secretFor["webhook_url"]}})
	page("GET", "/projects/", nil)
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// recordingMux records the patterns Register mounts.
type recordingMux struct {
	*http.ServeMux
	patterns []string
}

func (m *recordingMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

// TestOpenAPIListsEveryRoute checks that the document served at
// /api/canonical/0/openapi.json (without a token) lists every route
// Register mounts, and nothing else, and that each of its operations
// reaches that route.
func TestOpenAPIListsEveryRoute(t *testing.T) {
	t.Parallel()
	db, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	mux := &recordingMux{ServeMux: http.NewServeMux()}
	// With the optional native routes on, so that they are checked too.
	nativeAPI(t, db).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	resp, err := http.Get(srv.URL + "/api/canonical/0/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("openapi.json: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.json is not an OpenAPI 3 document: %v %.200s", err, raw)
	}
	var inDoc []string
	for path, ops := range doc.Paths {
		for method, op := range ops {
			m := strings.ToUpper(method)
			inDoc = append(inDoc, m+" "+path)
			// The operation reaches the route registered for it.
			target := patternWild().ReplaceAllString(path, "x")
			_, pattern := mux.Handler(httptest.NewRequest(m, target, nil))
			if openAPIPathOf(pattern) != m+" "+path {
				t.Errorf("%s %s reaches %q", m, path, pattern)
			}
			if op["summary"] == "" || op["operationId"] == "" {
				t.Errorf("%s %s: no summary or operationId", m, path)
			}
		}
	}
	var registered []string
	for _, p := range mux.patterns {
		registered = append(registered, openAPIPathOf(p))
	}
	slices.Sort(inDoc)
	slices.Sort(registered)
	if !slices.Equal(inDoc, registered) {
		t.Errorf("routes in the document:\n%s\nroutes registered:\n%s", strings.Join(inDoc, "\n"), strings.Join(registered, "\n"))
	}
	if len(registered) < 40 {
		t.Errorf("only %d routes registered", len(registered))
	}
}

// openAPIPathOf turns "GET /a/{$}" into "GET /a/".
func openAPIPathOf(pattern string) string {
	m, p, _ := strings.Cut(pattern, " ")
	return m + " " + openAPIPath(p)
}

// TestAPITokenScopes checks the one token check: scopes, project-scoped
// tokens, the Bearer word in any case, and the error replies.
func TestAPITokenScopes(t *testing.T) {
	t.Parallel()
	srv, db, all := apiServer(t)
	other, _ := db.CreateProject("other")
	read, _, _ := db.CreateTokenWith("ro", []store.Scope{store.ScopeRead}, 0)
	write, _, _ := db.CreateTokenWith("ci", []store.Scope{store.ScopeWrite}, 0)
	mine, _, _ := db.CreateTokenWith("web only", []store.Scope{store.ScopeWrite}, 1)

	req := func(scheme, tok, method, path, body string) *http.Response {
		t.Helper()
		r, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if tok != "" {
			r.Header.Set("Authorization", scheme+" "+tok)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}

	// 401: JSON, with WWW-Authenticate, for every kind of route.
	for _, path := range []string{"/api/canonical/0/projects/", "/api/0/", "/debug/budget", "/api/canonical/0/projects/1/alerts/"} {
		resp := req("", "", "GET", path, "")
		if resp.StatusCode != 401 || resp.Header.Get("Content-Type") != "application/json" || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("GET %s without a token: %d %q %q", path, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("WWW-Authenticate"))
		}
	}
	for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
		if resp := req(scheme, all, "GET", "/api/canonical/0/projects/", ""); resp.StatusCode != 200 {
			t.Errorf("%q scheme: %d", scheme, resp.StatusCode)
		}
	}
	if resp := req("Basic", all, "GET", "/api/canonical/0/projects/", ""); resp.StatusCode != 401 {
		t.Errorf("Basic scheme: %d, want 401", resp.StatusCode)
	}

	for _, tt := range []struct {
		name, tok, method, path, body string
		want                          int
	}{
		{"read reads", read, "GET", "/api/canonical/0/issues/WEB-1/", "", 200},
		{"read cannot write", read, "POST", "/api/canonical/0/issues/WEB-1/resolve/", "", 403},
		{"read cannot back up", read, "POST", store.BackupPath, "", 403},
		{"write writes", write, "POST", "/api/canonical/0/issues/WEB-1/mute/", "", 200},
		{"write cannot back up", write, "POST", store.BackupPath, "", 403},
		{"admin may back up (none here: 404)", all, "POST", store.BackupPath, "", 404},
		{"project token, its project", mine, "GET", "/api/canonical/0/projects/1/", "", 200},
		{"project token, its issue", mine, "POST", "/api/canonical/0/issues/WEB-1/unmute/", "", 200},
		{"project token, other project", mine, "GET", fmt.Sprintf("/api/canonical/0/projects/%d/", other.ID), "", 403},
		{"project token, other project's issues", mine, "GET", fmt.Sprintf("/api/canonical/0/issues/?project=%d", other.ID), "", 403},
		{"project token, other project's alerts", mine, "GET", fmt.Sprintf("/api/canonical/0/projects/%d/alerts/", other.ID), "", 403},
		{"project token, other project's release", mine, "POST", "/api/canonical/0/releases/", fmt.Sprintf(`{"project":%d,"version":"1.0"}`, other.ID), 403},
		{"project token, global route", mine, "POST", "/api/canonical/0/projects/", `{"name":"new"}`, 403},
		{"project token, debug budget", mine, "GET", "/debug/budget", "", 403},
		{"project token, sentry-cli other project", mine, "GET", "/api/0/projects/org/other/releases/", "", 404},
		{"project token, sentry-cli new release in other project", mine, "POST", "/api/0/organizations/org/releases/", `{"version":"2.0","projects":["other"]}`, 403},
		{"project token, chunk upload options", mine, "GET", "/api/0/organizations/org/chunk-upload/", "", 200},
		{"project token, artifact bundle for its project", mine, "POST", "/api/0/organizations/org/artifactbundle/assemble/", artifactAssemble("web"), 200},
		{"project token, artifact bundle for other project", mine, "POST", "/api/0/organizations/org/artifactbundle/assemble/", artifactAssemble("other"), 403},
		{"project token, artifact bundle for both projects", mine, "POST", "/api/0/organizations/org/artifactbundle/assemble/", artifactAssemble("web", "other"), 403},
		{"artifact bundle for an unknown project", write, "POST", "/api/0/organizations/org/artifactbundle/assemble/", artifactAssemble("nope"), 400},
	} {
		if resp := req("Bearer", tt.tok, tt.method, tt.path, tt.body); resp.StatusCode != tt.want {
			t.Errorf("%s: %s %s = %d, want %d", tt.name, tt.method, tt.path, resp.StatusCode, tt.want)
		}
	}
	// A project token lists its project only.
	code, v := call(t, srv, mine, "GET", "/api/canonical/0/projects/", "")
	if res, _ := v["results"].([]any); code != 200 || len(res) != 1 {
		t.Errorf("project token lists %d %v", code, v)
	}
}

// nativeAPI is the API of db with its optional native routes on
// (attachments and symbols, in temporary directories).
func nativeAPI(t *testing.T, db *store.DB) *API {
	t.Helper()
	api := NewAPI(db, "http://127.0.0.1", nil)
	n := &Native{}
	var err error
	if n.Attachments, err = attach.Open(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if n.Symbols, err = symstore.Open(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	api.SetNative(n)
	return api
}

// artifactAssemble is an artifactbundle/assemble body for projects whose
// chunk was never uploaded: the reply, when allowed, is "not_found".
func artifactAssemble(projects ...string) string {
	b, _ := json.Marshal(map[string]any{
		"checksum": strings.Repeat("a", 40),
		"chunks":   []string{strings.Repeat("b", 40)},
		"projects": projects,
	})
	return string(b)
}

// TestAPITokenScopesSymbols checks that the installation-wide symbol
// routes, difs/assemble included, refuse a token limited to one project,
// even the project difs/assemble names.
func TestAPITokenScopesSymbols(t *testing.T) {
	t.Parallel()
	db, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	web, _ := db.CreateProject("web")
	db.CreateProject("other")
	mux := http.NewServeMux()
	nativeAPI(t, db).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	all, _, _ := db.CreateTokenWith("ci", []store.Scope{store.ScopeRead, store.ScopeWrite}, 0)
	mine, _, _ := db.CreateTokenWith("web only", []store.Scope{store.ScopeRead, store.ScopeWrite}, int64(web.ID))

	const difs = `{"` + "cccccccccccccccccccccccccccccccccccccccc" + `":{"name":"app.sym","debug_id":"","chunks":[]}}`
	for _, tt := range []struct {
		name, tok, method, path, body string
		want                          int
	}{
		{"project token lists symbols", mine, "GET", "/api/canonical/0/symbols/", "", 403},
		{"project token uploads a symbol file", mine, "POST", "/api/canonical/0/symbols/", "MODULE Linux x86_64 0 app\n", 403},
		{"project token deletes a symbol file", mine, "DELETE", "/api/canonical/0/symbols/0123456789ABCDEF0123456789ABCDEF0/", "", 403},
		{"project token, difs of its project", mine, "POST", "/api/0/projects/org/web/files/difs/assemble/", difs, 403},
		{"project token, difs of other project", mine, "POST", "/api/0/projects/org/other/files/difs/assemble/", difs, 403},
		{"all-projects token lists symbols", all, "GET", "/api/canonical/0/symbols/", "", 200},
		{"all-projects token, difs", all, "POST", "/api/0/projects/org/web/files/difs/assemble/", difs, 200},
	} {
		if code, v := call(t, srv, tt.tok, tt.method, tt.path, tt.body); code != tt.want {
			t.Errorf("%s: %s %s = %d %v, want %d", tt.name, tt.method, tt.path, code, v, tt.want)
		}
	}
}

// writeJSON sends the status and v encoded as Marshal encodes it, with a
// newline; a value that cannot be encoded gets a 500 with a JSON detail.
// ptrMarshaler marshals through a pointer method, which encoding/json uses
// for an element of a slice.
type ptrMarshaler struct{ s string }

func (p *ptrMarshaler) MarshalJSON() ([]byte, error) { return json.Marshal("p:" + p.s) }

func TestWriteJSON(t *testing.T) {
	t.Parallel()
	v := map[string]any{"a": []int{1, 2}, "b": "<x>"}
	rec := httptest.NewRecorder()
	writeJSON(rec, http.StatusCreated, v)
	want, _ := json.Marshal(v)
	if rec.Code != http.StatusCreated || rec.Body.String() != string(want)+"\n" || rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("writeJSON = %d %q %q, want 201 %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String(), string(want)+"\n")
	}
	// Lists are encoded one element at a time, to the same bytes.
	next := "http://x/?cursor=2"
	rows := []ptrMarshaler{{"a"}, {"<b>"}}
	for _, v := range []any{
		page{Next: &next, Results: []apiError{{"x"}, {"<y>"}}},
		&page{Results: []json.RawMessage{[]byte(`{"a": 1}`), []byte(` [1, 2] `)}},
		page{Results: []int{}}, page{}, []string{"a", "b"}, []string(nil), []byte("abc"),
		rows, page{Results: rows}, "x",
	} {
		want, err := json.Marshal(v)
		got, gotErr := marshalReply(v)
		if err != nil || gotErr != nil || string(got) != string(want)+"\n" {
			t.Errorf("marshalReply(%#v) = %q, %v; json.Marshal: %q, %v", v, got, gotErr, want, err)
		}
	}
	if _, err := marshalReply(page{Results: []json.RawMessage{[]byte("{bad")}}); err == nil {
		t.Error("marshalReply took an invalid raw message")
	}
	rec = httptest.NewRecorder()
	writeJSON(rec, http.StatusOK, map[string]any{"c": make(chan int)})
	if rec.Code != http.StatusInternalServerError || rec.Body.String() != `{"detail":"Internal error."}`+"\n" {
		t.Errorf("writeJSON of a channel = %d %q, want 500 with a detail", rec.Code, rec.Body.String())
	}
}
