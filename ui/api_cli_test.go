package ui

import (
	"testing"
)

const cliReleasesPath = "/api/0/organizations/acme/releases/"

// sentry-cli 3.8.0 with SENTRY_PROJECT=1 sends the project id as a JSON
// number to `releases new` (samples/sdk-wire/cli/api-releases-new.raw).
func TestCLIReleaseNewNumericProject(t *testing.T) {
	t.Parallel()
	srv, db, tok := apiServer(t)
	code, rel := call(t, srv, tok, "POST", cliReleasesPath, `{"version":"1.0.0","projects":[1],"dateStarted":"2026-11-27T11:10:51.590315977Z"}`)
	if code != 201 {
		t.Fatalf("releases new with projects [1] = %d %v, want 201", code, rel)
	}
	if _, err := db.Release(1, "1.0.0"); err != nil {
		t.Errorf("release not stored in project 1: %v", err)
	}
	if code, rel := call(t, srv, tok, "POST", cliReleasesPath, `{"version":"1.0.1","projects":["web", 1]}`); code != 201 {
		t.Errorf("releases new with a slug and an id = %d %v, want 201", code, rel)
	}
	for _, body := range []string{`{"version":"2.0.0","projects":[1.5]}`, `{"version":"2.0.0","projects":[true]}`, `{"version":"2.0.0","projects":[99]}`} {
		if code, _ := call(t, srv, tok, "POST", cliReleasesPath, body); code != 400 {
			t.Errorf("POST %s = %d, want 400", body, code)
		}
	}
}
