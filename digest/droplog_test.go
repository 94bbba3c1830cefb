package digest

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tinysink/tinysink/ingest/spool"
)

// lockedBuffer is a log destination safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines(substr string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for line := range strings.Lines(l.b.String()) {
		if strings.Contains(line, substr) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// loggedRig is newRig with a worker that logs to the returned buffer.
func loggedRig(t *testing.T) (*rig, *lockedBuffer) {
	r := newRig(t)
	logs := &lockedBuffer{}
	w, err := New(r.db, r.sp, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	r.w = w
	return r, logs
}

// Duplicates and invalid events are logged, one line per reason and
// project per minute, the rest counted.
func TestDroppedEventsAreLogged(t *testing.T) {
	t.Parallel()
	r, logs := loggedRig(t)
	w := r.w
	const id = "0123456789abcdef0123456789abcdef"
	for range 4 {
		ev := `{"event_id":"` + id + `","message":"again"}`
		if err := r.sp.Append(&spool.Record{Project: r.pid, EventID: id, IngestedAt: r.now, Payload: []byte(ev)}); err != nil {
			t.Fatal(err)
		}
		if err := w.Drain(); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if err := r.sp.Append(&spool.Record{Project: r.pid, EventID: id, IngestedAt: r.now, Payload: []byte(`[1,2]`)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Drain(); err != nil {
		t.Fatal(err)
	}
	if got := logs.lines("reason=duplicate"); len(got) != 1 || !strings.Contains(got[0], "project_id=1") || !strings.Contains(got[0], "event_id="+id) {
		t.Errorf("duplicate lines = %q, want one for project 1", got)
	}
	if got := logs.lines("reason=invalid"); len(got) != 1 || !strings.Contains(got[0], "level=WARN") {
		t.Errorf("invalid lines = %q, want one warning", got)
	}
	if st := w.Stats(); st.Duplicates != 3 || st.Invalid != 3 {
		t.Errorf("counted %d duplicates and %d invalid, want 3 and 3", st.Duplicates, st.Invalid)
	}
}

// A damaged spool record is logged as an error, once, when a batch meets
// it.
func TestSpoolDamageIsLogged(t *testing.T) {
	t.Parallel()
	r, logs := loggedRig(t)
	w := r.w
	for i := range 3 {
		id := fmt.Sprintf("%032x", i+1)
		ev := `{"event_id":"` + id + `","message":"damaged spool"}`
		if err := r.sp.Append(&spool.Record{Project: r.pid, EventID: id, IngestedAt: r.now, Payload: []byte(ev)}); err != nil {
			t.Fatal(err)
		}
	}
	files, err := filepath.Glob(filepath.Join(r.dir, "spool", "*.spool"))
	if err != nil || len(files) != 1 {
		t.Fatalf("spool segments %v (%v), want one", files, err)
	}
	// Change a byte of the second record's payload.
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(data, []byte(fmt.Sprintf("%032x\",\"message", 2)))
	if at < 0 {
		t.Fatal("second record not found in the segment")
	}
	data[at] ^= 1
	if err := os.WriteFile(files[0], data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := w.Drain(); err != nil {
		t.Fatal(err)
	}
	if err := w.Drain(); err != nil {
		t.Fatal(err)
	}
	if st := w.Stats(); st.Digested != 2 {
		t.Errorf("digested %d events, want 2 (the ones before and after the damage)", st.Digested)
	}
	if got := logs.lines("damaged"); len(got) != 1 || !strings.Contains(got[0], "level=ERROR") || !strings.Contains(got[0], "damaged_segments=1") {
		t.Errorf("damage lines = %q, want one error", got)
	}
}
