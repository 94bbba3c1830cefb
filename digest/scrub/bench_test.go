package scrub

import (
	"encoding/json"
	"testing"
)

// BenchmarkScrubClean scrubs a 13.4 KB event that has nothing to filter:
// the common case.
func BenchmarkScrubClean(b *testing.B) {
	doc := readSample(b, benchSample)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		Scrub(doc, Options{})
	}
}

// BenchmarkScrubSecrets scrubs the same event with secrets planted in its
// request (headers, cookies, query string, form body) and extra, with the IP
// switch on.
func BenchmarkScrubSecrets(b *testing.B) {
	var ev map[string]any
	if err := json.Unmarshal(readSample(b, benchSample), &ev); err != nil {
		b.Fatal(err)
	}
	req := ev["request"].(map[string]any)
	headers := req["headers"].(map[string]any)
	headers["Authorization"] = []string{"Bearer abc"}
	headers["Cookie"] = []string{"sessionid=1; theme=dark"}
	req["query_string"] = "a=1&token=x"
	req["data"] = "username=bob&password=hunter2"
	req["env"].(map[string]any)["REMOTE_ADDR"] = "192.0.2.1"
	ev["extra"] = map[string]any{"card": "4111 1111 1111 1111"}
	doc, err := json.Marshal(ev)
	if err != nil {
		b.Fatal(err)
	}
	if _, changed := Scrub(doc, Options{ScrubIP: true}); !changed {
		b.Fatal("nothing scrubbed")
	}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		Scrub(doc, Options{ScrubIP: true})
	}
}

// BenchmarkScrubCorpus scrubs every sample event once per op.
func BenchmarkScrubCorpus(b *testing.B) {
	var docs [][]byte
	size := 0
	for _, name := range samples(b) {
		d := readSample(b, name)
		docs = append(docs, d)
		size += len(d)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		for _, d := range docs {
			Scrub(d, Options{ScrubIP: true})
		}
	}
}
