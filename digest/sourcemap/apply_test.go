package sourcemap

import (
	"archive/zip"
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tinysink/tinysink/store"
)

type bundleFile struct {
	path, url, typ, debugID string
	body                    []byte
}

// upload stores an artifact bundle of files in project 1 of db, as
// sentry-cli's assemble would.
func upload(t testing.TB, db *store.DB, release string, files ...bundleFile) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	man := map[string]any{}
	for _, f := range files {
		w, _ := zw.Create(f.path)
		w.Write(f.body)
		hdr := map[string]string{}
		if f.debugID != "" {
			hdr["debug-id"] = f.debugID
		}
		man[f.path] = map[string]any{"url": f.url, "type": f.typ, "headers": hdr}
	}
	w, _ := zw.Create("manifest.json")
	json.NewEncoder(w).Encode(map[string]any{"files": man, "release": release})
	zw.Close()
	sum := sha1.Sum(buf.Bytes())
	if _, err := db.AddArtifactBundle([]int{1}, hex.EncodeToString(sum[:]), bytes.NewReader(buf.Bytes()), int64(buf.Len()), "", ""); err != nil {
		t.Fatal(err)
	}
}

func openStore(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.CreateProject("web"); err != nil {
		t.Fatal(err)
	}
	return db
}

const (
	idMapped  = "aaaaaaaa-0000-4000-8000-000000000001"
	idNoMap   = "aaaaaaaa-0000-4000-8000-000000000002"
	idNoFile  = "aaaaaaaa-0000-4000-8000-000000000003"
	idBroken  = "aaaaaaaa-0000-4000-8000-000000000004"
	urlMapped = "https://shop.example/static/traceback.min.js"
)

// jsEvent is an event with one frame per (file, line, column).
func jsEvent(images map[string]string, release string, frames ...[3]any) []byte {
	var fs []map[string]any
	for _, f := range frames {
		fs = append(fs, map[string]any{"filename": f[0], "abs_path": f[0], "lineno": f[1], "colno": f[2], "function": "e"})
	}
	var imgs []map[string]any
	for file, id := range images {
		imgs = append(imgs, map[string]any{"type": "sourcemap", "code_file": file, "debug_id": id})
	}
	ev := map[string]any{"platform": "javascript", "release": release,
		"exception":  map[string]any{"values": []any{map[string]any{"type": "Error", "value": "failed!", "stacktrace": map[string]any{"frames": fs}}}},
		"debug_meta": map[string]any{"images": imgs}}
	b, _ := json.Marshal(ev)
	return b
}

