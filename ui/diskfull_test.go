package ui

import (
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
)

// A write that fails for want of disk space answers 507 with a clear
// message, as JSON from the API and as the error page from the UI, not a
// 500 that hides why.
func TestDiskFullWritesAnswer507(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	full := fmt.Errorf("save session: %w", &fs.PathError{Op: "write", Path: "store.db", Err: syscall.ENOSPC})

	api := NewAPI(s.db, "http://127.0.0.1:8000", slog.New(slog.DiscardHandler))
	rec := httptest.NewRecorder()
	api.wrap(func(w http.ResponseWriter, r *http.Request) error { return full }).
		ServeHTTP(rec, httptest.NewRequest("POST", "/api/canonical/0/projects/", nil))
	if rec.Code != http.StatusInsufficientStorage || !strings.Contains(rec.Body.String(), "disk is full") {
		t.Errorf("API: %d %s, want 507 naming the full disk", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("API Content-Type = %q", ct)
	}

	rec = httptest.NewRecorder()
	s.ui.writeError(rec, httptest.NewRequest("POST", "/login/", nil), full)
	if rec.Code != http.StatusInsufficientStorage || !strings.Contains(rec.Body.String(), "disk is full") {
		t.Errorf("UI: %d, want 507 with a page naming the full disk:\n%s", rec.Code, rec.Body)
	}
}
