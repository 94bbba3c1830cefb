package ui

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/tinysink/tinysink/store"
)

// fillIssues creates n issues in project pid directly through the store's
// batch API, with spread-out last-seen times and event counts, a third of
// them resolved.
func fillIssues(tb testing.TB, db *store.DB, pid, n int) {
	tb.Helper()
	r := rand.New(rand.NewPCG(7, 8))
	base := time.Now().Add(-24 * time.Hour)
	var resolve []uint32
	for done := 0; done < n; {
		err := db.Digest(func(tx *store.Tx) error {
			p, err := tx.Project(pid)
			if err != nil {
				return err
			}
			for i := 0; i < 1000 && done < n; i++ {
				h := fmt.Sprintf("bench-%d", done)
				iss := &store.Issue{CalculatedType: "ValueError", CalculatedValue: "bad value " + strconv.Itoa(done),
					FirstSeen: base, LastSeen: base.Add(time.Duration(r.IntN(86400)) * time.Second),
					DigestedEventCount: int64(1 + r.IntN(1000)), Level: "error", Platform: "python"}
				if err := tx.CreateIssue(p, iss, h, h, "bench"); err != nil {
					return err
				}
				if done%3 == 0 {
					resolve = append(resolve, iss.ID)
				}
				done++
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	for len(resolve) > 0 {
		k := min(len(resolve), 1000)
		if _, err := db.ApplyActions(resolve[:k], store.ActionResolve, "bench"); err != nil {
			tb.Fatal(err)
		}
		resolve = resolve[k:]
	}
}

// BenchmarkIssueList serves the first page of the issue list (UI: open
// tab by last seen; API: by last seen, newest first) at 100 and at 100,000
// issues. The bar is p99 ≤ 20 ms at 100,000, about what it is at 100.
func BenchmarkIssueList(b *testing.B) {
	for _, n := range []int{100, 100000} {
		s := newTestServer(b)
		fillIssues(b, s.db, s.project.ID, n)
		admin := s.login(b, "admin")
		api := http.NewServeMux()
		NewAPI(s.db, "http://127.0.0.1", nil).Register(api)
		tok, _ := s.db.CreateToken()
		for _, c := range []struct {
			name string
			do   func() int
		}{
			{"ui", func() int {
				return s.do("GET", fmt.Sprintf("/projects/%d/", s.project.ID), nil, admin).Code
			}},
			{"ui-mine", func() int {
				return s.do("GET", fmt.Sprintf("/projects/%d/?mine=1", s.project.ID), nil, admin).Code
			}},
			{"ui-all-projects", func() int {
				return s.do("GET", "/issues/", nil, admin).Code
			}},
			{"ui-events-resolved-page3", func() int {
				return s.do("GET", fmt.Sprintf("/projects/%d/?tab=resolved&sort=events&page=3", s.project.ID), nil, admin).Code
			}},
			{"api", func() int {
				r := httptest.NewRequest("GET", fmt.Sprintf("/api/canonical/0/issues/?project=%d&sort=last_seen&order=desc", s.project.ID), nil)
				r.Header.Set("Authorization", "Bearer "+tok)
				rec := httptest.NewRecorder()
				api.ServeHTTP(rec, r)
				return rec.Code
			}},
		} {
			b.Run(fmt.Sprintf("%s/issues=%d", c.name, n), func(b *testing.B) {
				var lat []time.Duration
				for b.Loop() {
					t0 := time.Now()
					if code := c.do(); code != http.StatusOK {
						b.Fatalf("status %d", code)
					}
					lat = append(lat, time.Since(t0))
				}
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			})
		}
	}
}

// TestRenderBufferSized: a page rendered before is rendered into a buffer
// allocated once at about its size (an eighth more), rather than one
// doubled up to it from 64 bytes; a huge page does not make the next
// rendering start huge.
func TestRenderBufferSized(t *testing.T) {
	s := newTestServer(t)
	fillIssues(t, s.db, s.project.ID, 100)
	admin := s.login(t, "admin")
	rec := s.do("GET", fmt.Sprintf("/projects/%d/", s.project.ID), nil, admin)
	if rec.Code != http.StatusOK || rec.Body.Len() < 32<<10 {
		t.Fatalf("status %d, %d bytes", rec.Code, rec.Body.Len())
	}
	ps := &s.ui.pageSizes
	ps.mu.Lock()
	got := ps.m["issues"]
	ps.mu.Unlock()
	if got != rec.Body.Len() {
		t.Errorf("the issue list's size noted as %d, its page has %d bytes", got, rec.Body.Len())
	}
	// What one allocation of a size rounds up to, as bytes.Buffer.Grow
	// allocates it.
	alloc := func(n int) int { return cap(append([]byte(nil), make([]byte, n)...)) }
	for _, c := range []struct{ n, want int }{
		{76800, alloc(76800 + 76800/8)}, // a doubling buffer would have 131,072
		{5 << 20, alloc(maxPageHint + maxPageHint/8)},
	} {
		var ps pageSizes
		ps.note("p", c.n)
		if b := ps.buffer("p"); b.Available() != c.want {
			t.Errorf("after a page of %d bytes: a buffer with room for %d, want %d", c.n, b.Available(), c.want)
		}
	}
}