func framesOf(t *testing.T, body []byte) []map[string]any {
	t.Helper()
	var ev struct {
		Exception struct {
			Values []struct {
				Stacktrace struct {
					Frames []map[string]any `json:"frames"`
				} `json:"stacktrace"`
			} `json:"values"`
		} `json:"exception"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatalf("Apply gave invalid JSON: %v\n%s", err, body)
	}
	return ev.Exception.Values[0].Stacktrace.Frames
}

func note(f map[string]any) map[string]any {
	d, _ := f["data"].(map[string]any)
	n, _ := d["sourcemap"].(map[string]any)
	return n
}

func TestApplyReasons(t *testing.T) {
	db := openStore(t)
	min := readFile(t, "traceback.min.js")
	upload(t, db, "",
		bundleFile{"a/traceback.min.js", "~/static/traceback.min.js", "minified_source", idMapped, min},
		bundleFile{"a/traceback.min.js.map", "~/static/traceback.min.js.map", "source_map", idMapped, readFile(t, "traceback.min.map")},
		bundleFile{"b/only.min.js", "~/only.min.js", "minified_source", idNoFile, []byte("x()")},
		bundleFile{"c/broken.js.map", "~/broken.js.map", "source_map", idBroken, []byte(`{"version":3,"sources":["a"],"mappings":"AA!A"}`)},
	)
	throwCol := strings.Index(string(min), "throw") + 1
	callCol := strings.Index(string(min), "e}else") + 1 // i=e: not a call, but a mapped token
	images := map[string]string{urlMapped: idMapped, "https://shop.example/nomap.js": idNoMap,
		"https://shop.example/only.min.js": idNoFile, "https://shop.example/broken.js": idBroken}
	body := jsEvent(images, "",
		[3]any{urlMapped, 1, callCol},
		[3]any{urlMapped, 1, throwCol},
		[3]any{urlMapped, 7, 1},
		[3]any{"https://shop.example/nomap.js", 1, 1},
		[3]any{"https://shop.example/only.min.js", 1, 1},
		[3]any{"https://shop.example/broken.js", 1, 1},
		[3]any{"https://shop.example/no-id.js", 1, 1},
	)
	mp := NewMapper(db)
	frames := framesOf(t, mp.Apply(1, body))
	want := []string{"mapped", "mapped", ReasonOutside, ReasonNoMap, ReasonNotInBundle, ReasonBroken, ReasonNoDebugID}
	for i, f := range frames {
		n := note(f)
		got, _ := n["reason_code"].(string)
		if n["status"] == "mapped" {
			got = "mapped"
		}
		if got != want[i] {
			t.Errorf("frame %d: data.sourcemap = %v, want %s", i, n, want[i])
		}
		if got != "mapped" && (n["reason"] == nil || f["filename"] != frames[i]["abs_path"]) {
			t.Errorf("frame %d: not mapped but changed, or no reason: %v", i, f)
		}
	}
	thrown := frames[1]
	if thrown["filename"] != "test.js" || thrown["lineno"] != 5.0 || !strings.Contains(thrown["context_line"].(string), "throw new Error") {
		t.Errorf("thrown frame = %v, want test.js:5 with its context", thrown)
	}
	if min := note(thrown)["minified"].(map[string]any); min["colno"] != float64(throwCol) || min["filename"] != urlMapped {
		t.Errorf("minified position = %v", min)
	}
	if !strings.Contains(note(frames[3])["reason"].(string), idNoMap) {
		t.Errorf("no_map reason does not name the debug id: %v", note(frames[3]))
	}
	// Applying twice changes nothing more.
	once := mp.Apply(1, body)
	if twice := mp.Apply(1, once); !bytes.Equal(once, twice) {
		t.Error("Apply is not idempotent")
	}
}

func TestApplyRelease(t *testing.T) {
	db := openStore(t)
	min := readFile(t, "traceback.min.js")
	upload(t, db, "web@1.0",
		bundleFile{"traceback.min.js", "~/static/traceback.min.js", "minified_source", "", append(min[:len(min):len(min)], "\n//# sourceMappingURL=maps/tb.map\n"...)},
		bundleFile{"tb.map", "~/static/maps/tb.map", "source_map", "", readFile(t, "traceback.min.map")},
	)
	throwCol := strings.Index(string(min), "throw") + 1
	mp := NewMapper(db)
	frames := framesOf(t, mp.Apply(1, jsEvent(nil, "web@1.0", [3]any{urlMapped, 1, throwCol}, [3]any{"https://shop.example/static/other.js", 1, 1})))
	if frames[0]["filename"] != "test.js" || frames[0]["lineno"] != 5.0 || note(frames[0])["via"] != "release" {
		t.Errorf("release frame = %v", frames[0])
	}
	if note(frames[1])["reason_code"] != ReasonNotInBundle {
		t.Errorf("file not in the release: %v", note(frames[1]))
	}
	// Another release of the same project has no files.
	frames = framesOf(t, mp.Apply(1, jsEvent(nil, "web@0.9", [3]any{urlMapped, 1, throwCol})))
	if note(frames[0])["reason_code"] != ReasonNoDebugID {
		t.Errorf("other release: %v", note(frames[0]))
	}
}

func TestApplyLeavesOtherEventsAlone(t *testing.T) {
	db := openStore(t)
	mp := NewMapper(db)
	for _, body := range []string{
		`{"platform":"python","exception":{"values":[{"stacktrace":{"frames":[{"filename":"a.py","lineno":1}]}}]}}`,
		string(jsEvent(nil, "", [3]any{"https://x/app.js", 1, 1})), // no uploads, no debug ids
		`not json`,
	} {
		if got := mp.Apply(1, []byte(body)); string(got) != body {
			t.Errorf("Apply changed %s into %s", body, got)
		}
	}
}

// BenchmarkApply500 maps a 500-frame minified stack (jquery) on a warm
// cache.
func BenchmarkApply500(b *testing.B) {
	db := openStore(b)
	const id = "bbbbbbbb-0000-4000-8000-000000000001"
	upload(b, db, "", bundleFile{"jquery.min.map", "~/jquery.min.map", "source_map", id, readFile(b, "jquery.min.map")})
	file := "https://shop.example/jquery.min.js"
	var frames [][3]any
	for i := 0; i < 500; i++ {
		frames = append(frames, [3]any{file, 1 + i%3, 100 + 50*i})
	}
	body := jsEvent(map[string]string{file: id}, "", frames...)
	mp := NewMapper(db)
	out := mp.Apply(1, body) // warm the cache
	mapped := 0
	for _, f := range framesOf(&testing.T{}, out) {
		if note(f)["status"] == "mapped" {
			mapped++
		}
	}
	if mapped < 400 {
		b.Fatalf("only %d of 500 frames mapped", mapped)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		mp.Apply(1, body)
	}
	b.ReportMetric(float64(len(body)), "event-bytes")
}

// TestMayHaveJSFrames: the cheap test before the parse says yes to an
// event with frames and a JavaScript hint, no to others, and copies
// nothing (the UI asks it of every event it shows).
func TestMayHaveJSFrames(t *testing.T) {
	for _, c := range []struct {
		body string
		want bool
	}{
		{`{"exception":{"values":[{"stacktrace":{"frames":[{"filename":"app.min.js"}]}}]}}`, true},
		{`{"platform":"javascript","threads":{"values":[{"stacktrace":{"frames":[]}}]}}`, true},
		{`{"platform":"node","exception":{"values":[{"stacktrace":{"frames":[{}]}}]}}`, true},
		{`{"platform":"python","exception":{"values":[{"stacktrace":{"frames":[{"filename":"app.py"}]}}]}}`, false},
		{`{"platform":"javascript","message":"no stack"}`, false},
	} {
		if got := mayHaveJSFrames([]byte(c.body)); got != c.want {
			t.Errorf("%s: %v, want %v", c.body, got, c.want)
		}
	}
	big := []byte(`{"platform":"python","exception":{"values":[{"stacktrace":{"frames":[` + strings.Repeat(`{"filename":"a.py"},`, 5000) + `{}]}}]}}`)
	if n := testing.AllocsPerRun(100, func() { mayHaveJSFrames(big) }); n != 0 {
		t.Errorf("%.0f allocations for a %d-byte event", n, len(big))
	}
}
