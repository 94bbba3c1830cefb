package main

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// A real sentry-cli pointed at a project by its numeric id
// (SENTRY_PROJECT=1) creates a release, which is not released until it is
// finalized.
func TestSentryCLINumericProjectRelease(t *testing.T) {
	cli := findSentryCLI(t)
	ts := startServer(t)
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(cli, args...)
		cmd.Env = append(os.Environ(), "SENTRY_URL="+ts.base, "SENTRY_AUTH_TOKEN="+ts.token,
			"SENTRY_ORG=tinysink", "SENTRY_PROJECT=1", "SENTRY_DISABLE_UPDATE_CHECK=1", "SENTRY_LOAD_DOTENV=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sentry-cli %v: %v\n%s", args, err, out)
		}
	}
	released := func() any {
		t.Helper()
		req, _ := http.NewRequest("GET", ts.base+"/api/0/organizations/tinysink/releases/3.0.0/", nil)
		req.Header.Set("Authorization", "Bearer "+ts.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var rel map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&rel); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET release: %d %v", resp.StatusCode, err)
		}
		return rel["dateReleased"]
	}
	run("releases", "new", "3.0.0")
	if _, err := ts.db.Release(1, "3.0.0"); err != nil {
		t.Fatalf("release not stored in project 1: %v", err)
	}
	if d := released(); d != nil {
		t.Errorf("dateReleased after releases new = %v, want null", d)
	}
	run("releases", "finalize", "3.0.0")
	if d := released(); d == nil {
		t.Error("dateReleased after releases finalize is null")
	}
}

// findSentryCLI returns the sentry-cli binary: $SENTRY_CLI, or on PATH. CI
// installs it (npm @sentry/cli); elsewhere the test is skipped without it.
func findSentryCLI(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SENTRY_CLI"); p != "" {
		return p
	}
	if p, err := exec.LookPath("sentry-cli"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("sentry-cli not found; .ci/run installs it")
	}
	t.Skip("sentry-cli not found (set SENTRY_CLI or npm install @sentry/cli)")
	return ""
}

// A real sentry-cli creates and finalises a release, records a deploy and
// lists releases against tinysink.
func TestSentryCLIReleases(t *testing.T) {
	cli := findSentryCLI(t)
	ts := startServer(t)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(cli, args...)
		cmd.Env = append(os.Environ(), "SENTRY_URL="+ts.base, "SENTRY_AUTH_TOKEN="+ts.token,
			"SENTRY_ORG=tinysink", "SENTRY_PROJECT=default", "SENTRY_DISABLE_UPDATE_CHECK=1", "SENTRY_LOAD_DOTENV=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("sentry-cli %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("releases", "new", "2.1.0")
	run("releases", "finalize", "2.1.0")
	run("deploys", "new", "-r", "2.1.0", "-e", "production")
	out := run("releases", "list")
	if !strings.Contains(out, "2.1.0") {
		t.Errorf("releases list does not show 2.1.0:\n%s", out)
	}
	rel, err := ts.db.Release(1, "2.1.0")
	if err != nil {
		t.Fatalf("release not stored: %v", err)
	}
	if ds, _ := ts.db.Deploys(1, "2.1.0"); len(ds) != 1 || ds[0].Environment != "production" {
		t.Errorf("deploys = %+v", ds)
	}
	t.Logf("release %s dated %v", rel.Version, rel.DateReleased)
}
