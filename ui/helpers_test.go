package ui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinysink/tinysink/alerts"
	"github.com/tinysink/tinysink/digest/event"
	"github.com/tinysink/tinysink/digest/rawevent"
	"github.com/tinysink/tinysink/store"
)

// testServer is a UI over a fresh store with an admin ("admin") and a
// plain user ("user"), both with the password testPassword.
type testServer struct {
	t       *testing.T
	db      *store.DB
	ui      *UI
	mux     *http.ServeMux
	project *store.Project
	norm    *event.Normalizer
	now     time.Time
	// problems is what Config.Problems reports.
	problems []string
	// mails records what Config.SendMail sent.
	mailMu sync.Mutex
	mails  []sentMail
}

// sentMail is one email the UI sent through Config.SendMail.
type sentMail struct{ to, subject, body string }

// sent returns the emails sent so far.
func (s *testServer) sent() []sentMail {
	s.mailMu.Lock()
	defer s.mailMu.Unlock()
	return slices.Clone(s.mails)
}

const testPassword = "password123"

// testQuotaDefaults are the installation's per-project limits the test
// server shows.
var testQuotaDefaults = store.QuotaLimits{FiveMin: 1000, Hour: 5000, Month: 1000000}

func newTestServer(t testing.TB) *testServer {
	t.Helper()
	db, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	for _, u := range []struct {
		name  string
		admin bool
	}{{"admin", true}, {"user", false}} {
		if _, err := db.CreateUser(u.name, testPassword, u.admin); err != nil {
			t.Fatal(err)
		}
	}
	p, err := db.CreateProject("Shop")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{db: db, project: p, norm: event.NewNormalizer(), now: time.Now()}
	if tt, ok := t.(*testing.T); ok {
		s.t = tt
	}
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	// The real alert sender, unstarted: only its SendTest is used.
	sender := alerts.New(alerts.Config{DB: db, BaseURL: "http://127.0.0.1:8000", Log: log})
	s.ui = New(Config{
		DB: db, BaseURL: "http://127.0.0.1:8000", Log: log, SendTest: sender.SendTest,
		QuotaDefaults: &testQuotaDefaults, Status: func() any { return map[string]int{"spool_backlog": 7} },
		Problems: func() []string { return s.problems },
		SendMail: func(_ context.Context, to, subject, body string) error {
			s.mailMu.Lock()
			defer s.mailMu.Unlock()
			s.mails = append(s.mails, sentMail{to, subject, body})
			return nil
		},
	})
	s.mux = http.NewServeMux()
	s.ui.Register(s.mux)
	return s
}

// ingest digests raw event JSON into project pid the way the digest worker
// does: normalise, group, store the body, count hours and tags.
func (s *testServer) ingest(tb testing.TB, pid int, raws ...[]byte) {
	tb.Helper()
	err := s.db.Digest(func(tx *store.Tx) error {
		p, err := tx.Project(pid)
		if err != nil {
			return err
		}
		for _, raw := range raws {
			at := s.now
			ev, body, err := s.norm.Normalize(raw, event.Meta{IngestedAt: at, RemoteAddr: "192.0.2.1"})
			if err != nil {
				return err
			}
			id, ok := rawevent.ParseID(ev.EventID)
			if !ok {
				return fmt.Errorf("bad event id %q", ev.EventID)
			}
			if tx.HasEvent(pid, id) {
				continue
			}
			p.DigestedEventCount++
			hash := event.GroupingHash(ev.GroupingKey)
			iss, err := tx.IssueForGrouping(pid, hash)
			if errors.Is(err, store.ErrNotFound) {
				iss = &store.Issue{FirstSeen: at, Transaction: ev.Transaction, LastFrameFilename: ev.LastFrameFilename,
					LastFrameModule: ev.LastFrameModule, LastFrameFunction: ev.LastFrameFunction}
				if err := tx.CreateIssue(p, iss, hash, ev.GroupingKey, ev.GroupingMechanism); err != nil {
					return err
				}
			} else if err != nil {
				return err
			}
			iss.LastSeen = at
			iss.DigestedEventCount++
			iss.CalculatedType, iss.CalculatedValue = ev.CalculatedType, ev.CalculatedValue
			iss.Level, iss.Platform = ev.Level, ev.Platform
			iss.Environment, iss.Release = ev.Environment, ev.Release
			iss.LastFramePackage = ev.LastFramePackage
			if ev.Release != "" {
				if _, err := tx.EnsureRelease(pid, ev.Release, at, nil); err != nil {
					return err
				}
				if !slices.Contains(iss.EventsAt, ev.Release) {
					iss.EventsAt = append(iss.EventsAt, ev.Release)
				}
			}
			if err := tx.AddEvent(p, iss, &store.NewEvent{EventID: id, Ingested: at, Timestamp: ev.Timestamp, Body: body}); err != nil {
				return err
			}
			for _, subj := range []string{store.IssueSubject(iss.ID), store.ProjectSubject(pid), store.InstallSubject} {
				if err := tx.CountHour(subj, at, 1); err != nil {
					return err
				}
			}
			for _, tag := range ev.Tags {
				if !event.CountedTag(tag.Key) {
					continue // digest does not count these per issue
				}
				if err := tx.CountTag(iss, tag.Key, tag.Value); err != nil {
					return err
				}
			}
			// The search index, as digest fills it.
			var ierr error
			ev.SearchFields(true, func(k, v string) {
				if ierr == nil {
					ierr = tx.IndexTag(iss, k, v)
				}
			}, func(text string) {
				if ierr == nil {
					ierr = tx.IndexText(iss, text)
				}
			})
			if ierr != nil {
				return ierr
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("ingest: %v", err)
	}
}

// corpus returns the sample events shipped with digest/event.
func corpus(t testing.TB) map[string][]byte {
	t.Helper()
	dir := filepath.Join("..", "digest", "event", "testdata", "events")
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".json") {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[strings.TrimPrefix(p, dir+string(filepath.Separator))] = b
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read corpus: %v", err)
	}
	if len(out) < 100 {
		t.Fatalf("corpus has %d events, want the full sample set", len(out))
	}
	return out
}

// login returns a session cookie for user.
func (s *testServer) login(tb testing.TB, user string) *http.Cookie {
	tb.Helper()
	form := url.Values{"name": {user}, "password": {testPassword}}
	rec := s.do("POST", "/accounts/login/", form, nil)
	if rec.Code != http.StatusSeeOther {
		tb.Fatalf("login %s: status %d: %s", user, rec.Code, rec.Body.String())
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == sessionCookie {
			return c
		}
	}
	tb.Fatalf("login %s: no session cookie", user)
	return nil
}

// do sends a request through the mux; a form makes it a form post.
func (s *testServer) do(method, target string, form url.Values, cookie *http.Cookie, hdr ...string) *httptest.ResponseRecorder {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	// A browser never sends the fragment of a URL it follows.
	target, _, _ = strings.Cut(target, "#")
	r := httptest.NewRequest(method, target, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != nil {
		r.AddCookie(cookie)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	s.mux.ServeHTTP(rec, r)
	return rec
}

// issues returns the project's issues.
func (s *testServer) issues(tb testing.TB, pid int) []store.Issue {
	tb.Helper()
	all, _, err := s.db.Issues(store.IssueFilter{Project: pid, Limit: 100000})
	if err != nil {
		tb.Fatal(err)
	}
	return all
}
