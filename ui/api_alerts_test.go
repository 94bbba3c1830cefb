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

// alertsAPI returns the API over a fresh store, its token, and a project.
// Its SendTest fails for Telegram backends with a reply that quotes the
// bot token, as Telegram's does, and succeeds for the others.
func alertsAPI(t *testing.T) (h http.Handler, db *store.DB, tok string, p, other *store.Project) {
	t.Helper()
	db, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p, _ = db.CreateProject("App")
	other, _ = db.CreateProject("Other")
	tok, _ = db.CreateToken()
	api := NewAPI(db, "http://tinysink.test", nil)
	api.SendTest = func(_ context.Context, id uint32) (*store.Failure, error) {
		b, err := db.AlertBackend(id)
		if err != nil {
			return nil, err
		}
		var f *store.Failure
		if b.Kind == store.BackendTelegram {
			f = &store.Failure{At: time.Now(), Status: 401, IsJSON: true,
				Body: `{"ok":false,"description":"Unauthorized: /bot` + b.Config["bot_token"] + `/sendMessage"}`}
		}
		return f, db.RecordBackendResult(id, b.Scrubbed(f), time.Now())
	}
	mux := http.NewServeMux()
	api.Register(mux)
	return mux, db, tok, p, other
}

func doAPI(t *testing.T, h http.Handler, tok, method, path, body string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var v map[string]any
	if rec.Body.Len() > 0 {
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatalf("%s %s: reply %q is not a JSON object: %v", method, path, rec.Body.String(), err)
		}
	}
	return rec, v
}

