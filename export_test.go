package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tinysink/tinysink/digest/rawevent"
	"github.com/tinysink/tinysink/store"
	"github.com/tinysink/tinysink/store/attach"
)

// The whole way through the commands: real events into a running
// tinysink over HTTP, `tinysink export` from it while it runs (through
// its snapshot), `tinysink import` into an empty data directory, twice,
// and `tinysink import -forward` into a second running tinysink.
func TestExportImportForward(t *testing.T) {
	a := startServer(t, noQuota...)
	ps, _ := a.db.Projects()
	p := ps[0]
	url := fmt.Sprintf("%s/api/%d/store/", a.base, p.ID)
	hdr := map[string]string{"X-Sentry-Auth": "Sentry sentry_version=7, sentry_key=" + p.Key, "Content-Type": "application/json"}
	sent := 0
	filepath.WalkDir("digest/event/testdata/events", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || sent == 60 {
			return err
		}
		b, _ := os.ReadFile(path)
		if code, _ := post(t, url, hdr, b); code == 200 {
			sent++
		}
		return nil
	})
	// An event with a minidump and an attachment, and a minidump form post.
	atts := testAttachments(t)
	attID := newID()
	if code, body := post(t, fmt.Sprintf("%s/api/%d/envelope/?sentry_key=%s", a.base, p.ID, p.Key), nil, attachmentEnvelope(attID, "with attachments", atts)); code != 200 {
		t.Fatalf("envelope: %d %s", code, body)
	}
	ctype, form := minidumpForm(t, atts[0].data, map[string]string{"sentry[release]": "app@1.0"}, []byte("log line\n"))
	code, body := post(t, fmt.Sprintf("%s/api/%d/minidump/?sentry_key=%s", a.base, p.ID, p.Key), map[string]string{"Content-Type": ctype}, form)
	if code != 200 {
		t.Fatalf("minidump: %d %s", code, body)
	}
	formID := minidumpID(t, body)
	formAtts := []sentAttachment{
		{"crash.dmp", "application/octet-stream", attach.TypeMinidump, atts[0].data},
		{"app.log", "application/octet-stream", attach.TypeAttachment, []byte("log line\n")},
	}
	sent += 2
	// attachmentsKept checks both events' attachments in a data directory.
	attachmentsKept := func(dir, slug string) {
		t.Helper()
		db, err := store.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		q, err := db.ProjectBySlug(slug)
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		sameAttachments(t, dir, q.ID, attID, atts)
		sameAttachments(t, dir, q.ID, formID, formAtts)
	}
	a.drain(t)
	iss, _, err := a.db.Issues(store.IssueFilter{Project: p.ID})
	if err != nil || len(iss) < 5 {
		t.Fatalf("%d issues, %v", len(iss), err)
	}
	if _, err := a.db.ApplyAction(iss[0].ID, store.ResolveInRelease("2.0"), "ann", "fixed"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.db.ApplyAction(iss[1].ID, store.MuteUntil("day", 1, 50), "ann", ""); err != nil {
		t.Fatal(err)
	}
	if err := a.db.AddComment(iss[2].ID, "bob", "seen in staging too"); err != nil {
		t.Fatal(err)
	}

	dir := filepath.Join(t.TempDir(), "export")
	var out, errOut bytes.Buffer
	if code := run([]string{"export", dir, "-url", a.base, "-token", a.token, "-data", a.db.Dir()}, &out, &errOut); code != 0 {
		t.Fatalf("export: %d %s", code, errOut.String())
	}
	t.Log(strings.TrimSpace(out.String()))
	if m, _ := filepath.Glob(filepath.Join(a.db.Dir(), "export-snapshot-*")); len(m) != 0 {
		t.Errorf("the snapshot was left behind: %v", m)
	}

	// Import needs the data directory to itself.
	errOut.Reset()
	if code := run([]string{"import", dir, "-data", a.db.Dir()}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "in use by a running tinysink") {
		t.Errorf("import into a running server's directory: %d %s", code, errOut.String())
	}

	into := filepath.Join(t.TempDir(), "into")
	for round := range 2 {
		out.Reset()
		if code := run([]string{"import", dir, "-data", into}, &out, &errOut); code != 0 {
			t.Fatalf("import: %d %s", code, errOut.String())
		}
		t.Log(strings.TrimSpace(out.String()))
		if round == 1 && !strings.Contains(out.String(), "imported 0 events") {
			t.Errorf("second import: %s", out.String())
		}
	}
	attachmentsKept(into, p.Slug)
	db, err := store.Open(into)
	if err != nil {
		t.Fatal(err)
	}
	stored := sameEvents(t, a.db, p.ID, db, p.Slug, false)
	sameStates(t, a.db, p.ID, db, p.Slug)
	db.Close()
	if stored < sent-2 {
		t.Errorf("%d events compared, %d sent", stored, sent)
	}

	// As one stream: export - | import -.
	var stream bytes.Buffer
	errOut.Reset()
	if code := run([]string{"export", "-", "-url", a.base, "-token", a.token, "-data", a.db.Dir()}, &stream, &errOut); code != 0 {
		t.Fatalf("export -: %d %s", code, errOut.String())
	}
	into2 := filepath.Join(t.TempDir(), "into2")
	out.Reset()
	if err := cmdImport([]string{"-", "-data", into2}, &stream, &out, &errOut); err != nil {
		t.Fatalf("import -: %v", err)
	}
	attachmentsKept(into2, p.Slug)
	if db, err = store.Open(into2); err != nil {
		t.Fatal(err)
	}
	if n := sameEvents(t, a.db, p.ID, db, p.Slug, false); n != stored {
		t.Errorf("%d events through the stream, %d stored", n, stored)
	}
	sameStates(t, a.db, p.ID, db, p.Slug)
	db.Close()

	// Into a second running tinysink, over HTTP.
	b := startServer(t, noQuota...)
	bps, _ := b.db.Projects()
	dsn := strings.Replace(b.base, "://", "://"+bps[0].Key+"@", 1) + fmt.Sprintf("/%d", bps[0].ID)
	out.Reset()
	if code := run([]string{"import", "-forward", dsn, dir}, &out, &errOut); code != 0 {
		t.Fatalf("import -forward: %d %s", code, errOut.String())
	}
	t.Log(strings.TrimSpace(out.String()))
	b.drain(t)
	sameAttachments(t, b.db.Dir(), bps[0].ID, attID, atts)
	sameAttachments(t, b.db.Dir(), bps[0].ID, formID, formAtts)
	if n := sameEvents(t, a.db, p.ID, b.db, bps[0].Slug, true, attID, formID); n != stored {
		t.Errorf("%d events forwarded, %d stored", n, stored)
	}
}

