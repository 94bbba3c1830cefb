package ui

import (
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tinysink/tinysink/store"
)

var (
	shownRE = regexp.MustCompile(`name="shown" value="([0-9,]*)"`)
	nextRE  = regexp.MustCompile(`<a href="([^"]*)">Next page →</a>`)
)

// TestAllIssuesPagesByCursor follows the Next links of the list across
// projects to its end: every issue the user can see comes once, in the
// list's order (ties of last seen and of event count included), with and
// without a search, and a page far past the old limit of 50 pages is
// reached by its cursor alone.
func TestAllIssuesPagesByCursor(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	admin := s.login(t, "admin")
	pids := []int{s.project.ID}
	for _, name := range []string{"Two", "Three"} {
		p, err := s.db.CreateProject(name)
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, p.ID)
	}
	base := time.Now().Add(-time.Hour)
	n := 0
	for batch := range 27 {
		s.now = base.Add(time.Duration(batch) * time.Minute)
		var raws [][]byte
		for range 10 {
			n++
			level := []string{"error", "warning"}[n%2]
			raws = append(raws, fmt.Appendf(nil, `{"event_id":"%032x","level":%q,"message":"failure %d","fingerprint":["f%d"]}`, n, level, n, n))
		}
		s.ingest(t, pids[batch%3], raws...)
	}
	var all []store.Issue
	for _, pid := range pids {
		all = append(all, s.issues(t, pid)...)
	}
	for _, tt := range []struct{ query, sort, q string }{
		{"tab=all", "last_seen", ""},
		{"tab=all&sort=events", "events", ""},
		{"tab=all&q=" + "level%3Awarning", "last_seen", "level:warning"},
	} {
		var want []uint32
		for _, iss := range all {
			if tt.q == "" || iss.Level == "warning" {
				want = append(want, iss.ID)
			}
		}
		byID := map[uint32]store.Issue{}
		for _, iss := range all {
			byID[iss.ID] = iss
		}
		key := func(id uint32) int64 {
			if tt.sort == "events" {
				return byID[id].DigestedEventCount
			}
			return byID[id].LastSeen.UnixMilli()
		}
		slices.SortFunc(want, func(a, b uint32) int {
			if ka, kb := key(a), key(b); ka != kb {
				return int(kb - ka)
			}
			return int(b) - int(a)
		})
		var got []uint32
		target := "/issues/?" + tt.query
		pages := 0
		for target != "" {
			if pages++; pages > 10 {
				t.Fatalf("%s: the pages do not end", tt.query)
			}
			rec := s.do("GET", target, nil, admin)
			if rec.Code != 200 {
				t.Fatalf("%s: %d", target, rec.Code)
			}
			body := rec.Body.String()
			m := shownRE.FindStringSubmatch(body)
			if m == nil {
				t.Fatalf("%s: no shown issues", target)
			}
			for _, f := range strings.Split(m[1], ",") {
				if id, err := strconv.Atoi(f); err == nil {
					got = append(got, uint32(id))
				}
			}
			target = ""
			if m := nextRE.FindStringSubmatch(body); m != nil {
				target = html.UnescapeString(m[1])
				if pages > 1 && !strings.Contains(body, "First page") {
					t.Errorf("%s: no link to the first page", target)
				}
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: %d issues over %d pages, want %d in order\n got  %v\n want %v", tt.query, len(got), pages, len(want), got, want)
		}
	}
	// Page 60 is only a label: its cursor says where it starts.
	last := all[0]
	for _, iss := range all {
		if iss.LastSeen.Before(last.LastSeen) || iss.LastSeen.Equal(last.LastSeen) && iss.ID < last.ID {
			last = iss
		}
	}
	rec := s.do("GET", "/issues/?tab=all&page=60&cursor="+store.PositionCursor(&last, store.SortLastSeen), nil, admin)
	if m := shownRE.FindStringSubmatch(rec.Body.String()); rec.Code != 200 || m != nil && m[1] != "" {
		t.Errorf("past the last issue: %d %v", rec.Code, m)
	}
}

// TestAPIIssueListPagesByCursor follows the API list's next links: the
// cursor is the search's own, and every issue comes once, in order.
func TestAPIIssueListPagesByCursor(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	base := time.Now().Add(-time.Hour)
	for batch := range 30 {
		s.now = base.Add(time.Duration(batch) * time.Minute)
		var raws [][]byte
		for i := range 10 {
			n := batch*10 + i
			raws = append(raws, fmt.Appendf(nil, `{"event_id":"%032x","message":"failure %d","fingerprint":["f%d"]}`, n+1, n, n))
		}
		s.ingest(t, s.project.ID, raws...)
	}
	api := NewAPI(s.db, "http://127.0.0.1", nil)
	mux := http.NewServeMux()
	api.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tok, err := s.db.CreateToken()
	if err != nil {
		t.Fatal(err)
	}
	all := s.issues(t, s.project.ID)
	slices.SortFunc(all, func(a, b store.Issue) int {
		if c := b.LastSeen.Compare(a.LastSeen); c != 0 {
			return c
		}
		return int(b.ID) - int(a.ID)
	})
	var want, got []string
	for _, iss := range all {
		want = append(want, strconv.Itoa(int(iss.ID)))
	}
	path := fmt.Sprintf("/api/canonical/0/issues/?project=%d&sort=last_seen&order=desc&query=failure", s.project.ID)
	for pages := 0; path != ""; pages++ {
		if pages > 5 {
			t.Fatal("the pages do not end")
		}
		code, body := call(t, srv, tok, "GET", path, "")
		if code != http.StatusOK {
			t.Fatalf("%s: %d %v", path, code, body)
		}
		res, _ := body["results"].([]any)
		for _, r := range res {
			got = append(got, r.(map[string]any)["id"].(string))
		}
		path = ""
		if next, ok := body["next"].(string); ok {
			path = strings.TrimPrefix(next, "http://127.0.0.1")
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("%d issues, want %d in order\n got  %v\n want %v", len(got), len(want), got, want)
	}
}
