package main

import (
	"archive/zip"
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinysink/tinysink/ui"
)

// findNodeTools returns the node binary and the node_modules directory
// holding esbuild and @sentry/node (jsModules: `make jssdk` installs them).
func findNodeTools(t *testing.T) (node, modules string) {
	t.Helper()
	modules = jsModules(t)
	node, _ = exec.LookPath("node")
	return node, modules
}

// appSource is the original program: three named functions, the innermost
// throwing. Line numbers matter to the assertions below.
const appSource = `function parseOrder(input) {
  if (!input.items) {
    throw new Error("order has no items");
  }
  return input.items.length;
}

function handleRequest(req) {
  const order = JSON.parse(req.body);
  return parseOrder(order);
}

module.exports = function main() {
  return handleRequest({ body: "{}" });
};
`

// runnerSource loads the bundle under a real @sentry/node and sends the
// error it throws.
const runnerSource = `const Sentry = require("@sentry/node");
Sentry.init({ dsn: process.env.DSN, release: process.env.RELEASE || undefined, defaultIntegrations: false });
const main = require(process.env.BUNDLE);
try { main(); } catch (e) { Sentry.captureException(e); }
Sentry.flush(5000).then((ok) => process.exit(ok ? 0 : 1));
`

// buildBundle writes the app, bundles and minifies it with esbuild (with a
// source map) and returns the dist directory.
func buildBundle(t *testing.T, modules string) (dir, dist string) {
	t.Helper()
	dir = t.TempDir()
	os.MkdirAll(filepath.Join(dir, "src"), 0o755)
	os.WriteFile(filepath.Join(dir, "src", "app.js"), []byte(appSource), 0o644)
	os.WriteFile(filepath.Join(dir, "runner.js"), []byte(runnerSource), 0o644)
	dist = filepath.Join(dir, "dist")
	cmd := exec.Command(filepath.Join(modules, ".bin", "esbuild"), "src/app.js", "--bundle", "--minify", "--sourcemap",
		"--platform=node", "--format=cjs", "--outfile=dist/app.js")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("esbuild: %v\n%s", err, out)
	}
	return dir, dist
}

