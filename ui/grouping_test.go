package ui

import (
	"fmt"
	"html"
	"net/http"
	"strings"
	"testing"
)

// A captureMessage of @sentry/node 11 (the message plus a synthetic
// exception) is titled by its message with its level beside it, and the
// Grouping tab says why the title and key are what they are.
func TestGroupingTabExplainsMessage(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	admin := s.login(t, "admin")
	s.ingest(t, s.project.ID, []byte(`{"event_id":"6f1c9cf5f1b94b5e9f1b8f7c2a1d0e42","platform":"node","level":"warning",`+
		`"message":"Disk usage above 90% on /var","exception":{"values":[{"value":"Disk usage above 90% on /var",`+
		`"stacktrace":{"frames":[{"filename":"/app/disk.js","function":"checkDisk","in_app":true}]},"mechanism":{"type":"generic","handled":true,"synthetic":true}}]}}`))
	issues := s.issues(t, s.project.ID)
	if len(issues) != 1 {
		t.Fatalf("%d issues", len(issues))
	}
	iss := issues[0]
	get := func(path string) string {
		t.Helper()
		rec := s.do("GET", path, nil, admin)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", path, rec.Code)
		}
		return html.UnescapeString(rec.Body.String())
	}
	list := get(fmt.Sprintf("/projects/%d/", s.project.ID))
	if !strings.Contains(list, `Disk usage above 90% on /var</a>
<span class="tags"><span class="badge lv lv-warning">warning</span>`) {
		t.Errorf("issue list lacks the title with its level")
	}
	page := get(fmt.Sprintf("/issues/%d/grouping/", iss.ID))
	for _, want := range []string{
		`<h1 class="ititle">Disk usage above 90% on /var</h1>`, `<span class="badge lv lv-warning">warning</span>`,
		"Why this title and key",
		"Log Message: Disk usage above <int>% on /var ⋄ in checkDisk",
		"tinysink-message-v1",
		"synthetic exception",
		"the function that sent it (checkDisk)",
		`the key was "checkDisk"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("grouping tab lacks %q", want)
		}
	}
}