var receivedField = regexp.MustCompile(`"received":[0-9.]+,?`)

// sameEvents compares every event of project pid of a with the same event
// in b's project slug, byte for byte (but for "received" when the events
// went through ingest again), and returns how many it compared.
func sameEvents(t *testing.T, a *store.DB, pid int, b *store.DB, slug string, reingested bool, processedAgain ...string) int {
	t.Helper()
	bp, err := b.ProjectBySlug(slug)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for from := uint32(0); ; {
		evs, next, err := a.EventsFrom(pid, from, 100)
		if err != nil {
			t.Fatal(err)
		}
		for i := range evs {
			want, _ := a.EventBody(&evs[i])
			id, _ := rawevent.ParseID(evs[i].ID)
			_, got, err := b.ProjectEvent(bp.ID, id)
			if err != nil {
				t.Errorf("event %s: %v", evs[i].ID, err)
				continue
			}
			if reingested {
				got, want = receivedField.ReplaceAll(got, nil), receivedField.ReplaceAll(want, nil)
			}
			if slices.Contains(processedAgain, evs[i].ID) {
				// A minidump that went through ingest again is processed
				// again: the same content, in another order.
				n++
				continue
			}
			if !bytes.Equal(got, want) {
				at := 0
				for at < len(got) && at < len(want) && got[at] == want[at] {
					at++
				}
				t.Errorf("event %s differs at byte %d:\n got %.300s\nwant %.300s", evs[i].ID, at, got[max(0, at-100):], want[max(0, at-100):])
			}
			n++
		}
		if next == 0 {
			return n
		}
		from = next
	}
}

// sameStates compares every issue's state and history.
func sameStates(t *testing.T, a *store.DB, pid int, b *store.DB, slug string) {
	t.Helper()
	bp, _ := b.ProjectBySlug(slug)
	ais, _ := a.IssuesAfter(pid, 0, 1<<20)
	bis, _ := b.IssuesAfter(bp.ID, 0, 1<<20)
	if len(ais) != len(bis) {
		t.Fatalf("%d issues, want %d", len(bis), len(ais))
	}
	for i := range ais {
		aj, _ := json.Marshal(ais[i].Exported())
		bj, _ := json.Marshal(bis[i].Exported())
		ah, _ := a.History(ais[i].ID)
		bh, _ := b.History(bis[i].ID)
		ahj, _ := json.Marshal(ah)
		bhj, _ := json.Marshal(bh)
		if string(aj) != string(bj) || string(ahj) != string(bhj) || ais[i].Title() != bis[i].Title() {
			t.Errorf("issue %d:\n got %s %s\nwant %s %s", ais[i].DigestOrder, bj, bhj, aj, ahj)
		}
	}
}