func sentryCLI(t *testing.T, cli string, ts *testServer, project string, args ...string) string {
	t.Helper()
	cmd := exec.Command(cli, args...)
	cmd.Env = append(os.Environ(), "SENTRY_URL="+ts.base, "SENTRY_AUTH_TOKEN="+ts.token,
		"SENTRY_ORG=tinysink", "SENTRY_PROJECT="+project, "SENTRY_DISABLE_UPDATE_CHECK=1", "SENTRY_LOAD_DOTENV=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sentry-cli %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func runNode(t *testing.T, node, modules, dir string, env ...string) {
	t.Helper()
	cmd := exec.Command(node, "runner.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append(env, "NODE_PATH="+modules, "BUNDLE="+filepath.Join(dir, "dist", "app.js"))...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
}

// A real esbuild bundle, real `sentry-cli sourcemaps inject` and `upload`,
// and a real @sentry/node sending the error: the stored event's frames are
// mapped to the original file, line and function names.
func TestSourceMapsDebugIDEndToEnd(t *testing.T) {
	cli := findSentryCLI(t)
	node, modules := findNodeTools(t)
	ts := startServer(t)
	dir, dist := buildBundle(t, modules)
	sentryCLI(t, cli, ts, "default", "sourcemaps", "inject", dist)
	out := sentryCLI(t, cli, ts, "1", "sourcemaps", "upload", dist)
	t.Logf("upload: %s", out)
	p, _ := ts.db.Project(1)
	runNode(t, node, modules, dir, "DSN="+ui.DSN(ts.base, p))
	ts.drain(t)
	checkMapped(t, ts)
}

func checkMapped(t *testing.T, ts *testServer) {
	t.Helper()
	iss := ts.issues(t, 1)
	if len(iss) != 1 {
		t.Fatalf("%d issues, want 1", len(iss))
	}
	var evs listT[map[string]any]
	ts.apiGet(t, "/api/canonical/0/events/?issue="+iss[0].ID, &evs)
	if len(evs.Results) != 1 {
		t.Fatalf("%d events", len(evs.Results))
	}
	var ev map[string]any
	ts.apiGet(t, "/api/canonical/0/events/"+evs.Results[0]["event_id"].(string)+"/", &ev)
	data := ev["data"].(map[string]any)
	exc := data["exception"].(map[string]any)["values"].([]any)[0].(map[string]any)
	frames := exc["stacktrace"].(map[string]any)["frames"].([]any)
	byFn := map[string]map[string]any{}
	for _, f := range frames {
		fm := f.(map[string]any)
		if fn, _ := fm["function"].(string); fn != "" {
			byFn[fn] = fm
		}
	}
	// main is an anonymous function to the minifier (assigned to
	// module.exports), so that frame keeps the name the SDK gave it.
	want := map[string]float64{"parseOrder": 3, "handleRequest": 10, "module.exports": 14}
	for fn, line := range want {
		f := byFn[fn]
		if f == nil {
			t.Errorf("no frame of function %s; frames: %v", fn, frames)
			continue
		}
		if !strings.HasSuffix(f["filename"].(string), "src/app.js") || f["lineno"] != line {
			t.Errorf("frame %s at %v:%v, want src/app.js:%v", fn, f["filename"], f["lineno"], line)
		}
	}
	if f := byFn["parseOrder"]; f != nil {
		if cl, _ := f["context_line"].(string); !strings.Contains(cl, `throw new Error("order has no items")`) {
			t.Errorf("context_line = %q", cl)
		}
		if pre, _ := f["pre_context"].([]any); len(pre) != 2 {
			t.Errorf("pre_context = %v, want the 2 lines above", pre)
		}
		note, _ := f["data"].(map[string]any)["sourcemap"].(map[string]any)
		min, _ := note["minified"].(map[string]any)
		if note["status"] != "mapped" || min == nil || !strings.HasSuffix(min["filename"].(string), "dist/app.js") || min["lineno"] == nil || min["colno"] == nil {
			t.Errorf("data.sourcemap = %v, want mapped with the minified position", note)
		}
	}
	md, _ := ev["stacktrace_md"].(string)
	if !strings.Contains(md, "parseOrder") || !strings.Contains(md, "src/app.js") || !strings.Contains(md, "source-mapped from ") {
		t.Errorf("stacktrace_md does not show the mapped frames:\n%s", md)
	}
}

// The release-based flow: a bundle without debug ids uploaded with
// `sourcemaps upload --release`, matched by the frame's path to the
// uploaded ~/ URL.
func TestSourceMapsReleaseEndToEnd(t *testing.T) {
	cli := findSentryCLI(t)
	node, modules := findNodeTools(t)
	ts := startServer(t)
	dir, dist := buildBundle(t, modules)
	sentryCLI(t, cli, ts, "default", "sourcemaps", "upload", "--release", "shop@2.0.0", dist)
	p, _ := ts.db.Project(1)
	runNode(t, node, modules, dir, "DSN="+ui.DSN(ts.base, p), "RELEASE=shop@2.0.0")
	ts.drain(t)
	checkMapped(t, ts)
}

// TestSourceMapTitleThroughServer: the running server's digest titles a
// synthetic exception without a message, thrown in a minified file whose
// map the project uploaded, by the mapped function (the digest shares the
// pages' mapper); the API shows it. No node needed: the bundle is stored
// through the store API, the event posted over HTTP.
func TestSourceMapTitleThroughServer(t *testing.T) {
	ts := startServer(t, noQuota...)
	p, err := ts.db.Project(1)
	if err != nil {
		t.Fatal(err)
	}
	const debugID, url = "cccccccc-0000-4000-8000-000000000001", "https://shop.example/static/traceback.min.js"
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("digest", "sourcemap", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	min := read("traceback.min.js")
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	man := map[string]any{}
	for path, f := range map[string]struct {
		url, typ string
		body     []byte
	}{
		"a/traceback.min.js":     {"~/static/traceback.min.js", "minified_source", min},
		"a/traceback.min.js.map": {"~/static/traceback.min.js.map", "source_map", read("traceback.min.map")},
	} {
		w, _ := zw.Create(path)
		w.Write(f.body)
		man[path] = map[string]any{"url": f.url, "type": f.typ, "headers": map[string]string{"debug-id": debugID}}
	}
	w, _ := zw.Create("manifest.json")
	json.NewEncoder(w).Encode(map[string]any{"files": man})
	zw.Close()
	sum := sha1.Sum(buf.Bytes())
	if _, err := ts.db.AddArtifactBundle([]int{p.ID}, hex.EncodeToString(sum[:]), bytes.NewReader(buf.Bytes()), int64(buf.Len()), "", ""); err != nil {
		t.Fatal(err)
	}
	frame := func(fn, at string) map[string]any {
		return map[string]any{"filename": url, "abs_path": url, "lineno": 1, "colno": strings.Index(string(min), at) + 1, "function": fn, "in_app": true}
	}
	body, _ := json.Marshal(map[string]any{
		"event_id": newID(), "platform": "javascript",
		"exception": map[string]any{"values": []any{map[string]any{
			"mechanism":  map[string]any{"type": "generic", "synthetic": true},
			"stacktrace": map[string]any{"frames": []any{frame("r", "e}else"), frame("e", "throw")}},
		}}},
		"debug_meta": map[string]any{"images": []any{map[string]any{"type": "sourcemap", "code_file": url, "debug_id": debugID}}},
	})
	hdr := map[string]string{"X-Sentry-Auth": "Sentry sentry_version=7, sentry_key=" + p.Key, "Content-Type": "application/json"}
	if code, resp := post(t, fmt.Sprintf("%s/api/%d/store/", ts.base, p.ID), hdr, body); code != 200 {
		t.Fatalf("store: %d %s", code, resp)
	}
	ts.drain(t)
	iss := ts.issues(t, p.ID)
	if len(iss) != 1 || iss[0].Title != "onFailure" {
		t.Errorf("issues = %+v, want one titled onFailure (the mapped name of the minified e)", iss)
	}
}
