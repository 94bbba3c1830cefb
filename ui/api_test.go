package ui

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tinysink/tinysink/store"
)

// apiServer is the JSON API over a fresh store with one project holding
// issues "a" (3 events) and "b" (1 event).
func apiServer(t *testing.T) (*httptest.Server, *store.DB, string) {
	t.Helper()
	db, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p, _ := db.CreateProject("web")
	n := 0
	for _, key := range []string{"a", "a", "a", "b"} {
		n++
		err := db.Digest(func(tx *store.Tx) error {
			pr, _ := tx.Project(p.ID)
			iss, err := tx.IssueForGrouping(p.ID, key)
			if err == store.ErrNotFound {
				iss = &store.Issue{CalculatedType: "Error", CalculatedValue: key, FirstSeen: time.Now()}
				if err := tx.CreateIssue(pr, iss, key, key, "test"); err != nil {
					return err
				}
			}
			iss.DigestedEventCount++
			var id [16]byte
			id[0] = byte(n)
			return tx.AddEvent(pr, iss, &store.NewEvent{EventID: id, Body: []byte(`{"message":"x"}`)})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	tok, _ := db.CreateToken()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	NewAPI(db, srv.URL, nil).Register(mux)
	return srv, db, tok
}

func call(t *testing.T, srv *httptest.Server, tok, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

func TestAPIAuth(t *testing.T) {
	t.Parallel()
	srv, _, _ := apiServer(t)
	for _, path := range []string{"/api/canonical/0/projects/", "/api/canonical/0/issues/WEB-1/", "/api/canonical/0/releases/?project=1"} {
		if code, _ := call(t, srv, "", "GET", path, ""); code != 401 {
			t.Errorf("GET %s without token = %d", path, code)
		}
		if code, _ := call(t, srv, strings.Repeat("0", 40), "GET", path, ""); code != 401 {
			t.Errorf("GET %s with a wrong token = %d", path, code)
		}
	}
	if code, _ := call(t, srv, "", "POST", "/api/canonical/0/issues/WEB-1/resolve/", ""); code != 401 {
		t.Errorf("action without token = %d", code)
	}
}

func TestAPIIssueActions(t *testing.T) {
	t.Parallel()
	srv, db, tok := apiServer(t)
	for _, tt := range []struct {
		action string
		code   int
		field  string
		want   bool
	}{
		{"reopen", 400, "", false}, // not resolved
		{"unmute", 400, "", false}, // not muted
		{"mute", 200, "is_muted", true},
		{"mute", 400, "", false}, // already muted
		{"resolve", 200, "is_resolved", true},
		{"is_muted", 404, "", false}, // unknown action
		{"mute", 400, "", false},     // resolved
		{"reopen", 200, "is_resolved", false},
	} {
		code, body := call(t, srv, tok, "POST", "/api/canonical/0/issues/WEB-1/"+tt.action+"/", "")
		if code != tt.code {
			t.Errorf("%s: %d %v, want %d", tt.action, code, body, tt.code)
			continue
		}
		if tt.field != "" && body[tt.field] != tt.want {
			t.Errorf("%s: %s = %v, want %v", tt.action, tt.field, body[tt.field], tt.want)
		}
		if code == 400 && body["detail"] == "" {
			t.Errorf("%s: 400 without a message", tt.action)
		}
	}
	if code, _ := call(t, srv, tok, "DELETE", "/api/canonical/0/issues/WEB-2/", ""); code != 204 {
		t.Errorf("DELETE = %d", code)
	}
	if code, _ := call(t, srv, tok, "GET", "/api/canonical/0/issues/WEB-2/", ""); code != 404 {
		t.Errorf("GET deleted issue = %d", code)
	}
	if p, _ := db.Project(1); p.StoredEventCount != 3 {
		t.Errorf("stored after delete = %d", p.StoredEventCount)
	}
}

func TestAPIProjectsAndReleases(t *testing.T) {
	t.Parallel()
	srv, db, tok := apiServer(t)
	code, body := call(t, srv, tok, "POST", "/api/canonical/0/projects/", `{"name":"Mobile App"}`)
	if code != 201 || body["slug"] != "mobile-app" || !strings.Contains(body["dsn"].(string), "@127.0.0.1") {
		t.Fatalf("create project: %d %v", code, body)
	}
	if code, _ := call(t, srv, tok, "POST", "/api/canonical/0/projects/", `{"name":"mobile app"}`); code != 400 {
		t.Errorf("duplicate project = %d", code)
	}
	code, body = call(t, srv, tok, "PATCH", "/api/canonical/0/projects/1/",
		`{"retention_max_event_count": 50000, "summary_retention_days": 30, "alert_on_regression": false, "quota": {"per_5_minutes": 10}, "scrubbing": {"ip": true}}`)
	if code != 200 || body["retention_max_event_count"] != float64(50000) || body["summary_retention_days"] != float64(30) || body["alert_on_regression"] != false {
		t.Fatalf("patch: %d %v", code, body)
	}
	if q, ok := db.ProjectQuota(1); !ok || q.FiveMin != 10 {
		t.Errorf("quota = %+v, %v", q, ok)
	}
	if p, _ := db.Project(1); !p.Scrub.IP || p.Name != "web" || !p.AlertOnNewIssue || p.SummaryRetention() != 30 {
		t.Errorf("project after patch = %+v", p)
	}
	for _, bad := range []string{`{"retention_max_event_count": 0}`, `{"summary_retention_days": 0}`, `{"summary_retention_days": 91}`, `{"name": ""}`, `{"quota": {"per_hour": -1}}`, `{`} {
		if code, _ := call(t, srv, tok, "PATCH", "/api/canonical/0/projects/1/", bad); code != 400 {
			t.Errorf("PATCH %s = %d, want 400", bad, code)
		}
	}
	if code, _ := call(t, srv, tok, "PATCH", "/api/canonical/0/projects/1/", `{"quota": null}`); code != 200 {
		t.Errorf("PATCH quota null = %d", code)
	}
	if _, ok := db.ProjectQuota(1); ok {
		t.Error("quota not removed")
	}

	code, body = call(t, srv, tok, "POST", "/api/canonical/0/releases/", `{"project": 1, "version": "web@1.0.0"}`)
	if code != 201 || body["version"] != "web@1.0.0" {
		t.Fatalf("create release: %d %v", code, body)
	}
	if code, _ := call(t, srv, tok, "POST", "/api/canonical/0/releases/", `{"project": 1, "version": "web@1.0.0"}`); code != 200 {
		t.Errorf("existing release = %d", code)
	}
	if code, _ := call(t, srv, tok, "POST", "/api/canonical/0/releases/", `{"project": 1, "version": ""}`); code != 400 {
		t.Errorf("empty version = %d", code)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/api/canonical/0/releases/?project=1", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, _ := http.DefaultClient.Do(req)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(b, []byte(`"version":"web@1.0.0"`)) {
		t.Errorf("release list = %s", b)
	}
}

func TestAPILifecycleActions(t *testing.T) {
	t.Parallel()
	srv, db, tok := apiServer(t)
	post := func(path, body string) (int, map[string]any) {
		return call(t, srv, tok, "POST", "/api/canonical/0/issues/"+path, body)
	}
	if code, _ := post("WEB-1/resolve-latest/", ""); code != 400 {
		t.Errorf("resolve-latest without releases = %d", code)
	}
	for _, v := range []string{"1.0.0", "1.2.0"} {
		if _, _, err := db.CreateRelease(1, v, time.Time{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	code, body := post("WEB-1/resolve-latest/", "")
	if code != 200 || body["is_resolved"] != true || body["is_resolved_in_release"] != true {
		t.Fatalf("resolve-latest = %d %v", code, body)
	}
	if iss, _ := db.IssueByRef("WEB-1"); len(iss.FixedAt) != 1 || iss.FixedAt[0] != "1.2.0" {
		t.Errorf("fixed at %v", iss.FixedAt)
	}
	if code, _ := post("WEB-1/resolve-next/", ""); code != 400 {
		t.Errorf("resolve-next on a resolved issue = %d", code)
	}
	post("WEB-1/reopen/", "")
	if code, body := post("WEB-1/resolve-next/", ""); code != 200 || body["is_resolved_by_next_release"] != true {
		t.Errorf("resolve-next = %d %v", code, body)
	}
	for _, bad := range []string{`{"period_name":"fortnight","nr_of_periods":1}`, `{"period_name":"day","nr_of_periods":0}`, `{`} {
		if code, _ := post("WEB-2/mute-for/", bad); code != 400 {
			t.Errorf("mute-for %s = %d", bad, code)
		}
	}
	if code, _ := post("WEB-2/mute-until/", `{"period_name":"hour","nr_of_periods":1}`); code != 400 {
		t.Errorf("mute-until without a threshold = %d", code)
	}
	if code, body := post("WEB-2/mute-until/", `{"period_name":"hour","nr_of_periods":1,"gte_threshold":5}`); code != 200 || body["is_muted"] != true {
		t.Errorf("mute-until = %d %v", code, body)
	}
	if iss, _ := db.IssueByRef("WEB-2"); iss.UnmuteOnVolume == nil || iss.UnmuteOnVolume.Volume != 5 {
		t.Errorf("volume condition = %+v", iss.UnmuteOnVolume)
	}
	code, _ = call(t, srv, tok, "POST", "/api/canonical/0/issue-comments/", `{"issue":"WEB-2","comment":"looking into it"}`)
	if code != 201 {
		t.Errorf("comment = %d", code)
	}
	iss, _ := db.IssueByRef("WEB-2")
	h, _ := db.History(iss.ID)
	if len(h) == 0 || h[len(h)-1].Comment != "looking into it" {
		t.Errorf("history = %+v", h)
	}
}
