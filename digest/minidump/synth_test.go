package minidump

import (
	"bytes"
	"testing"

	"github.com/tinysink/tinysink/digest/minidump/sample"
)

func TestSynthDump(t *testing.T) {
	raw := sample.Synth(4, 4096, 8)
	d, err := Read(bytes.NewReader(raw), int64(len(raw)))
	if err != nil || len(d.Notes) > 0 {
		t.Fatalf("%v %q", err, d.Notes)
	}
	if len(d.Threads) != 4 || len(d.Modules) != 8 || d.CrashingThread() != 0 {
		t.Fatalf("threads %d modules %d", len(d.Threads), len(d.Modules))
	}
	ev := Process(d, nil)
	if ev.Level != "fatal" || len(ev.Threads) != 4 {
		t.Errorf("event = %+v", ev)
	}
}

// BenchmarkProcess1MB reads and walks a 1 MB dump (64 threads of 16 KiB
// stacks full of plausible return addresses) and builds its event: the
// bar is 200 ms.
func BenchmarkProcess1MB(b *testing.B) {
	raw := sample.Synth(64, 16<<10, 40)
	b.SetBytes(int64(len(raw)))
	b.ReportMetric(float64(len(raw))/(1<<20), "MiB/dump")
	for b.Loop() {
		d, err := Read(bytes.NewReader(raw), int64(len(raw)))
		if err != nil {
			b.Fatal(err)
		}
		Process(d, nil)
	}
}
