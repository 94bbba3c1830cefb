package main

import (
	"encoding/json"
	"maps"
	"testing"
)

// checkWireHealth checks what the recorded SDK traffic (TestSDKWireReplay)
// left besides events: @sentry/node's crashed session in release 1.0.0,
// the three client reports (one per SDK: an event dropped in before_send),
// and the items still dropped, counted by type.
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
	if want := map[string]int64{"attachment": 3, "transaction": 2, "span": 1}; !maps.Equal(p.DroppedItems, want) {
		t.Errorf("dropped_items = %v, want %v", p.DroppedItems, want)
	}
}
