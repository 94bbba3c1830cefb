package ui

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tinysink/tinysink/store"
)

// quarantineOne sets a payload aside the way digest does and returns the
// entry.
func quarantineOne(t *testing.T, db *store.DB, pid int, raw string) *store.QuarantineEntry {
	t.Helper()
	e := &store.QuarantineEntry{Project: pid, EventID: fmt.Sprintf("%032x", len(raw)), IngestedAt: time.Now(),
		Error: "digest: panic: <script>alert(1)</script>", Stack: "goroutine 7 [running]:\nmain.f()"}
	if err := db.QuarantineAdd(e, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestQuarantinePage(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	e := quarantineOne(t, s.db, s.project.ID, `{"poison":true}`)
	admin := s.login(t, "admin")

	rec := s.do("GET", "/quarantine/", nil, admin)
	checkPage(t, "/quarantine/", rec.Code, rec.Body.String())
	body := rec.Body.String()
	for _, want := range []string{e.EventID, "Shop", `href="/quarantine/` + e.ID + `/raw"`, `action="/quarantine/` + e.ID + `/delete/"`,
		"&lt;script&gt;", "goroutine 7", `href="/quarantine/" aria-current="page"`} {
		if !strings.Contains(body, want) {
			t.Errorf("quarantine page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script>alert") {
		t.Error("the error text is not escaped")
	}

	rec = s.do("GET", "/quarantine/"+e.ID+"/raw", nil, admin)
	if rec.Code != http.StatusOK || rec.Body.String() != `{"poison":true}` || rec.Header().Get("Content-Type") != "application/octet-stream" {
		t.Errorf("download: %d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
	}

	user := s.login(t, "user")
	for _, req := range [][2]string{{"GET", "/quarantine/"}, {"GET", "/quarantine/" + e.ID + "/raw"}, {"POST", "/quarantine/" + e.ID + "/delete/"}} {
		if rec := s.do(req[0], req[1], nil, user); rec.Code != http.StatusForbidden {
			t.Errorf("%s %s as a plain user: %d, want 403", req[0], req[1], rec.Code)
		}
	}
	if rec := s.do("POST", "/quarantine/"+e.ID+"/delete/", nil, admin, "Sec-Fetch-Site", "cross-site"); rec.Code != http.StatusForbidden {
		t.Errorf("cross-site delete: %d, want 403", rec.Code)
	}

	rec = s.do("POST", "/quarantine/"+e.ID+"/delete/", nil, admin)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("delete: %d", rec.Code)
	}
	rec = s.do("GET", "/quarantine/?deleted", nil, admin)
	checkPage(t, "/quarantine/?deleted", rec.Code, rec.Body.String())
	if !strings.Contains(rec.Body.String(), "Nothing is quarantined.") {
		t.Error("the entry is still listed after delete")
	}
	if rec := s.do("GET", "/quarantine/"+e.ID+"/raw", nil, admin); rec.Code != http.StatusNotFound {
		t.Errorf("download after delete: %d, want 404", rec.Code)
	}
}

func TestAPIQuarantine(t *testing.T) {
	t.Parallel()
	srv, db, tok := apiServer(t)
	var ids []string
	for i := range 3 {
		ids = append(ids, quarantineOne(t, db, 1, strings.Repeat("x", i+1)).ID)
	}
	if code, _ := call(t, srv, "", "GET", "/api/canonical/0/quarantine/", ""); code != http.StatusUnauthorized {
		t.Errorf("list without a token: %d", code)
	}
	code, m := call(t, srv, tok, "GET", "/api/canonical/0/quarantine/", "")
	res, _ := m["results"].([]any)
	if code != http.StatusOK || len(res) != 3 {
		t.Fatalf("list: %d, %v", code, m)
	}
	if first := res[0].(map[string]any); first["id"] != ids[2] || first["project"] != 1.0 || first["size"] != 3.0 {
		t.Errorf("newest entry = %v, want %s", first, ids[2])
	}

	req, _ := http.NewRequest("GET", srv.URL+"/api/canonical/0/quarantine/"+ids[1]+"/raw", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != "xx" || resp.Header.Get("Content-Type") != "application/octet-stream" ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("raw: %d %q %v", resp.StatusCode, b, resp.Header)
	}

	if code, _ := call(t, srv, tok, "DELETE", "/api/canonical/0/quarantine/"+ids[1]+"/", ""); code != http.StatusNoContent {
		t.Errorf("delete: %d", code)
	}
	for _, path := range []string{"/api/canonical/0/quarantine/" + ids[1] + "/raw", "/api/canonical/0/quarantine/..%2fstore.db/raw"} {
		if code, _ := call(t, srv, tok, "GET", path, ""); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, code)
		}
	}
	if code, _ := call(t, srv, tok, "DELETE", "/api/canonical/0/quarantine/"+ids[1]+"/", ""); code != http.StatusNotFound {
		t.Errorf("second delete: %d, want 404", code)
	}
	if _, m := call(t, srv, tok, "GET", "/api/canonical/0/quarantine/", ""); len(m["results"].([]any)) != 2 {
		t.Errorf("after delete: %v", m)
	}
}
