package scrub_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tinysink/tinysink/digest/event"
	"github.com/tinysink/tinysink/digest/scrub"
)

// plantedDir holds real sample events with secrets planted in them, and
// the list of those secrets (see testdata/README.md).
const plantedDir = "testdata/planted"

// readTSV returns the rows of a tab-separated file, comments skipped.
func readTSV(t *testing.T, name string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(plantedDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			rows = append(rows, strings.Split(line, "\t"))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// plantedFile is the file of testdata/planted that holds sample.
func plantedFile(sample string) string {
	return filepath.Join(plantedDir, strings.ReplaceAll(sample, "/", "_"))
}

// readable returns the text a secret could be read from after scrubbing:
// the document as stored (normalised), every string in it decoded, and
// the index fields digest derives from it (title, calculated type and
// value, transaction, crash frame, tags).
func readable(t *testing.T, doc []byte) string {
	t.Helper()
	ev, body, err := event.NewNormalizer().Normalize(doc, plantedMeta)
	if err != nil {
		t.Fatal(err)
	}
	return readableOf(t, ev, body)
}

var plantedMeta = event.Meta{IngestedAt: time.Unix(1e9, 0)}

// readableOf is readable for an event already normalised.
func readableOf(t *testing.T, ev *event.Event, body []byte) string {
	t.Helper()
	var b strings.Builder
	b.Write(body)
	b.WriteByte('\n')
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			b.WriteString(v + "\n")
		case []any:
			for _, x := range v {
				walk(x)
			}
		case map[string]any:
			for k, x := range v {
				b.WriteString(k + "\n")
				walk(x)
			}
		}
	}
	walk(v)
	for _, s := range []string{ev.Title, ev.CalculatedType, ev.CalculatedValue, ev.Transaction,
		ev.LastFrameFilename, ev.LastFrameModule, ev.LastFrameFunction} {
		b.WriteString(s + "\n")
	}
	for _, tag := range ev.Tags {
		b.WriteString(tag.Key + "=" + tag.Value + "\n")
	}
	return b.String()
}

// TestPlantedSecrets scrubs real events with 62 secrets planted in every
// field that SDKs fill with user data (exception values, messages and
// their parameters, tags, transactions, context lines, frame variables,
// spans, breadcrumbs, request parts, extra, contexts, user) as the digest
// does (event.Normalizer.NormalizeScrubbed) and checks that none can be
// read in the stored event or in the index fields.
func TestPlantedSecrets(t *testing.T) {
	secrets := readTSV(t, "secrets.tsv")
	if len(secrets) != 62 {
		t.Fatalf("%d planted secrets, want 62", len(secrets))
	}
	scrubbed := map[string]string{}
	docs := map[string][]byte{}
	for _, row := range secrets {
		sample := row[0]
		if _, ok := scrubbed[sample]; ok {
			continue
		}
		doc, err := os.ReadFile(plantedFile(sample))
		if err != nil {
			t.Fatal(err)
		}
		ev, body, _, err := event.NewNormalizer().NormalizeScrubbed(doc, plantedMeta, scrub.Options{})
		if err != nil {
			t.Fatal(err)
		}
		docs[sample] = body
		scrubbed[sample] = readableOf(t, ev, body)
	}
	left := 0
	for _, row := range secrets {
		sample, field, secret := row[0], row[1], row[2]
		doc, _ := os.ReadFile(plantedFile(sample))
		if !strings.Contains(readable(t, doc), secret) {
			t.Fatalf("bad test: %q (%s) is not readable in %s before scrubbing", secret, field, sample)
		}
		if strings.Contains(scrubbed[sample], secret) {
			left++
			t.Errorf("%s: %s: %q is readable after scrubbing", sample, field, secret)
		}
	}
	t.Logf("%d of %d planted secrets readable after scrubbing", left, len(secrets))

	for _, row := range readTSV(t, "kept.tsv") {
		sample, field, want := row[0], row[1], row[2]
		out, ok := docs[sample]
		if !ok {
			t.Fatalf("kept.tsv: %s has no secrets", sample)
		}
		var v any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatal(err)
		}
		got, _ := json.Marshal(lookup(v, field))
		if string(got) != want {
			t.Errorf("%s: %s = %s after scrubbing, want it kept as %s", sample, field, got, want)
		}
	}
}

// lookup returns the value at a dotted path (numbers index lists).
func lookup(v any, path string) any {
	for _, p := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}
