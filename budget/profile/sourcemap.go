package profile

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
)

// The "+ first source-mapped event" stage: a bundle of a generated
// minified file and its map (1,000 functions, with sourcesContent) goes up
// through sentry-cli's chunk-upload and assemble endpoints, an event whose
// frames point into it comes in through ingest, and the API shows it
// mapped (which loads the decoder and its cache).

const smDebugID = "5e0f1b2a-0000-4000-8000-00000000b0d6"

// smFiles returns a minified file and its source map: one line of 1,000
// one-letter functions, each mapped to its own line and name.
func smFiles() (minified, sourceMap []byte) {
	const n = 1000
	var min, src, mappings strings.Builder
	var names []string
	min.WriteString("!function(){")
	prevCol, prevLine, prevName := 0, 0, 0
	for i := 0; i < n; i++ {
		col := min.Len()
		fmt.Fprintf(&min, "function a%d(){return b%d()}", i, i)
		fmt.Fprintf(&src, "function handler%d() {\n  return compute%d();\n}\n", i, i)
		names = append(names, fmt.Sprintf("handler%d", i))
		if i > 0 {
			mappings.WriteByte(',')
		}
		line := 3 * i
		mappings.WriteString(vlq(col-prevCol) + vlq(0) + vlq(line-prevLine) + vlq(0) + vlq(i-prevName))
		prevCol, prevLine, prevName = col, line, i
	}
	min.WriteString("}();\n")
	m, _ := json.Marshal(map[string]any{"version": 3, "file": "app.min.js", "sources": []string{"src/app.js"},
		"sourcesContent": []string{src.String()}, "names": names, "mappings": mappings.String()})
	return []byte(min.String()), m
}

func vlq(v int) string {
	const digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	u := v << 1
	if v < 0 {
		u = (-v << 1) | 1
	}
	var b []byte
	for {
		d := u & 31
		u >>= 5
		if u > 0 {
			d |= 32
		}
		b = append(b, digits[d])
		if u == 0 {
			return string(b)
		}
	}
}

// sourceMapped uploads the bundle, sends an event into it and reads the
// event back through the API.
func (s *session) sourceMapped() error {
	min, sm := smFiles()
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	files := map[string]any{}
	for name, body := range map[string][]byte{"app.min.js": min, "app.min.js.map": sm} {
		w, _ := zw.Create(name)
		w.Write(body)
		typ := "minified_source"
		if strings.HasSuffix(name, ".map") {
			typ = "source_map"
		}
		files[name] = map[string]any{"url": "~/" + name, "type": typ, "headers": map[string]string{"debug-id": smDebugID}}
	}
	w, _ := zw.Create("manifest.json")
	json.NewEncoder(w).Encode(map[string]any{"files": files})
	zw.Close()
	sum := sha1.Sum(zbuf.Bytes())
	checksum := hex.EncodeToString(sum[:])

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	part, _ := mw.CreateFormFile("file", checksum)
	part.Write(zbuf.Bytes())
	mw.Close()
	if err := s.cliPost("/api/0/organizations/o/chunk-upload/", mw.FormDataContentType(), &body, nil); err != nil {
		return err
	}
	var out struct {
		State string `json:"state"`
	}
	assemble, _ := json.Marshal(map[string]any{"checksum": checksum, "chunks": []string{checksum}, "projects": []int{1}})
	if err := s.cliPost("/api/0/organizations/o/artifactbundle/assemble/", "application/json", bytes.NewReader(assemble), &out); err != nil {
		return err
	}
	if out.State != "ok" {
		return fmt.Errorf("assemble: state %q", out.State)
	}

	var frames []map[string]any
	for i := 0; i < 20; i++ {
		col := bytes.Index(min, []byte(fmt.Sprintf("function a%d(", i*37))) + 1
		frames = append(frames, map[string]any{"filename": "https://app.example/app.min.js", "lineno": 1, "colno": col, "function": "a", "in_app": true})
	}
	// A new event id each run: a rerun on a kept installation would
	// otherwise send a duplicate, which is never stored.
	var idb [16]byte
	rand.Read(idb[:])
	eventID := hex.EncodeToString(idb[:])
	ev, _ := json.Marshal(map[string]any{"event_id": eventID, "platform": "javascript",
		"exception":  map[string]any{"values": []any{map[string]any{"type": "TypeError", "value": "x is undefined", "stacktrace": map[string]any{"frames": frames}}}},
		"debug_meta": map[string]any{"images": []any{map[string]any{"type": "sourcemap", "code_file": "https://app.example/app.min.js", "debug_id": smDebugID}}}})
	req, _ := http.NewRequest("POST", s.base+"/api/1/store/?sentry_key="+s.key, bytes.NewReader(ev))
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("source-mapped event: %s", resp.Status)
	}
	s.sent.Add(1)
	if err := s.waitStored(); err != nil {
		return err
	}
	var got struct {
		Data struct {
			Exception struct {
				Values []struct {
					Stacktrace struct {
						Frames []struct {
							Filename string `json:"filename"`
						} `json:"frames"`
					} `json:"stacktrace"`
				} `json:"values"`
			} `json:"exception"`
		} `json:"data"`
	}
	if err := s.getJSON("/api/canonical/0/events/"+eventID+"/", &got); err != nil {
		return err
	}
	if v := got.Data.Exception.Values; len(v) == 0 || len(v[0].Stacktrace.Frames) == 0 || v[0].Stacktrace.Frames[0].Filename != "src/app.js" {
		return fmt.Errorf("the source-mapped event's frames were not mapped: %+v", got.Data.Exception)
	}
	return nil
}

// cliPost posts to a sentry-cli endpoint and decodes the JSON answer into v.
func (s *session) cliPost(path, ctype string, body io.Reader, v any) error {
	req, _ := http.NewRequest("POST", s.base+path, body)
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("POST %s: %s %s", path, resp.Status, b)
	}
	if v != nil {
		return json.NewDecoder(resp.Body).Decode(v)
	}
	return nil
}
