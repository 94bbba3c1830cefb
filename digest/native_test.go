package digest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tinysink/tinysink/digest/event"
	"github.com/tinysink/tinysink/digest/minidump/sample"
	"github.com/tinysink/tinysink/digest/minidump/symstore"
	"github.com/tinysink/tinysink/ingest/spool"
	"github.com/tinysink/tinysink/store/attach"
)

// nativeFixture stores dump as the minidump of an event and returns the
// Native and the payload ingest would have spooled.
func nativeFixture(t testing.TB, dump []byte, withSyms bool) (*Native, string, []byte) {
	t.Helper()
	dir := t.TempDir()
	as, err := attach.Open(dir + "/attachments")
	if err != nil {
		t.Fatal(err)
	}
	n := &Native{Attachments: as}
	if withSyms {
		if n.Symbols, err = symstore.Open(dir + "/symbols"); err != nil {
			t.Fatal(err)
		}
		zr, _ := gzip.NewReader(bytes.NewReader(sample.SymGz))
		if _, err := n.Symbols.Add(zr); err != nil {
			t.Fatal(err)
		}
	}
	w, err := as.Begin(1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Add("crash.dmp", "", attach.TypeMinidump, bytes.NewReader(dump)); err != nil {
		t.Fatal(err)
	}
	id := strings.Repeat("ab", 16)
	if err := w.Commit(id); err != nil {
		t.Fatal(err)
	}
	return n, id, []byte(`{"tinysink_minidump":0,"release":"r1","platform":"native"}`)
}

func TestMergeMinidump(t *testing.T) {
	t.Parallel()
	n, id, payload := nativeFixture(t, sample.Dump, true)
	out, err := n.MergeMinidump(1, id, payload)
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Level       string   `json:"level"`
		Release     string   `json:"release"`
		Fingerprint []string `json:"fingerprint"`
		Marker      any      `json:"tinysink_minidump"`
	}
	if err := json.Unmarshal(out, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Level != "fatal" || ev.Release != "r1" || ev.Marker != nil {
		t.Errorf("event = %+v", ev)
	}
	// Grouping by function names once symbolicated: stable across builds.
	want := []string{"minidump", "EXCEPTION_ACCESS_VIOLATION_WRITE", sample.CrashFunction, "main", "__tmainCRTStartup", "kernel32.dll+0x16fd6"}
	if strings.Join(ev.Fingerprint, "|") != strings.Join(want, "|") {
		t.Errorf("fingerprint = %q, want %q", ev.Fingerprint, want)
	}
	norm := event.NewNormalizer()
	e, _, err := norm.Normalize(out, event.Meta{EventID: id, IngestedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if e.Level != "fatal" {
		t.Errorf("normalised level %q", e.Level)
	}

	// Not a minidump: the event says so instead of failing.
	n2, id2, p2 := nativeFixture(t, []byte("MDMP but then nothing"), false)
	out, err = n2.MergeMinidump(1, id2, p2)
	if err != nil || !bytes.Contains(out, []byte("could not be processed")) {
		t.Errorf("broken dump: %v %s", err, out)
	}
}

// BenchmarkMergeMinidump1MB is the digest's whole work on a 1 MB dump:
// read, walk every thread, build and merge the event, normalise it. The
// bar is 200 ms.
func BenchmarkMergeMinidump1MB(b *testing.B) {
	dump := sample.Synth(64, 16<<10, 40)
	n, id, payload := nativeFixture(b, dump, false)
	norm := event.NewNormalizer()
	b.SetBytes(int64(len(dump)))
	for b.Loop() {
		out, err := n.MergeMinidump(1, id, payload)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := norm.Normalize(out, event.Meta{EventID: id, IngestedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	_ = io.Discard
}

// After a restart with a backlog, the attachments of events still in the
// spool are older than the sweep's grace period but not orphans: Run
// sweeps only once the spool is digested, so they stay, while a real
// orphan (its request stopped before spooling the event) goes.
func TestSweepWaitsForTheBacklog(t *testing.T) {
	r := newRig(t)
	n, id, payload := nativeFixture(t, sample.Dump, false)
	r.w.Native = n
	w, err := n.Attachments.Begin(r.pid)
	if err != nil {
		t.Fatal(err)
	}
	w.Add("orphan.dmp", "", attach.TypeMinidump, strings.NewReader("MDMP"))
	orphan := strings.Repeat("cd", 16)
	if err := w.Commit(orphan); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	for _, eid := range []string{id, orphan} {
		dir := filepath.Dir(n.Attachments.Path(r.pid, eid, 0))
		if err := os.Chtimes(dir, old, old); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.sp.Append(&spool.Record{Project: r.pid, EventID: id, IngestedAt: r.now, Payload: payload}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.w.Run(ctx) }()
	for {
		if items, _ := n.Attachments.List(r.pid, orphan); len(items) == 0 {
			break // swept
		}
		runtime.Gosched()
	}
	cancel()
	<-done
	if items, err := n.Attachments.List(r.pid, id); len(items) != 1 {
		t.Fatalf("the spooled event's minidump was swept before its event was digested: %v, %v", items, err)
	}
	if _, _, err := r.db.Event(mustID(t, id)); err != nil {
		t.Fatalf("event not digested: %v", err)
	}
}
