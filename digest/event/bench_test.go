package event

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/tinysink/tinysink/digest/scrub"
)

// benchSample is a 13.4 KB .NET event: exception with frames, request with
// headers (User-Agent parsed), tags, contexts and a logentry.
const benchSample = "csharp/bugsink_headers_as_lists.json"

// BenchmarkNormalize measures one event per op with a reused Normalizer.
func BenchmarkNormalize(b *testing.B) {
	raw := readSample(b, benchSample)
	n := NewNormalizer()
	if _, _, err := n.Normalize(raw, testMeta); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := n.Normalize(raw, testMeta); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNormalizeCorpus normalises every sample once per op.
func BenchmarkNormalizeCorpus(b *testing.B) {
	var raws [][]byte
	size := 0
	for _, name := range samples(b) {
		raw := readSample(b, name)
		raws = append(raws, raw)
		size += len(raw)
	}
	n := NewNormalizer()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		for _, raw := range raws {
			if _, _, err := n.Normalize(raw, testMeta); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkNormalizeMessage measures @sentry/node's captureMessage as
// recorded on the wire (the message rule, RuleSyntheticMessage).
func BenchmarkNormalizeMessage(b *testing.B) {
	raw := readSample(b, "node/sdk-wire_event-message-warning.json")
	n := NewNormalizer()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := n.Normalize(raw, testMeta); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNormalizeDir normalises and scrubs, as the digest does, each
// event JSON file of the directory $TINYSINK_BENCH_EVENTS (compacted
// first, as SDKs send them), one event per op in turn. It skips without
// it. `loadgen -write-samples DIR -samples 64` writes loadgen's
// built-in events; run it under callgrind for instruction counts
// (README, twenty-second round).
func BenchmarkNormalizeDir(b *testing.B) {
	raws := benchDirEvents(b)
	n := NewNormalizer()
	n.DeferSearchText = true
	size := 0
	for _, raw := range raws {
		size += len(raw)
	}
	b.SetBytes(int64(size / len(raws)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, _, _, err := n.NormalizeScrubbed(raws[i%len(raws)], testMeta, scrub.Options{}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// benchDirEvents reads the compacted events of $TINYSINK_BENCH_EVENTS.
func benchDirEvents(b *testing.B) [][]byte {
	dir := os.Getenv("TINYSINK_BENCH_EVENTS")
	if dir == "" {
		b.Skip("TINYSINK_BENCH_EVENTS is not set")
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		b.Fatalf("no *.json in %s (%v)", dir, err)
	}
	var raws [][]byte
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			b.Fatalf("%s: %v", f, err)
		}
		raws = append(raws, buf.Bytes())
	}
	return raws
}
