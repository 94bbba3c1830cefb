package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/tinysink/tinysink/ui"
	"testing"
	"time"
)

// TestNodeSessions runs the real @sentry/node (testdata/node/sessions.js)
// against the server and reads its release health back through the API.
// It needs node and @sentry/node (NODE_PATH, see findSentryNode).
func TestNodeSessions(t *testing.T) {
	node := findSentryNode(t)
	ts := startServer(t)
	p, err := ts.db.Project(1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "node", "sessions.js"))
	cmd.Env = append(os.Environ(), "SENTRY_DSN="+ui.DSN(ts.base, p))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	ts.drain(t)

	var rels struct {
		Results []struct {
			Version           string   `json:"version"`
			Sessions          int64    `json:"sessions"`
			Crashed           int64    `json:"sessions_crashed"`
			Users             int64    `json:"users"`
			CrashFreeSessions *float64 `json:"crash_free_sessions"`
			CrashFreeUsers    *float64 `json:"crash_free_users"`
		} `json:"results"`
	}
	if code := ts.apiGet(t, "/api/canonical/0/releases/?project=1", &rels); code != 200 {
		t.Fatalf("releases: %d", code)
	}
	for _, r := range rels.Results {
		if r.Version != "node-app@1.0.0" {
			continue
		}
		// The process's own session, alice's and bob's (crashed, sent
		// twice), and three request sessions in an aggregate.
		if r.Sessions != 6 || r.Crashed != 1 || r.Users != 2 || r.CrashFreeSessions == nil || *r.CrashFreeSessions != 83.333 ||
			r.CrashFreeUsers == nil || *r.CrashFreeUsers != 50 {
			t.Errorf("node-app@1.0.0: %d sessions, %d crashed, %d users, crash free %v/%v; want 6, 1, 2, 83.333/50",
				r.Sessions, r.Crashed, r.Users, deref(r.CrashFreeSessions), deref(r.CrashFreeUsers))
		}
		return
	}
	t.Errorf("release node-app@1.0.0 not listed")
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
