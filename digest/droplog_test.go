package digest

import (
	"bytes"
	"log/slog"
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

// Duplicates and invalid events are logged, one line per reason and
// project per minute, the rest counted.
func TestDroppedEventsAreLogged(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	var logs lockedBuffer
	w, err := New(r.db, r.sp, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	r.w = w
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
