package store

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestAlertBackendValidation(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		b      AlertBackend
		errHas string // "" = valid
	}{
		{"slack", AlertBackend{Kind: "slack", Config: map[string]string{"webhook_url": "https://hooks.slack.com/services/T/B/X"}}, ""},
		{"mattermost with channel", AlertBackend{Kind: "mattermost", Config: map[string]string{"webhook_url": "http://10.0.0.2:8065/hooks/abc", "channel": "alerts"}}, ""},
		{"mattermost empty channel dropped", AlertBackend{Kind: "mattermost", Config: map[string]string{"webhook_url": "http://mm/hooks/abc", "channel": " "}}, ""},
		{"telegram", AlertBackend{Kind: "telegram", Config: map[string]string{"bot_token": "123456:AA-b_c", "chat_id": "-100123", "message_thread_id": "7"}}, ""},
		{"telegram channel", AlertBackend{Kind: "telegram", Config: map[string]string{"bot_token": "1:x", "chat_id": "@my_chan"}}, ""},
		{"unknown kind", AlertBackend{Kind: "teams", Config: map[string]string{}}, "kind must be one of"},
		{"missing url", AlertBackend{Kind: "discord", Config: map[string]string{}}, "config.webhook_url is required"},
		{"ftp url", AlertBackend{Kind: "webhook", Config: map[string]string{"webhook_url": "ftp://x/y"}}, "http:// or https://"},
		{"url with space", AlertBackend{Kind: "webhook", Config: map[string]string{"webhook_url": "http://x/a b"}}, "without spaces"},
		{"relative url", AlertBackend{Kind: "webhook", Config: map[string]string{"webhook_url": "/hook"}}, "http:// or https://"},
		{"unknown key", AlertBackend{Kind: "slack", Config: map[string]string{"webhook_url": "https://x/y", "channel": "c"}}, "config.channel is not a setting of slack"},
		{"bad token", AlertBackend{Kind: "telegram", Config: map[string]string{"bot_token": "abc/../x", "chat_id": "1"}}, "config.bot_token"},
		{"bad chat", AlertBackend{Kind: "telegram", Config: map[string]string{"bot_token": "1:x", "chat_id": "me"}}, "config.chat_id"},
		{"bad thread", AlertBackend{Kind: "telegram", Config: map[string]string{"bot_token": "1:x", "chat_id": "1", "message_thread_id": "-3"}}, "config.message_thread_id"},
		{"long name", AlertBackend{Kind: "slack", Name: strings.Repeat("n", 101), Config: map[string]string{"webhook_url": "https://x/y"}}, "at most 100"},
	} {
		err := ValidateAlertBackend(&tt.b)
		switch {
		case tt.errHas == "" && err != nil:
			t.Errorf("%s: ValidateAlertBackend = %v, want nil", tt.name, err)
		case tt.errHas != "" && (err == nil || !errors.Is(err, ErrInvalidBackend) || !strings.Contains(err.Error(), tt.errHas)):
			t.Errorf("%s: ValidateAlertBackend = %v, want ErrInvalidBackend with %q", tt.name, err, tt.errHas)
		}
		if err == nil && tt.b.Name == "" {
			t.Errorf("%s: name not defaulted", tt.name)
		}
	}
}

