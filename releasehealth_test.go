package main

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/tinysink/tinysink/store"
)

// checkWireHealth checks what the recorded SDK traffic (TestSDKWireReplay)
// left besides events: @sentry/node's crashed session in release 1.0.0,
// the three client reports (one per SDK: an event dropped in before_send),
// and no item dropped: the recorded attachments are kept with their events.
func checkWireHealth(t *testing.T, ts *testServer) {
	t.Helper()
	var rels struct {
		Results []struct {
			Version           string   `json:"version"`
			Sessions          int64    `json:"sessions"`
			Crashed           int64    `json:"sessions_crashed"`
			Users             int64    `json:"users"`
			CrashFreeSessions *float64 `json:"crash_free_sessions"`
			CrashFreeUsers    *float64 `json:"crash_free_users"`
			Adoption          *float64 `json:"adoption"`
		} `json:"results"`
	}
	if code := ts.apiGet(t, "/api/canonical/0/releases/?project=1", &rels); code != 200 {
		t.Fatalf("releases: %d", code)
	}
	found := false
	for _, r := range rels.Results {
		if r.Version != "1.0.0" {
			if r.Sessions != 0 || r.CrashFreeSessions != nil || r.CrashFreeUsers != nil {
				b, _ := json.Marshal(r)
				t.Errorf("release without sessions: %s, want 0 and nulls", b)
			}
			continue
		}
		found = true
		if r.Sessions != 1 || r.Crashed != 1 || r.Users != 1 || r.CrashFreeSessions == nil || *r.CrashFreeSessions != 0 ||
			r.CrashFreeUsers == nil || *r.CrashFreeUsers != 0 || r.Adoption == nil || *r.Adoption != 100 {
			b, _ := json.Marshal(r)
			t.Errorf("release 1.0.0: %s, want 1 crashed session of 1 user, 0%% crash free, 100%% adoption", b)
		}
	}
	if !found {
		t.Errorf("release 1.0.0 (from @sentry/node's session) not listed: %+v", rels.Results)
	}

	var p struct {
		ClientReports map[string]int64 `json:"client_reports"`
		DroppedItems  map[string]int64 `json:"dropped_items"`
	}
	if code := ts.apiGet(t, "/api/canonical/0/projects/1/", &p); code != 200 {
		t.Fatalf("project: %d", code)
	}
	if want := map[string]int64{"before_send:error": 3}; !maps.Equal(p.ClientReports, want) {
		t.Errorf("client_reports = %v, want %v", p.ClientReports, want)
	}
	if want := map[string]int64{}; !maps.Equal(p.DroppedItems, want) {
		t.Errorf("dropped_items = %v, want %v", p.DroppedItems, want)
	}
}

// TestCSPReports posts CSP reports in both formats browsers use and finds
// them grouped by directive and blocked URI.
func TestCSPReports(t *testing.T) {
	ts := startServer(t)
	p, err := ts.db.Project(1)
	if err != nil {
		t.Fatal(err)
	}
	post := func(ct, body string) (int, string) {
		t.Helper()
		resp, err := http.Post(ts.base+"/api/1/security/?sentry_key="+p.Key, ct, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	report := func(blocked, directive string) string {
		return `{"csp-report":{"document-uri":"https://shop.example/cart","referrer":"https://shop.example/","violated-directive":"` + directive +
			` https://cdn.example","effective-directive":"` + directive + `","original-policy":"default-src 'self'","blocked-uri":"` + blocked +
			`","status-code":200,"disposition":"enforce"}}`
	}
	for _, body := range []string{report("https://evil.example/x.js", "script-src-elem"), report("https://evil.example/x.js", "script-src-elem"), report("inline", "style-src-attr")} {
		if code, b := post("application/csp-report", body); code != 200 || !strings.Contains(b, `"id"`) {
			t.Errorf("csp-report: %d %s", code, b)
		}
	}
	reports := `[{"type":"csp-violation","age":10,"url":"https://shop.example/","user_agent":"Mozilla/5.0","body":{"documentURL":"https://shop.example/","blockedURL":"https://evil.example/x.js","effectiveDirective":"script-src-elem","originalPolicy":"default-src 'self'","disposition":"enforce","statusCode":200}},
		{"type":"deprecation","age":1,"url":"https://shop.example/","body":{"id":"x"}},
		{"type":"csp-violation","age":10,"url":"https://shop.example/","body":{"documentURL":"https://shop.example/","blockedURL":"https://fonts.example/f.woff","effectiveDirective":"font-src"}}]`
	if code, b := post("application/reports+json", reports); code != 200 {
		t.Errorf("reports+json: %d %s", code, b)
	}
	for _, bad := range []string{`{"not":"a report"}`, `[1,2`, "{\"csp-report\":{\"blocked-uri\":\"\xff\"}}"} {
		if code, b := post("application/csp-report", bad); code != 400 || !strings.Contains(b, `"message"`) {
			t.Errorf("bad report %q: %d %s, want 400 with a message", bad, code, b)
		}
	}
	ts.drain(t)

	counts := map[string]int64{}
	iss, _, err := ts.db.Issues(store.IssueFilter{Project: 1, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, is := range iss {
		counts[is.Title()] = is.DigestedEventCount
	}
	want := map[string]int64{
		"CSP: blocked https://evil.example/x.js (script-src-elem)": 3,
		"CSP: blocked inline (style-src-attr)":                     1,
		"CSP: blocked https://fonts.example/f.woff (font-src)":     1,
	}
	if !maps.Equal(counts, want) {
		t.Errorf("issues %v, want %v", counts, want)
	}
}
