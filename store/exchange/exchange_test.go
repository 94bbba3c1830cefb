package exchange

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tinysink/tinysink/digest"
	"github.com/tinysink/tinysink/ingest/spool"
	"github.com/tinysink/tinysink/store"
)

// samples are the real events of digest/event's corpus.
const samples = "../../digest/event/testdata/events"

// sampleEvents returns the corpus's events, in a fixed order.
func sampleEvents(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	err := filepath.WalkDir(samples, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		b, err := os.ReadFile(p)
		out = append(out, b)
		return err
	})
	if err != nil || len(out) < 50 {
		t.Fatalf("read %s: %d events, %v", samples, len(out), err)
	}
	return out
}

func openStore(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// populate fills a new installation the way a server does: every sample
// through the spool and the digest worker (normalised and scrubbed), into
// two projects, some twice so that issues have several events; then
// releases, deploys and every kind of issue state and a comment.
func populate(t *testing.T) *store.DB {
	t.Helper()
	db := openStore(t)
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	var pids []int
	for _, name := range []string{"Web Shop", "backend"} {
		p, err := db.CreateProject(name)
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, p.ID)
	}
	if _, _, err := db.CreateRelease(pids[0], "1.0.0", now.Add(-48*time.Hour), digest.ReleaseEpoch); err != nil {
		t.Fatal(err)
	}
	if err := db.AddDeploy(&store.Deploy{Project: pids[0], Version: "1.0.0", Environment: "production", DateFinished: now.Add(-47 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := db.FinalizeRelease(pids[0], "1.0.0", now.Add(-47*time.Hour)); err != nil {
		t.Fatal(err)
	}
	sp, err := spool.Open(filepath.Join(db.Dir(), "spool"), spool.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	w, err := digest.New(db, sp, nil)
	if err != nil {
		t.Fatal(err)
	}
	evs := sampleEvents(t)
	n := 0
	for round := 0; round < 2; round++ {
		for i, ev := range evs {
			if round == 1 && i%3 != 0 {
				continue
			}
			n++
			at := now.Add(time.Duration(n)*time.Minute + 123456*time.Microsecond)
			rec := &spool.Record{Project: pids[i%2], EventID: fmt.Sprintf("%032x", n), IngestedAt: at, Payload: ev, RemoteAddr: "192.0.2.7"}
			if err := sp.Append(rec); err != nil {
				t.Fatal(err)
			}
		}
	}
	now = now.Add(24 * time.Hour)
	if err := w.Drain(); err != nil {
		t.Fatal(err)
	}
	issues, _, err := db.Issues(store.IssueFilter{Project: pids[0]})
	if err != nil || len(issues) < 8 {
		t.Fatalf("issues: %d, %v", len(issues), err)
	}
	actions := []store.Action{store.ActionResolve, store.ResolveInRelease("1.0.0"), store.ActionResolveNext,
		store.ActionMute, store.MuteFor("day", 3), store.MuteUntil("hour", 2, 10)}
	for i, a := range actions {
		if _, err := db.ApplyAction(issues[i].ID, a, "ann", "because "+string(a)); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		now = now.Add(time.Second)
	}
	if err := db.AddComment(issues[7].ID, "bob", "looked into it: a flaky test\nsee #12"); err != nil {
		t.Fatal(err)
	}
	return db
}

// compareInstallations fails unless b holds every project, release, event
// (byte for byte) and issue (state, history) of a.
func compareInstallations(t *testing.T, a, b *store.DB) (events, issues int) {
	t.Helper()
	aps, err := a.Projects()
	if err != nil {
		t.Fatal(err)
	}
	for _, ap := range aps {
		bp, err := b.ProjectBySlug(ap.Slug)
		if err != nil {
			t.Fatalf("project %s: %v", ap.Slug, err)
		}
		if ap.Name != bp.Name && !strings.EqualFold(ap.Name, bp.Name) {
			t.Errorf("project %s: name %q, want %q", ap.Slug, bp.Name, ap.Name)
		}
		ars, _ := a.Releases(ap.ID)
		brs, _ := b.Releases(bp.ID)
		if len(ars) != len(brs) {
			t.Errorf("project %s: %d releases, want %d", ap.Slug, len(brs), len(ars))
		}
		for i := range min(len(ars), len(brs)) {
			ar, br := ars[i], brs[i]
			ar.Project, br.Project = 0, 0
			if !ar.DateReleased.Equal(br.DateReleased) || ar.Version != br.Version || ar.SortEpoch != br.SortEpoch || !ar.DateFinalized.Equal(br.DateFinalized) {
				t.Errorf("release %+v, want %+v", br, ar)
			}
			ad, _ := a.Deploys(ap.ID, ar.Version)
			bd, _ := b.Deploys(bp.ID, br.Version)
			if len(ad) != len(bd) {
				t.Errorf("release %s: %d deploys, want %d", ar.Version, len(bd), len(ad))
			}
		}
		for from := uint32(0); ; {
			evs, next, err := a.EventsFrom(ap.ID, from, 100)
			if err != nil {
				t.Fatal(err)
			}
			for i := range evs {
				want, err := a.EventBody(&evs[i])
				if err != nil {
					t.Fatal(err)
				}
				id := parseHex(t, evs[i].ID)
				bev, got, err := b.ProjectEvent(bp.ID, id)
				if err != nil {
					t.Fatalf("event %s: %v", evs[i].ID, err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("event %s differs:\n got %.300s\nwant %.300s", evs[i].ID, got, want)
				}
				if !bev.IngestedAt.Equal(evs[i].IngestedAt) || !bev.Timestamp.Equal(evs[i].Timestamp) {
					t.Errorf("event %s: ingested %v ts %v, want %v %v", evs[i].ID, bev.IngestedAt, bev.Timestamp, evs[i].IngestedAt, evs[i].Timestamp)
				}
				events++
			}
			if next == 0 {
				break
			}
			from = next
		}
		ais, err := a.IssuesAfter(ap.ID, 0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		bis, err := b.IssuesAfter(bp.ID, 0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(ais) != len(bis) {
			t.Fatalf("project %s: %d issues, want %d", ap.Slug, len(bis), len(ais))
		}
		for i := range ais {
			ai, bi := &ais[i], &bis[i]
			if ai.DigestOrder != bi.DigestOrder || ai.Title() != bi.Title() || ai.StoredEventCount != bi.StoredEventCount {
				t.Errorf("issue %d %q (%d events), want %d %q (%d)", bi.DigestOrder, bi.Title(), bi.StoredEventCount, ai.DigestOrder, ai.Title(), ai.StoredEventCount)
			}
			if ae, be := jsonOf(ai.Exported()), jsonOf(bi.Exported()); ae != be {
				t.Errorf("issue %s state:\n got %s\nwant %s", ai.Title(), be, ae)
			}
			ah, _ := a.History(ai.ID)
			bh, _ := b.History(bi.ID)
			if fmt.Sprint(ah) != fmt.Sprint(bh) {
				t.Errorf("issue %s history:\n got %v\nwant %v", ai.Title(), bh, ah)
			}
			issues++
		}
	}
	return events, issues
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func parseHex(t *testing.T, s string) (id [16]byte) {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		t.Fatalf("event id %q", s)
	}
	copy(id[:], b)
	return id
}

func TestRoundTripDirectory(t *testing.T) {
	src := populate(t)
	dir := filepath.Join(t.TempDir(), "export")
	st, err := ExportDir(src, dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	if st.Projects != 2 || st.Events < 100 || st.Issues < 20 || st.Releases < 2 {
		t.Fatalf("export stats %+v", st)
	}
	dst := openStore(t)
	r, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	ist, err := Import(dst, r)
	if err != nil {
		t.Fatal(err)
	}
	if ist.Events != st.Events || ist.Duplicates != 0 || ist.ProjectsCreated != 2 || ist.Issues != st.Issues {
		t.Errorf("import stats %+v after export %+v", ist, st)
	}
	events, issues := compareInstallations(t, src, dst)
	if events != st.Events || issues != st.Issues {
		t.Errorf("compared %d events, %d issues; exported %d, %d", events, issues, st.Events, st.Issues)
	}
	if out, _ := dst.Outbox(); len(out) != 0 {
		t.Errorf("import queued %d alerts", len(out))
	}

	// Twice: nothing new.
	r, err = OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	ist, err = Import(dst, r)
	if err != nil {
		t.Fatal(err)
	}
	if ist.Events != 0 || ist.Duplicates != st.Events || ist.History != 0 || ist.ProjectsCreated != 0 || ist.Releases != 0 {
		t.Errorf("second import %+v", ist)
	}
	compareInstallations(t, src, dst)
}

func TestRoundTripStream(t *testing.T) {
	src := populate(t)
	var buf bytes.Buffer
	st, err := ExportTar(src, &buf, "test")
	if err != nil {
		t.Fatal(err)
	}
	// Into an installation that has one of the projects already.
	dst := openStore(t)
	if _, err := dst.CreateProject("Backend"); err != nil {
		t.Fatal(err)
	}
	r, err := OpenStream(&buf)
	if err != nil {
		t.Fatal(err)
	}
	ist, err := Import(dst, r)
	if err != nil {
		t.Fatal(err)
	}
	if ist.Events != st.Events || ist.ProjectsCreated != 1 {
		t.Errorf("import stats %+v after export %+v", ist, st)
	}
	compareInstallations(t, src, dst)
	ps, _ := dst.Projects()
	if len(ps) != 2 {
		t.Errorf("%d projects after merging, want 2", len(ps))
	}
}

func TestExportRefusesNonEmptyDir(t *testing.T) {
	db := openStore(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "x"), nil, 0o644)
	if _, err := ExportDir(db, dir, "test"); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("ExportDir into a non-empty directory: %v", err)
	}
}

func TestEmptyInstallation(t *testing.T) {
	var buf bytes.Buffer
	if _, err := ExportTar(openStore(t), &buf, "test"); err != nil {
		t.Fatal(err)
	}
	r, err := OpenStream(&buf)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Import(openStore(t), r)
	if err != nil || st != (ImportStats{}) {
		t.Errorf("import of an empty export: %+v, %v", st, err)
	}
}
