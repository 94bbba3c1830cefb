package digest

import (
	"archive/zip"
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tinysink/tinysink/budget"
	"github.com/tinysink/tinysink/digest/event"
	"github.com/tinysink/tinysink/digest/sourcemap"
	"github.com/tinysink/tinysink/store"
)

const (
	mapDebugID = "bbbbbbbb-0000-4000-8000-000000000001"
	mapURL     = "https://shop.example/static/traceback.min.js"
)

// uploadTraceback stores, as sentry-cli's assemble would, a bundle with
// the source map test data's traceback.min.js and its map under
// mapDebugID for project pid.
func uploadTraceback(t *testing.T, db *store.DB, pid int) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	man := map[string]any{}
	for _, f := range []struct{ path, url, typ, file string }{
		{"a/traceback.min.js", "~/static/traceback.min.js", "minified_source", "traceback.min.js"},
		{"a/traceback.min.js.map", "~/static/traceback.min.js.map", "source_map", "traceback.min.map"},
	} {
		b, err := os.ReadFile("sourcemap/testdata/" + f.file)
		if err != nil {
			t.Fatal(err)
		}
		w, _ := zw.Create(f.path)
		w.Write(b)
		man[f.path] = map[string]any{"url": f.url, "type": f.typ, "headers": map[string]string{"debug-id": mapDebugID}}
	}
	w, _ := zw.Create("manifest.json")
	json.NewEncoder(w).Encode(map[string]any{"files": man})
	zw.Close()
	sum := sha1.Sum(buf.Bytes())
	if _, err := db.AddArtifactBundle([]int{pid}, hex.EncodeToString(sum[:]), bytes.NewReader(buf.Bytes()), int64(buf.Len()), "", ""); err != nil {
		t.Fatal(err)
	}
}

// minifiedSynthetic is what a browser SDK sends for a synthetic exception
// without a message thrown in traceback.min.js: the crash frame is the
// minified "e" (onFailure in the source), called from "r" (invoke) through
// the token "e" (onFailure).
func minifiedSynthetic(t *testing.T, id string) []byte {
	t.Helper()
	min, err := os.ReadFile("sourcemap/testdata/traceback.min.js")
	if err != nil {
		t.Fatal(err)
	}
	callCol := strings.Index(string(min), "e}else") + 1
	throwCol := strings.Index(string(min), "throw") + 1
	ev := map[string]any{
		"event_id": id, "platform": "javascript",
		"exception": map[string]any{"values": []any{map[string]any{
			"mechanism": map[string]any{"type": "generic", "synthetic": true},
			"stacktrace": map[string]any{"frames": []any{
				map[string]any{"filename": mapURL, "abs_path": mapURL, "lineno": 1, "colno": callCol, "function": "r", "in_app": true},
				map[string]any{"filename": mapURL, "abs_path": mapURL, "lineno": 1, "colno": throwCol, "function": "e", "in_app": true},
			}},
		}}},
		"debug_meta": map[string]any{"images": []any{map[string]any{"type": "sourcemap", "code_file": mapURL, "debug_id": mapDebugID}}},
	}
	b, _ := json.Marshal(ev)
	return b
}

// TestSyntheticTitleFromSourceMap: a synthetic exception without a message
// whose crash frame is minified is titled "<file> in <function>" until the
// project uploads a map for that frame, then by the mapped function; the
// grouping key (so the issue) stays the minified function's.
func TestSyntheticTitleFromSourceMap(t *testing.T) {
	r := newRig(t)
	r.w.Maps = sourcemap.NewMapper(r.db)
	other, err := r.db.CreateProject("other")
	if err != nil {
		t.Fatal(err)
	}
	loaded := func() bool { return slices.Contains(budget.Loaded(), "sourcemap") }
	wasLoaded := loaded()

	const id1, id2, id3 = "a0000000000000000000000000000001", "a0000000000000000000000000000002", "a0000000000000000000000000000003"
	e1, before := r.sendBody(r.pid, id1, minifiedSynthetic(t, id1))
	if before.CalculatedType != "traceback.min.js in e" {
		t.Errorf("without uploads: title %q, want %q", before.CalculatedType, "traceback.min.js in e")
	}
	if !wasLoaded && loaded() {
		t.Error("the source map cache was loaded for a project without uploads")
	}
	key, _, err := event.NewNormalizer().Normalize(minifiedSynthetic(t, id1), event.Meta{})
	if err != nil {
		t.Fatal(err)
	}

	uploadTraceback(t, r.db, r.pid)
	e2, after := r.sendBody(r.pid, id2, minifiedSynthetic(t, id2))
	if after.CalculatedType != "onFailure" || after.CalculatedValue != "" {
		t.Errorf("with the map: title %q: %q, want onFailure", after.CalculatedType, after.CalculatedValue)
	}
	if after.ID != before.ID || e2.IssueID != e1.IssueID {
		t.Errorf("the mapped title moved the event to issue %d (was %d): the grouping key changed", after.ID, before.ID)
	}
	if key.GroupingKey != "e" {
		t.Errorf("grouping key %q, want the minified function e", key.GroupingKey)
	}
	if body, err := r.db.EventBody(e2); err != nil || !bytes.Contains(body, []byte(`"function":"e"`)) || bytes.Contains(body, []byte("onFailure")) {
		t.Errorf("stored body is not the minified one (err %v): %s", err, body)
	}

	// A project without uploads keeps "<file> in <function>", though
	// another project has the map.
	if _, iss := r.sendBody(other.ID, id3, minifiedSynthetic(t, id3)); iss.CalculatedType != "traceback.min.js in e" {
		t.Errorf("project without uploads: title %q", iss.CalculatedType)
	}
}
