// Package benchevents reads the events that benchmarks over real SDK-like
// traffic run on: every *.json file of the directory named by
// $TINYSINK_BENCH_EVENTS (for example what `loadgen -write-samples DIR`
// writes), compacted as SDKs send them.
package benchevents

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Env names the directory.
const Env = "TINYSINK_BENCH_EVENTS"

// Load returns the directory's events, or skips tb when Env is unset.
func Load(tb testing.TB) [][]byte {
	tb.Helper()
	dir := os.Getenv(Env)
	if dir == "" {
		tb.Skip(Env + " is not set")
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no *.json in %s (%v)", dir, err)
	}
	var events [][]byte
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
		events = append(events, buf.Bytes())
	}
	return events
}