func TestAlertBackendCRUD(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir())
	p, err := db.CreateProject("App")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateAlertBackend(&AlertBackend{Project: 99, Kind: "slack", Config: map[string]string{"webhook_url": "https://x/y"}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("create for unknown project = %v, want ErrNotFound", err)
	}
	a := &AlertBackend{Project: p.ID, Kind: "slack", Name: " team ", Config: map[string]string{"webhook_url": "https://x/y"}}
	if err := db.CreateAlertBackend(a); err != nil {
		t.Fatal(err)
	}
	b := &AlertBackend{Project: p.ID, Kind: "discord", Config: map[string]string{"webhook_url": "https://d/z"}}
	if err := db.CreateAlertBackend(b); err != nil {
		t.Fatal(err)
	}
	if a.ID == 0 || b.ID == a.ID || a.Name != "team" || b.Name != "discord" {
		t.Fatalf("created %+v and %+v", a, b)
	}
	list, err := db.AlertBackends(p.ID)
	if err != nil || len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID {
		t.Fatalf("AlertBackends = %+v, %v", list, err)
	}
	if other, _ := db.AlertBackends(p.ID + 1); len(other) != 0 {
		t.Errorf("other project has %d backends", len(other))
	}

	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	if err := db.RecordBackendResult(a.ID, &Failure{At: at, Status: 500, Body: "oops"}, at); err != nil {
		t.Fatal(err)
	}
	upd := &AlertBackend{ID: a.ID, Project: 12345, Kind: "mattermost", Name: "mm", Config: map[string]string{"webhook_url": "https://m/h"}}
	if err := db.UpdateAlertBackend(upd); err != nil {
		t.Fatal(err)
	}
	got, err := db.AlertBackend(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Project != p.ID || got.Kind != "mattermost" || got.Name != "mm" || got.LastFailure == nil || got.LastFailure.Status != 500 {
		t.Errorf("after update: %+v", got)
	}
	if err := db.RecordBackendResult(a.ID, nil, at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.AlertBackend(a.ID); got.LastFailure != nil || !got.LastSuccess.Equal(at.Add(time.Minute)) {
		t.Errorf("after success: %+v", got)
	}
	if err := db.UpdateAlertBackend(&AlertBackend{ID: 999, Kind: "slack", Config: map[string]string{"webhook_url": "https://x/y"}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("update unknown = %v", err)
	}
	if err := db.UpdateAlertBackend(&AlertBackend{ID: a.ID, Kind: "slack"}); !errors.Is(err, ErrInvalidBackend) {
		t.Errorf("invalid update = %v", err)
	}
	if err := db.DeleteAlertBackend(a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AlertBackend(a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted backend: %v", err)
	}
	if err := db.DeleteAlertBackend(a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete = %v", err)
	}
}

func TestAlertRecipients(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir())
	p, _ := db.CreateProject("App")
	q, _ := db.CreateProject("Other")
	for _, u := range []struct {
		name  string
		admin bool
	}{{"admin", true}, {"ann@example.org", false}, {"bob@example.org", false}, {"carl@example.org", false}, {"dave", false}} {
		if _, err := db.CreateUser(u.name, "password1", u.admin); err != nil {
			t.Fatal(err)
		}
	}
	db.SetUserProjects("ann@example.org", []int{p.ID})
	db.SetUserProjects("bob@example.org", []int{p.ID})
	db.SetUserProjects("carl@example.org", []int{q.ID})
	db.SetUserProjects("dave", []int{p.ID})
	if err := db.SetAlertAddress("admin", "root@example.org"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetAlertAddress("dave", "not an address"); err == nil {
		t.Error("SetAlertAddress accepted a bad address")
	}
	if err := db.SetEmailAlerts("bob@example.org", p.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := db.SetEmailAlerts("nobody", p.ID, false); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetEmailAlerts(unknown user) = %v", err)
	}
	got, err := db.AlertRecipients(p.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []Recipient{{"admin", "root@example.org"}, {"ann@example.org", "ann@example.org"}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("AlertRecipients = %+v, want %+v", got, want)
	}
	if on, _ := db.EmailAlerts("bob@example.org", p.ID); on {
		t.Error("bob still on")
	}
	db.SetEmailAlerts("bob@example.org", p.ID, true)
	db.SetUserActive("ann@example.org", false)
	db.SetAlertAddress("admin", "")
	got, _ = db.AlertRecipients(p.ID)
	if len(got) != 1 || got[0].User != "bob@example.org" {
		t.Errorf("AlertRecipients after changes = %+v", got)
	}
}
