package event

import (
	"testing"

	"github.com/tinysink/tinysink/digest/scrub"
	"github.com/tinysink/tinysink/internal/benchevents"
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

// BenchmarkNormalizeDir normalises and scrubs, as the digest does, the
// events of $TINYSINK_BENCH_EVENTS (package benchevents), one per op in
// turn. It skips without it. `loadgen -write-samples DIR -samples 64`
// writes loadgen's built-in events; run it under callgrind for
// instruction counts (README, twenty-second round).
func BenchmarkNormalizeDir(b *testing.B) {
	raws := benchevents.Load(b)
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
