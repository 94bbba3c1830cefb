package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const chunkPath = "/api/0/organizations/acme/chunk-upload/"

func sha1Of(b []byte) string {
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}

// postChunks sends parts (form name → [filename, bytes]) as sentry-cli does.
func postChunks(t *testing.T, srv *httptest.Server, tok string, parts ...[3]string) (int, map[string]any) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, p := range parts {
		fw, _ := mw.CreateFormFile(p[0], p[1])
		io.WriteString(fw, p[2])
	}
	mw.Close()
	req, _ := http.NewRequest("POST", srv.URL+chunkPath, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func gz(s string) string {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	io.WriteString(zw, s)
	zw.Close()
	return b.String()
}

func TestChunkUpload(t *testing.T) {
	t.Parallel()
	srv, db, tok := apiServer(t)
	code, opts := call(t, srv, tok, "GET", chunkPath, "")
	if code != 200 || opts["hashAlgorithm"] != "sha1" || opts["url"] != srv.URL+chunkPath {
		t.Fatalf("GET chunk-upload = %d %v", code, opts)
	}
	if code, _ := call(t, srv, "", "GET", chunkPath, ""); code != 401 {
		t.Errorf("GET chunk-upload without a token = %d, want 401", code)
	}
	plain, zipped := "plain chunk bytes", "gzipped chunk bytes"
	code, m := postChunks(t, srv, tok, [3]string{"file", sha1Of([]byte(plain)), plain}, [3]string{"file_gzip", sha1Of([]byte(zipped)), gz(zipped)})
	if code != 200 {
		t.Fatalf("POST chunks = %d %v", code, m)
	}
	missing, _ := db.MissingChunks([]string{sha1Of([]byte(plain)), sha1Of([]byte(zipped))})
	if len(missing) != 0 {
		t.Errorf("chunks missing after upload: %v", missing)
	}

	for _, tt := range []struct {
		name  string
		parts [][3]string
		want  int
	}{
		{"wrong checksum", [][3]string{{"file", sha1Of([]byte("other")), plain}}, 400},
		{"not a checksum", [][3]string{{"file", "../../x", plain}}, 400},
		{"gzip part that is not gzip", [][3]string{{"file_gzip", sha1Of([]byte(plain)), plain}}, 400},
		{"truncated gzip", [][3]string{{"file_gzip", sha1Of([]byte(zipped)), gz(zipped)[:15]}}, 400},
		{"too many chunks", [][3]string{{"file", sha1Of([]byte("1")), "1"}, {"file", sha1Of([]byte("2")), "2"}, {"file", sha1Of([]byte("3")), "3"}, {"file", sha1Of([]byte("4")), "4"}, {"file", sha1Of([]byte("5")), "5"}}, 400},
	} {
		code, m := postChunks(t, srv, tok, tt.parts...)
		if code != tt.want || m["detail"] == nil {
			t.Errorf("%s: POST = %d %v, want %d with a detail", tt.name, code, m, tt.want)
		}
	}
	if code, m := call(t, srv, tok, "POST", chunkPath, "not multipart"); code != 400 {
		t.Errorf("POST a plain body = %d %v, want 400", code, m)
	}
}

const assemblePath = "/api/0/organizations/acme/artifactbundle/assemble/"

// assemble answers the missing chunks first, then assembles; a chunk set
// that is not an artifact bundle gets a 400 saying why.
func TestArtifactAssemble(t *testing.T) {
	t.Parallel()
	srv, db, tok := apiServer(t)
	notZip := "this is not a zip file"
	sum := sha1Of([]byte(notZip))
	body := `{"checksum":"` + sum + `","chunks":["` + sum + `"],"projects":["web"]}`
	code, m := call(t, srv, tok, "POST", assemblePath, body)
	if code != 200 || m["state"] != "not_found" || len(m["missingChunks"].([]any)) != 1 {
		t.Fatalf("assemble before upload = %d %v, want not_found with the chunk missing", code, m)
	}
	postChunks(t, srv, tok, [3]string{"file", sum, notZip})
	if code, m = call(t, srv, tok, "POST", assemblePath, body); code != 400 || m["state"] != "error" || !strings.Contains(m["detail"].(string), "not a zip") {
		t.Errorf("assemble of a non-zip = %d %v, want 400 with state error", code, m)
	}
	for _, bad := range []string{
		`{"checksum":"` + sum + `","chunks":["` + sum + `"],"projects":["nope"]}`,
		`{"checksum":"` + sum + `","chunks":["` + sum + `"]}`,
		`{"checksum":"xyz","chunks":[],"projects":[1]}`,
		`{"checksum":"` + sum + `","chunks":["../x"],"projects":[1]}`,
		`{"checksum":`,
	} {
		if code, m := call(t, srv, tok, "POST", assemblePath, bad); code != 400 || m["detail"] == nil {
			t.Errorf("assemble %s = %d %v, want 400 with a detail", bad, code, m)
		}
	}
	if bs, _ := db.ArtifactBundles(1); len(bs) != 0 {
		t.Errorf("%d bundles stored from bad input", len(bs))
	}
}
