package ui

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tinysink/tinysink/store"
)

// receiver is an HTTP endpoint on 127.0.0.1 that records what it is sent;
// paths under /fail/ answer 500 with a hostile body.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex // guards bodies
	bodies []string
}

const failBody = `<script>window.__xss=30</script>{"error": "<img src=x onerror=window.__xss=31>"}`

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.bodies = append(rc.bodies, string(b))
		rc.mu.Unlock()
		if strings.HasPrefix(r.URL.Path, "/fail/") {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, failBody+strings.Repeat("x", 3000))
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) received() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.bodies)
}

// backend returns the project's only backend.
func (s *testServer) backend(t *testing.T, pid int) store.AlertBackend {
	t.Helper()
	bs, err := s.db.AlertBackends(pid)
	if err != nil || len(bs) != 1 {
		t.Fatalf("backends = %+v, %v; want one", bs, err)
	}
	return bs[0]
}

func TestAlertBackendsThroughTheUI(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	rc := newReceiver(t)
	admin := s.login(t, "admin")
	pid := s.project.ID
	base := fmt.Sprintf("/projects/%d/alerts/", pid)
	settings := fmt.Sprintf("/projects/%d/settings/", pid)

	// Every kind has its form.
	for _, bk := range store.AlertBackendKinds() {
		rec := s.do("GET", base+"new/?kind="+bk.Kind, nil, admin)
		checkPage(t, "new "+bk.Kind, rec.Code, rec.Body.String())
		for _, f := range bk.Fields {
			if !strings.Contains(rec.Body.String(), `name="`+f.Key+`"`) {
				t.Errorf("%s form lacks %s", bk.Kind, f.Key)
			}
		}
	}
	if rec := s.do("GET", base+"new/?kind=teams", nil, admin); rec.Code != http.StatusBadRequest {
		t.Errorf("form for an unknown kind: %d, want 400", rec.Code)
	}

	// Refused configs come back with the reason and without the secret typed.
	for _, bad := range []url.Values{
		{"kind": {"slack"}, "name": {"no url"}},
		{"kind": {"discord"}, "webhook_url": {"ftp://example.com/x"}},
		{"kind": {"telegram"}, "bot_token": {"notatoken-SECRETVALUE"}, "chat_id": {"1"}},
		{"kind": {"telegram"}, "bot_token": {"123:abcSECRETVALUE"}, "chat_id": {"not a chat"}},
		{"kind": {"mattermost"}, "webhook_url": {"https://mm.example.com/hooks/SECRETVALUE"}, "channel": {"has space"}},
		{"kind": {"nosuch"}},
	} {
		rec := s.do("POST", base+"new/", bad, admin)
		if rec.Code != http.StatusBadRequest {
			t.Errorf("create %v: %d, want 400", bad, rec.Code)
			continue
		}
		if strings.Contains(rec.Body.String(), "SECRETVALUE") {
			t.Errorf("create %v: the refused form shows the secret typed", bad)
		}
		if bad.Get("kind") != "nosuch" && !strings.Contains(rec.Body.String(), "Not saved: config.") {
			t.Errorf("create %v: no reason shown", bad)
		}
	}

	// A webhook backend.
	hook := rc.URL + "/hooks/abcdefghijklmnop1234"
	rec := s.do("POST", base+"new/", url.Values{"kind": {"webhook"}, "name": {"Ops hook"}, "webhook_url": {hook}}, admin)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("create webhook: %d %s", rec.Code, rec.Body.String())
	}
	b := s.backend(t, pid)
	if b.Kind != "webhook" || b.Name != "Ops hook" || b.Config["webhook_url"] != hook {
		t.Fatalf("stored backend = %+v", b)
	}
	if loc := rec.Header().Get("Location"); loc != fmt.Sprintf("%s?saved#backend-%d", settings, b.ID) {
		t.Errorf("create redirects to %q", loc)
	}
	page := s.do("GET", settings, nil, admin).Body.String()
	for _, want := range []string{"Ops hook", rc.URL + "/…1234", "Last delivered: never", fmt.Sprintf(`id="test-%d"`, b.ID)} {
		if !strings.Contains(page, want) {
			t.Errorf("settings page lacks %q", want)
		}
	}
	edit := fmt.Sprintf("%s%d/", base, b.ID)
	form := s.do("GET", edit, nil, admin)
	checkPage(t, edit, form.Code, form.Body.String())
	for name, body := range map[string]string{"settings": page, "edit form": form.Body.String()} {
		if strings.Contains(body, "abcdefghijklmnop") {
			t.Errorf("the %s shows the webhook URL's secret path", name)
		}
	}

	// Editing without retyping the URL keeps it.
	if rec := s.do("POST", edit, url.Values{"name": {"Renamed"}, "webhook_url": {""}}, admin); rec.Code != http.StatusSeeOther {
		t.Fatalf("update: %d %s", rec.Code, rec.Body.String())
	}
	if b = s.backend(t, pid); b.Name != "Renamed" || b.Config["webhook_url"] != hook {
		t.Errorf("after an update without the URL: %+v", b)
	}

	// The test message goes through the alert sender to the receiver.
	rec = s.do("POST", edit+"test/", url.Values{}, admin)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("test message: %d %s", rec.Code, rec.Body.String())
	}
	got := rc.received()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(got))
	}
	var payload map[string]any
	if err := json.Unmarshal([]byte(got[0]), &payload); err != nil || payload["alert_reason"] != "TEST" || payload["project_name"] != "Shop" {
		t.Errorf("test payload = %s (%v)", got[0], err)
	}
	page = s.do("GET", rec.Header().Get("Location"), nil, admin).Body.String()
	if !strings.Contains(page, "The test message to Renamed was delivered.") || strings.Contains(page, "Last delivered: never") {
		t.Error("the settings page does not show the delivered test")
	}

	// A failing endpoint: the failure is shown, escaped and cut.
	failing := rc.URL + "/fail/qrstuvwxyz0123456789"
	s.do("POST", edit, url.Values{"name": {"Renamed"}, "webhook_url": {failing}}, admin)
	rec = s.do("POST", edit+"test/", url.Values{}, admin)
	page = s.do("GET", rec.Header().Get("Location"), nil, admin).Body.String()
	for _, want := range []string{"The test message to Renamed failed", "HTTP 500", "&lt;script&gt;window.__xss=30&lt;/script&gt;"} {
		if !strings.Contains(page, want) {
			t.Errorf("after a failed test the page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script>") || strings.Contains(page, "qrstuvwxyz") || strings.Contains(page, strings.Repeat("x", 2000)) {
		t.Error("the failure is shown unescaped, with the secret, or uncut")
	}

	// A Telegram backend shows its chat and the bot id, not the token.
	other, _ := s.db.CreateProject("Other")
	tg := url.Values{"kind": {"telegram"}, "name": {"TG"}, "bot_token": {"123456:ABCdefGHIjklMNOpqrSTUvwxYZ0123"}, "chat_id": {"@ops_channel"}, "message_thread_id": {"7"}}
	if rec := s.do("POST", fmt.Sprintf("/projects/%d/alerts/new/", other.ID), tg, admin); rec.Code != http.StatusSeeOther {
		t.Fatalf("create telegram: %d %s", rec.Code, rec.Body.String())
	}
	tgb := s.backend(t, other.ID)
	page = s.do("GET", fmt.Sprintf("/projects/%d/settings/", other.ID), nil, admin).Body.String()
	if !strings.Contains(page, "123456:…0123") || !strings.Contains(page, "@ops_channel") || strings.Contains(page, "ABCdefGHI") {
		t.Error("the Telegram backend's token is not masked, or its chat is missing")
	}
	// Clearing an optional field removes it.
	s.do("POST", fmt.Sprintf("/projects/%d/alerts/%d/", other.ID, tgb.ID), url.Values{"name": {"TG"}, "chat_id": {"-1001"}, "message_thread_id": {""}}, admin)
	if b := s.backend(t, other.ID); b.Config["chat_id"] != "-1001" || b.Config["message_thread_id"] != "" || b.Config["bot_token"] == "" {
		t.Errorf("telegram after update = %+v", b.Config)
	}
	// A backend is reached only through its own project.
	if rec := s.do("GET", fmt.Sprintf("%s%d/", base, tgb.ID), nil, admin); rec.Code != http.StatusNotFound {
		t.Errorf("another project's backend: %d, want 404", rec.Code)
	}
	if rec := s.do("POST", fmt.Sprintf("%s%d/delete/", base, tgb.ID), url.Values{"confirm": {"yes"}}, admin); rec.Code != http.StatusNotFound {
		t.Errorf("deleting another project's backend: %d, want 404", rec.Code)
	}

	// Members see the backends but cannot change or test them.
	s.db.SetUserProjects("user", []int{pid})
	user := s.login(t, "user")
	page = s.do("GET", settings, nil, user).Body.String()
	if !strings.Contains(page, "Renamed") || strings.Contains(page, "Send test message") || strings.Contains(page, base+"new/") {
		t.Error("a member's settings page lacks the backend or offers admin actions")
	}
	for _, rt := range []struct {
		path string
		form url.Values
	}{
		{base + "new/", url.Values{"kind": {"webhook"}, "webhook_url": {hook}}},
		{edit, url.Values{"name": {"mine"}}},
		{edit + "test/", url.Values{}},
		{edit + "delete/", url.Values{"confirm": {"yes"}}},
	} {
		if rec := s.do("POST", rt.path, rt.form, user); rec.Code != http.StatusForbidden {
			t.Errorf("a member posted %s: %d, want 403", rt.path, rec.Code)
		}
	}
	if len(rc.received()) != 2 {
		t.Errorf("receiver got %d requests, want 2", len(rc.received()))
	}

	// Deleting needs the confirmation box.
	if rec := s.do("POST", edit+"delete/", url.Values{}, admin); rec.Code != http.StatusBadRequest {
		t.Errorf("delete without confirmation: %d, want 400", rec.Code)
	}
	if rec := s.do("POST", edit+"delete/", url.Values{"confirm": {"yes"}}, admin); rec.Code != http.StatusSeeOther {
		t.Fatalf("delete: %d", rec.Code)
	}
	if bs, _ := s.db.AlertBackends(pid); len(bs) != 0 {
		t.Errorf("backends after delete: %+v", bs)
	}
	if rec := s.do("GET", edit, nil, admin); rec.Code != http.StatusNotFound {
		t.Errorf("a deleted backend's form: %d, want 404", rec.Code)
	}
}

// TestSendTestUnavailable checks the page and action of a UI whose server
// gives it no alert sender.
func TestSendTestUnavailable(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.ui.sendTest = nil
	admin := s.login(t, "admin")
	b := &store.AlertBackend{Project: s.project.ID, Kind: "webhook", Config: map[string]string{"webhook_url": "http://127.0.0.1:1/x"}}
	if err := s.db.CreateAlertBackend(b); err != nil {
		t.Fatal(err)
	}
	if page := s.do("GET", fmt.Sprintf("/projects/%d/settings/", s.project.ID), nil, admin).Body.String(); strings.Contains(page, "Send test message") {
		t.Error("the settings page offers a test message it cannot send")
	}
	if rec := s.do("POST", fmt.Sprintf("/projects/%d/alerts/%d/test/", s.project.ID, b.ID), url.Values{}, admin); rec.Code != http.StatusBadRequest {
		t.Errorf("test without a sender: %d, want 400", rec.Code)
	}
}
