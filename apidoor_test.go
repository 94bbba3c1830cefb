package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/tinysink/tinysink/store"
)

// TestAPIFrontDoor drives the assembled server over 127.0.0.1: an alert
// backend created through the API sends its test message through the real
// sender to a receiver, whose refusal (quoting the secret URL) comes back
// masked; and the operator routes (/debug/budget, /metrics, the backup)
// answer to the one token check.
func TestAPIFrontDoor(t *testing.T) {
	ts := startServer(t)
	var mu sync.Mutex
	var got []string
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.URL.Path)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `{"error":"no such hook %s"}`, r.URL.Path)
	}))
	t.Cleanup(rc.Close)

	do := func(tok, method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, ts.base+path, strings.NewReader(body))
		if tok != "" {
			req.Header.Set("Authorization", "bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	hook := rc.URL + "/hooks/SECRETPATHSECRETPATH/abcd"
	code, body := do(ts.token, "POST", "/api/canonical/0/projects/1/alerts/", `{"kind":"webhook","name":"ops","config":{"webhook_url":"`+hook+`"}}`)
	if code != http.StatusCreated || strings.Contains(body, "SECRETPATH") {
		t.Fatalf("create: %d %s", code, body)
	}
	var b struct{ ID int }
	json.Unmarshal([]byte(body), &b)
	code, body = do(ts.token, "POST", fmt.Sprintf("/api/canonical/0/projects/1/alerts/%d/test/", b.ID), "")
	if code != 200 || !strings.Contains(body, `"ok":false`) || !strings.Contains(body, `"status":403`) || strings.Contains(body, "SECRETPATH") {
		t.Errorf("test message: %d %s", code, body)
	}
	mu.Lock()
	if len(got) != 1 || got[0] != "/hooks/SECRETPATHSECRETPATH/abcd" {
		t.Errorf("receiver got %v", got)
	}
	mu.Unlock()

	read, _, err := ts.db.CreateTokenWith("ro", []store.Scope{store.ScopeRead}, 0)
	if err != nil {
		t.Fatal(err)
	}
	mine, _, _ := ts.db.CreateTokenWith("p1", []store.Scope{store.ScopeAdmin}, 1)
	for _, tt := range []struct {
		tok, method, path string
		want              int
	}{
		{"", "GET", "/debug/budget", 401},
		{read, "GET", "/debug/budget", 200},
		{mine, "GET", "/debug/budget", 403},
		{"", "GET", "/metrics", 401},
		{read, "GET", "/metrics", 200},
		{read, "POST", store.BackupPath, 403},
		{"", "GET", "/api/canonical/0/openapi.json", 200},
	} {
		if code, body := do(tt.tok, tt.method, tt.path, ""); code != tt.want {
			t.Errorf("%s %s = %d, want %d: %.200s", tt.method, tt.path, code, tt.want, body)
		}
	}
}