func TestAlertsAPI(t *testing.T) {
	t.Parallel()
	h, db, tok, p, other := alertsAPI(t)
	do := func(t *testing.T, h http.Handler, method, path, body string) (*httptest.ResponseRecorder, map[string]any) {
		t.Helper()
		return doAPI(t, h, tok, method, path, body)
	}
	const rcURL = "https://hooks.example.com"
	base := fmt.Sprintf("/api/canonical/0/projects/%d/alerts/", p.ID)

	// Auth applies.
	req := httptest.NewRequest("GET", base, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("without auth: %d", rec.Code)
	}

	rec, v := do(t, h, "GET", base, "")
	if rec.Code != 200 || len(v["results"].([]any)) != 0 {
		t.Fatalf("empty list: %d %v", rec.Code, v)
	}

	hook := rcURL + "/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXX"
	rec, v = do(t, h, "POST", base, `{"kind":"slack","name":"team","config":{"webhook_url":"`+hook+`"}}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %v", rec.Code, v)
	}
	id := int(v["id"].(float64))
	cfg := v["config"].(map[string]any)
	masked := cfg["webhook_url"].(string)
	if masked != rcURL+"/…XXXX" {
		t.Errorf("webhook_url shown as %q", masked)
	}
	if v["kind"] != "slack" || v["name"] != "team" || v["project"] != float64(p.ID) || v["last_failure"] != nil || v["last_success"] != nil {
		t.Errorf("created: %v", v)
	}
	item := fmt.Sprintf("%s%d/", base, id)

	rec, v = do(t, h, "POST", base, `{"kind":"telegram","config":{"bot_token":"555:TOKENtokenTOKEN","chat_id":-1001}}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create telegram: %d %v", rec.Code, v)
	}
	tgID := int(v["id"].(float64))
	if cfg := v["config"].(map[string]any); cfg["bot_token"] != "555:…" || cfg["chat_id"] != "-1001" || v["name"] != "telegram" {
		t.Errorf("telegram shown as %v", v)
	}

	for _, tt := range []struct {
		body, detail string
	}{
		{`{"kind":"teams","config":{}}`, "kind must be one of"},
		{`{"config":{}}`, "kind is required"},
		{`{"kind":"slack","config":{}}`, "config.webhook_url is required"},
		{`{"kind":"slack","config":{"webhook_url":"gopher://x"}}`, "http:// or https://"},
		{`{"kind":"slack","config":{"webhook_url":["x"]}}`, "config.webhook_url must be a string"},
		{`{"kind":"slack","colour":"red"}`, `unknown field "colour"`},
		{`[1,2]`, "JSON object"},
	} {
		rec, v := do(t, h, "POST", base, tt.body)
		if d, _ := v["detail"].(string); rec.Code != 400 || !strings.Contains(d, tt.detail) {
			t.Errorf("POST %s = %d %v, want 400 with %q", tt.body, rec.Code, v, tt.detail)
		}
	}

	rec, v = do(t, h, "GET", base, "")
	if res := v["results"].([]any); rec.Code != 200 || len(res) != 2 {
		t.Fatalf("list: %d %v", rec.Code, v)
	}
	rec, v = do(t, h, "GET", item, "")
	if rec.Code != 200 || v["name"] != "team" {
		t.Errorf("show: %d %v", rec.Code, v)
	}

	// PATCH renames and keeps the URL when its mask comes back.
	rec, v = do(t, h, "PATCH", item, `{"name":"ops","config":{"webhook_url":"`+masked+`"}}`)
	if rec.Code != 200 || v["name"] != "ops" {
		t.Errorf("patch: %d %v", rec.Code, v)
	}
	if b, _ := db.AlertBackend(uint32(id)); b.Config["webhook_url"] != hook || b.Name != "ops" {
		t.Errorf("stored after patch: %+v", b)
	}
	// PUT replaces: a Mattermost backend with a channel.
	rec, v = do(t, h, "PUT", item, `{"kind":"mattermost","name":"mm","config":{"webhook_url":"`+masked+`","channel":"town-square"}}`)
	if rec.Code != 200 || v["kind"] != "mattermost" {
		t.Errorf("put: %d %v", rec.Code, v)
	}
	if b, _ := db.AlertBackend(uint32(id)); b.Config["webhook_url"] != hook || b.Config["channel"] != "town-square" {
		t.Errorf("stored after put: %+v", b)
	}
	rec, v = do(t, h, "PUT", item, `{"name":"x"}`)
	if rec.Code != 400 {
		t.Errorf("put without kind: %d %v", rec.Code, v)
	}
	// A PATCH can remove an optional key.
	do(t, h, "PATCH", item, `{"config":{"channel":null}}`)
	if b, _ := db.AlertBackend(uint32(id)); b.Config["channel"] != "" || b.Config["webhook_url"] != hook {
		t.Errorf("stored after removing the channel: %+v", b)
	}

	// The test message goes out now and the outcome is recorded.
	rec, v = do(t, h, "POST", item+"test/", "")
	if rec.Code != 200 || v["ok"] != true {
		t.Fatalf("test: %d %v", rec.Code, v)
	}
	_, v = do(t, h, "GET", item, "")
	if v["last_success"] == nil || v["last_failure"] != nil {
		t.Errorf("after test: %v", v)
	}

	// A failing test reports the failure with the token masked.
	tgItem := fmt.Sprintf("%s%d/", base, tgID)
	rec, v = do(t, h, "POST", tgItem+"test/", "")
	f, _ := v["failure"].(map[string]any)
	if rec.Code != 200 || v["ok"] != false || f == nil || f["status"] != float64(401) || f["is_json"] != true {
		t.Fatalf("failing test: %d %v", rec.Code, v)
	}
	if strings.Contains(rec.Body.String(), "TOKEN") {
		t.Errorf("reply leaks the token: %s", rec.Body.String())
	}
	if b, _ := db.AlertBackend(uint32(tgID)); b.LastFailure == nil || strings.Contains(b.LastFailure.Body, "TOKEN") {
		t.Errorf("stored failure: %+v", b.LastFailure)
	}

	// Unknown ids and ids of another project are 404.
	for _, path := range []string{
		base + "999/", fmt.Sprintf("/api/canonical/0/projects/%d/alerts/%d/", other.ID, id),
		"/api/canonical/0/projects/999/alerts/", "/api/canonical/0/projects/x/alerts/", base + "abc/",
	} {
		if rec, v := do(t, h, "GET", path, ""); rec.Code != 404 || v["detail"] != "Not found." {
			t.Errorf("GET %s = %d %v", path, rec.Code, v)
		}
	}
	if rec, _ := do(t, h, "POST", base+"999/test/", ""); rec.Code != 404 {
		t.Errorf("test of unknown backend = %d", rec.Code)
	}

	rec, _ = do(t, h, "DELETE", item, "")
	if rec.Code != http.StatusNoContent {
		t.Errorf("delete: %d", rec.Code)
	}
	if rec, _ := do(t, h, "DELETE", item, ""); rec.Code != 404 {
		t.Errorf("second delete: %d", rec.Code)
	}
	if bs, _ := db.AlertBackends(p.ID); len(bs) != 1 || bs[0].ID != uint32(tgID) {
		t.Errorf("left: %+v", bs)
	}
}
