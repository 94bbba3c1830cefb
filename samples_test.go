package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"
	"github.com/tinysink/tinysink/store"
	"github.com/tinysink/tinysink/ui"
)

// sampleGolden is the part of digest/event's golden summary this test uses.
type sampleGolden struct {
	Title       string `json:"title"`
	Type        string `json:"calculated_type"`
	GroupingKey string `json:"grouping_key"`
}

// Every sample event, sent once through /store/ and once inside an
// envelope, is stored exactly once per project and grouped by its golden
// grouping key.
func TestSamplesStoredAndGrouped(t *testing.T) {
	ts := startServer(t)
	storeP, err := ts.db.CreateProject("via store")
	if err != nil {
		t.Fatal(err)
	}
	envP, err := ts.db.CreateProject("via envelope")
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join("digest", "event", "testdata", "events")
	type sent struct {
		name, storeID, envID string
		golden               sampleGolden
	}
	var all []sent
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		var g sampleGolden
		gb, err := os.ReadFile(filepath.Join("digest", "event", "testdata", "golden", rel))
		if err != nil {
			return fmt.Errorf("golden for %s: %w", rel, err)
		}
		if err := json.Unmarshal(gb, &g); err != nil {
			return err
		}
		s := sent{name: rel, storeID: newID(), envID: newID(), golden: g}
		// /store/: the payload's own event_id, replaced so that samples
		// that share one (variants of one event) stay distinct.
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		m["event_id"], _ = json.Marshal(s.storeID)
		body, _ := json.Marshal(m)
		code, resp := post(t, fmt.Sprintf("%s/api/%d/store/?sentry_key=%s", ts.base, storeP.ID, storeP.Key), map[string]string{"Content-Type": "application/json"}, body)
		if code != 200 || !strings.Contains(resp, s.storeID) {
			t.Errorf("%s via /store/: %d %s", rel, code, resp)
		}
		// Envelope: the original bytes, with the event id in the header.
		env := fmt.Appendf(nil, "{\"event_id\":\"%s\"}\n{\"type\":\"event\",\"length\":%d}\n%s\n", s.envID, len(raw), raw)
		code, resp = post(t, fmt.Sprintf("%s/api/%d/envelope/", ts.base, envP.ID), map[string]string{
			"X-Sentry-Auth": "Sentry sentry_version=7, sentry_key=" + envP.Key,
		}, env)
		if code != 200 {
			t.Errorf("%s via envelope: %d %s", rel, code, resp)
		}
		all = append(all, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 150 {
		t.Fatalf("only %d samples found", len(all))
	}
	ts.drain(t)

	wantKeys := map[string]bool{}
	for _, s := range all {
		wantKeys[s.golden.GroupingKey] = true
	}
	for _, p := range []*store.Project{storeP, envP} {
		pr, _ := ts.db.Project(p.ID)
		if pr.StoredEventCount != int64(len(all)) || pr.DigestedEventCount != int64(len(all)) {
			t.Errorf("project %s: stored %d, digested %d; want %d", p.Slug, pr.StoredEventCount, pr.DigestedEventCount, len(all))
		}
		issues := ts.issues(t, p.ID)
		if len(issues) != len(wantKeys) {
			t.Errorf("project %s: %d issues, want %d (distinct golden grouping keys)", p.Slug, len(issues), len(wantKeys))
		}
	}
	// Each event is retrievable, and its issue's type matches the golden.
	for _, s := range all {
		for _, id := range []string{s.storeID, s.envID} {
			var ev struct {
				Issue string          `json:"issue"`
				Data  json.RawMessage `json:"data"`
			}
			if code := ts.apiGet(t, "/api/canonical/0/events/"+id+"/", &ev); code != 200 {
				t.Errorf("%s: event %s: %d", s.name, id, code)
				continue
			}
			var iss apiIssueT
			ts.apiGet(t, "/api/canonical/0/issues/"+ev.Issue+"/", &iss)
			if iss.CalculatedType != s.golden.Type {
				t.Errorf("%s: issue type %q, golden %q", s.name, iss.CalculatedType, s.golden.Type)
			}
			if !json.Valid(ev.Data) {
				t.Errorf("%s: stored data is not valid JSON", s.name)
			}
		}
	}
}

// wireRequest is a captured SDK request.
type wireRequest struct {
	Method  string              `json:"method"`
	Path    string              `json:"path"`
	Query   string              `json:"query"`
	Headers map[string][]string `json:"headers"`
	Kind    string              `json:"kind"`
	Items   []struct {
		Type string `json:"type"`
	} `json:"items"`
	EnvelopeHeader struct {
		EventID string `json:"event_id"`
	} `json:"envelope_header"`
}

// Every captured SDK request replayed byte for byte gets a 2xx; each event
// it carries is stored and grouped as the golden file says, and the other
// requests store nothing.
func TestSDKWireReplay(t *testing.T) {
	ts := startServer(t)
	// The captures were made against project 1 with key publickey123.
	if err := ts.db.SetProjectKey(1, "publickey123"); err != nil {
		t.Fatal(err)
	}
	metas, _ := filepath.Glob(filepath.Join("testdata", "sdk-wire", "*", "*.meta.json"))
	if len(metas) < 40 {
		t.Fatalf("found %d captures", len(metas))
	}
	type result struct {
		Label  string `json:"label"`
		Status int    `json:"status"`
		Events int    `json:"events"`
		Title  string `json:"title,omitempty"`
		Issue  string `json:"issue,omitempty"`
	}
	var results []result
	wantEvents := 0
	ids := map[string]string{} // label → event id
	for _, mp := range metas {
		label := strings.TrimSuffix(strings.TrimPrefix(mp, filepath.Join("testdata", "sdk-wire")+"/"), ".meta.json")
		var m wireRequest
		b, _ := os.ReadFile(mp)
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(m.Path, "/api/1/") {
			continue // sentry-cli's web API calls (releases, uploads)
		}
		raw, err := os.ReadFile(strings.TrimSuffix(mp, ".meta.json") + ".raw")
		if err != nil {
			t.Fatal(err)
		}
		u := ts.base + m.Path
		if m.Query != "" {
			u += "?" + m.Query
		}
		req, _ := http.NewRequest(m.Method, u, bytes.NewReader(raw))
		for k, vs := range m.Headers {
			if k == "Content-Length" {
				continue
			}
			for _, v := range vs {
				req.Header.Add(k, v)
			}
		}
		if _, chunked := m.Headers["Transfer-Encoding"]; chunked || m.Headers["Content-Length"] == nil {
			req.ContentLength = -1 // send chunked, as @sentry/node does
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Errorf("%s: %d %s", label, resp.StatusCode, body)
		}
		n := 0
		if m.Kind == "store" {
			n = 1
		}
		for _, it := range m.Items {
			if it.Type == "event" {
				n++
			}
		}
		wantEvents += n
		if n == 1 {
			var r struct {
				ID string `json:"id"`
			}
			json.Unmarshal(body, &r)
			ids[label] = r.ID
		}
		results = append(results, result{Label: label, Status: resp.StatusCode, Events: n})
	}
	ts.drain(t)
	pr, _ := ts.db.Project(1)
	if pr.StoredEventCount != int64(wantEvents) {
		t.Errorf("stored %d events, want %d", pr.StoredEventCount, wantEvents)
	}
	for i := range results {
		id := ids[results[i].Label]
		if id == "" {
			continue
		}
		var ev struct {
			Issue string `json:"issue"`
		}
		if code := ts.apiGet(t, "/api/canonical/0/events/"+id+"/", &ev); code != 200 {
			t.Errorf("%s: event %s not stored (%d)", results[i].Label, id, code)
			continue
		}
		iss, err := ts.db.IssueByRef(ev.Issue)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := ts.db.Project(iss.ProjectID)
		results[i].Issue = store.FriendlyID(p, iss)
		results[i].Title = iss.Title()
	}
	sort.Slice(results, func(i, j int) bool { return results[i].Label < results[j].Label })
	checkWireHealth(t, ts)
	got, _ := json.MarshalIndent(results, "", "  ")
	got = append(got, '\n')
	golden := filepath.Join("testdata", "sdk-wire.golden.json")
	if *update {
		os.WriteFile(golden, got, 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden (run with -update): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("results differ from %s (run with -update and review):\n%s", golden, got)
	}
}

type dbError struct{ host string }

func (e *dbError) Error() string { return "database down: host " + e.host }

// A real sentry-go client reports to tinysink; its events are stored and
// grouped (values differing only in an IP address share an issue).
func TestSentryGoClient(t *testing.T) {
	ts := startServer(t)
	p, err := ts.db.Project(1)
	if err != nil {
		t.Fatal(err)
	}
	client, err := sentry.NewClient(sentry.ClientOptions{
		Dsn: ui.DSN(ts.base, p), Release: "myapp@1.2.3", Environment: "test",
		Transport: sentry.NewHTTPSyncTransport(),
	})
	if err != nil {
		t.Fatal(err)
	}
	hub := sentry.NewHub(client, sentry.NewScope())
	for i := range 3 {
		hub.CaptureException(&dbError{host: fmt.Sprintf("10.0.0.%d", i+1)})
	}
	hub.CaptureMessage("cache warmed")
	hub.WithScope(func(scope *sentry.Scope) {
		scope.SetTag("tenant", "acme")
		hub.CaptureException(fmt.Errorf("payment failed"))
	})
	if !client.Flush(10 * time.Second) {
		t.Fatal("sentry-go did not flush")
	}
	ts.drain(t)
	issues := ts.issues(t, 1)
	byTitle := map[string]apiIssueT{}
	for _, iss := range issues {
		byTitle[iss.Title] = iss
	}
	if len(issues) != 3 {
		t.Fatalf("%d issues, want 3: %+v", len(issues), issues)
	}
	db, ok := byTitle["*main.dbError: database down: host 10.0.0.3"]
	if !ok || db.DigestedEventCount != 3 || db.StoredEventCount != 3 {
		t.Errorf("database issue = %+v (titles: %v)", db, keys(byTitle))
	}
	if iss, ok := byTitle["cache warmed"]; !ok || iss.CalculatedType != "Log Message" {
		t.Errorf("message issue missing or wrong: %+v", iss)
	}
	pay, ok := byTitle["*errors.errorString: payment failed"]
	if !ok {
		t.Fatalf("payment issue missing: %v", keys(byTitle))
	}
	rels, _ := ts.db.Releases(1)
	if len(rels) != 1 || rels[0].Version != "myapp@1.2.3" {
		t.Errorf("releases = %+v", rels)
	}
	ref, _ := ts.db.IssueByRef(pay.ID)
	tags, _ := ts.db.IssueTags(ref.ID)
	found := false
	for _, tg := range tags {
		found = found || tg.Key == "tenant" && tg.Value == "acme" && tg.Count == 1
	}
	if !found {
		t.Errorf("tag tenant=acme not counted: %+v", tags)
	}
}
