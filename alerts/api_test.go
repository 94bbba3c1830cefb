package alerts

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// apiServer returns the API behind a trivial auth wrapper that wants
// "Authorization: Bearer ok".
func apiServer(t *testing.T, s *Sender) http.Handler {
	mux := http.NewServeMux()
	s.RegisterAPI(mux, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer ok" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	return mux
}

func do(t *testing.T, h http.Handler, method, path, body string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer ok")
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

func TestAPI(t *testing.T) {
	c := &clock{}
	db := newDB(t, c)
	p, _ := seed(t, db, "App")
	other, _ := db.CreateProject("Other")
	rc := newReceiver(t, nil)
	tg := newReceiver(t, nil)
	s := newSender(t, db, c, func(cfg *Config) { cfg.TelegramAPI = tg.URL })
	h := apiServer(t, s)
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

	hook := rc.URL + "/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXX"
	rec, v = do(t, h, "POST", base, `{"kind":"slack","name":"team","config":{"webhook_url":"`+hook+`"}}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %v", rec.Code, v)
	}
	id := int(v["id"].(float64))
	cfg := v["config"].(map[string]any)
	masked := cfg["webhook_url"].(string)
	if masked != rc.URL+"/…XXXX" {
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
	hits := rc.got()
	if len(hits) != 1 || !strings.Contains(string(hits[0].body), `"### TestMessage: This is a test message from tinysink`) ||
		!strings.Contains(string(hits[0].body), `"title":"TEST issue"`) {
		t.Errorf("test message: %+v", hits)
	}
	_, v = do(t, h, "GET", item, "")
	if v["last_success"] == nil || v["last_failure"] != nil {
		t.Errorf("after test: %v", v)
	}

	// A failing test reports the failure with the token masked.
	tg.setReply(func(_ int, w http.ResponseWriter, r *http.Request) int {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(401)
		fmt.Fprintf(w, `{"ok":false,"description":"Unauthorized: %s"}`, r.URL.Path)
		return 401
	})
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
	if !strings.Contains(string(tg.got()[0].body), `"chat_id":-1001`) || tg.got()[0].path != "/bot555:TOKENtokenTOKEN/sendMessage" {
		t.Errorf("telegram request %+v", tg.got()[0])
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
