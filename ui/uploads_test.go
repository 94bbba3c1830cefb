package ui

import (
	"archive/zip"
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/tinysink/tinysink/store"
)

const tracebackMin = `var makeAFailure=function(){function n(n){}function e(n){throw new Error("failed!")}function r(r){var i=null;if(r.failed){i=e}else{i=n}i(r)}function i(){var n={failed:true,value:42};r(n)}return i}();`

// uploadTraceback stores a bundle holding symbolic's traceback map under
// debugID in project pid and returns the bundle's checksum.
func uploadTraceback(t *testing.T, db *store.DB, pid int, debugID string) string {
	t.Helper()
	m, err := os.ReadFile("../digest/sourcemap/testdata/traceback.min.map")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("files/_/_/tb.min.js.map")
	w.Write(m)
	w, _ = zw.Create("manifest.json")
	json.NewEncoder(w).Encode(map[string]any{"files": map[string]any{"files/_/_/tb.min.js.map": map[string]any{
		"url": "~/static/tb.min.js.map", "type": "source_map", "headers": map[string]string{"debug-id": debugID}}}})
	zw.Close()
	s := sha1.Sum(buf.Bytes())
	sum := hex.EncodeToString(s[:])
	if _, err := db.AddArtifactBundle([]int{pid}, sum, bytes.NewReader(buf.Bytes()), int64(buf.Len()), "", ""); err != nil {
		t.Fatal(err)
	}
	return sum
}

// The stack trace page shows a mapped frame at its original place with
// where it was in the minified file, and says why another frame is not
// mapped; the uploads page lists the bundle, and deleting it works.
func TestSourceMappedStacktraceAndUploads(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	const id = "c0ffee00-0000-4000-8000-000000000001"
	sum := uploadTraceback(t, s.db, s.project.ID, id)
	col := strings.Index(tracebackMin, "throw") + 1
	ev := `{"event_id":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1","platform":"javascript",
	 "exception":{"values":[{"type":"Error","value":"failed!","stacktrace":{"frames":[
	   {"filename":"https://shop.example/vendor.js","lineno":1,"colno":5,"function":"x","in_app":true},
	   {"filename":"https://shop.example/static/tb.min.js","lineno":1,"colno":` + strconv.Itoa(col) + `,"function":"e","in_app":true}]}}]},
	 "debug_meta":{"images":[{"type":"sourcemap","code_file":"https://shop.example/static/tb.min.js","debug_id":"` + id + `"}]}}`
	s.ingest(t, s.project.ID, []byte(ev))
	iss := s.issues(t, s.project.ID)[0]
	c := s.login(t, "admin")
	rec := s.do("GET", "/issues/"+strconv.Itoa(int(iss.ID))+"/event/last/", nil, c)
	body := rec.Body.String()
	for _, want := range []string{
		"test.js",
		"source-mapped from https://shop.example/static/tb.min.js:1:" + strconv.Itoa(col) + " in e (debug id " + id + ")",
		"throw new Error(&#39;failed!&#39;);",
		"not source-mapped: the event names no debug id for vendor.js",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("stack trace page lacks %q", want)
		}
	}

	rec = s.do("GET", "/projects/"+strconv.Itoa(s.project.ID)+"/uploads/", nil, c)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), id) || !strings.Contains(rec.Body.String(), "~/static/tb.min.js.map") {
		t.Fatalf("uploads page = %d:\n%s", rec.Code, rec.Body)
	}
	if !strings.Contains(rec.Body.String(), "last used") || strings.Contains(rec.Body.String(), "last used never") {
		t.Errorf("uploads page does not show the bundle's last use")
	}
	rec = s.do("POST", "/projects/"+strconv.Itoa(s.project.ID)+"/uploads/"+sum+"/delete/", nil, c, "Origin", "http://example.com", "Sec-Fetch-Site", "same-origin")
	if rec.Code != 303 {
		t.Fatalf("delete = %d %s", rec.Code, rec.Body)
	}
	if bs, _ := s.db.ArtifactBundles(s.project.ID); len(bs) != 0 {
		t.Errorf("%d bundles after delete", len(bs))
	}
	entries, _ := os.ReadDir(s.db.Dir() + "/artifacts")
	if len(entries) != 0 {
		t.Errorf("%d artifact bodies left after delete", len(entries))
	}
	rec = s.do("GET", "/issues/"+strconv.Itoa(int(iss.ID))+"/event/last/", nil, c)
	if !strings.Contains(rec.Body.String(), "no source map was uploaded for debug id "+id) {
		t.Errorf("after delete, the frame does not say its map is gone")
	}
}
