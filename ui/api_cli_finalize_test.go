package ui

import "testing"

// `releases new` creates a release that is not released yet: dateReleased
// is null until `releases finalize` (bodies of
// samples/sdk-wire/cli/api-releases-*.raw).
func TestCLIReleaseDateReleasedOnlyAfterFinalize(t *testing.T) {
	t.Parallel()
	srv, _, tok := apiServer(t)
	code, rel := call(t, srv, tok, "POST", cliReleasesPath, `{"version":"1.0.0","projects":["1"],"dateStarted":"2026-11-27T11:10:51.590315977Z"}`)
	if code != 201 {
		t.Fatalf("releases new = %d %v", code, rel)
	}
	if v, ok := rel["dateReleased"]; !ok || v != nil {
		t.Errorf("dateReleased after releases new = %v (present %v), want null", v, ok)
	}
	if code, rel := call(t, srv, tok, "GET", cliReleasesPath+"1.0.0/", ""); code != 200 || rel["dateReleased"] != nil {
		t.Errorf("GET release before finalize = %d, dateReleased %v, want null", code, rel["dateReleased"])
	}
	code, rel = call(t, srv, tok, "PUT", cliReleasesPath+"1.0.0/", `{"projects":["1"],"dateReleased":"2026-11-27T11:10:51.666990412Z"}`)
	if code != 200 || rel["dateReleased"] != "2026-11-27T11:10:51.666990412Z" {
		t.Errorf("releases finalize = %d, dateReleased %v", code, rel["dateReleased"])
	}
	if code, rel := call(t, srv, tok, "GET", cliReleasesPath+"1.0.0/", ""); code != 200 || rel["dateReleased"] != "2026-11-27T11:10:51.666990412Z" {
		t.Errorf("GET release after finalize = %d, dateReleased %v", code, rel["dateReleased"])
	}
}
