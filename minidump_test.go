package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"

	"github.com/tinysink/tinysink/ui"
)

const (
	dumpDir   = "digest/minidump/testdata/"
	sampleDir = "digest/minidump/sample/"
)

// minidumpForm builds the multipart body Breakpad/Crashpad/Electron send.
func minidumpForm(t *testing.T, dump []byte, fields map[string]string, extraFile []byte) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("upload_file_minidump", "crash.dmp")
	fw.Write(dump)
	if extraFile != nil {
		fw, _ = mw.CreateFormFile("log", "app.log")
		fw.Write(extraFile)
	}
	mw.Close()
	return mw.FormDataContentType(), buf.Bytes()
}

type apiEventT struct {
	ID    string          `json:"event_id"`
	Issue string          `json:"issue"`
	Data  json.RawMessage `json:"data"`
}

// nativeEvent is the part of a stored native event the tests read.
type nativeEvent struct {
	Level     string                  `json:"level"`
	Release   string                  `json:"release"`
	Platform  string                  `json:"platform"`
	Tags      any                     `json:"tags"`
	Extra     map[string]any          `json:"extra"`
	Contexts  map[string]any          `json:"contexts"`
	Exception struct{ Values []excT } `json:"exception"`
	Threads   struct {
		Values []struct {
			ID      uint32 `json:"id"`
			Crashed bool   `json:"crashed"`
		} `json:"values"`
	} `json:"threads"`
	DebugMeta struct {
		Images []map[string]any `json:"images"`
	} `json:"debug_meta"`
}

type excT struct {
	Type       string `json:"type"`
	Value      string `json:"value"`
	Stacktrace struct {
		Frames []struct {
			Function        string `json:"function"`
			InstructionAddr string `json:"instruction_addr"`
			Trust           string `json:"trust"`
			Package         string `json:"package"`
		} `json:"frames"`
	} `json:"stacktrace"`
}

func (ts *testServer) apiDo(t *testing.T, method, path string, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, ts.base+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+ts.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (ts *testServer) nativeEvent(t *testing.T, id string) (apiEventT, nativeEvent) {
	t.Helper()
	var ev apiEventT
	if code := ts.apiGet(t, "/api/canonical/0/events/"+id+"/", &ev); code != 200 {
		t.Fatalf("GET event %s: %d", id, code)
	}
	var ne nativeEvent
	if err := json.Unmarshal(ev.Data, &ne); err != nil {
		t.Fatal(err)
	}
	return ev, ne
}

// uiGet fetches a UI page as the admin.
func (ts *testServer) uiGet(t *testing.T, path string) string {
	t.Helper()
	if ts.jar == nil {
		ts.jar, _ = cookiejar.New(nil)
		c := &http.Client{Jar: ts.jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.PostForm(ts.base+"/accounts/login/", neturl.Values{"name": {"admin"}, "password": {"test-password"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login: %d", resp.StatusCode)
		}
	}
	resp, err := (&http.Client{Jar: ts.jar}).Get(ts.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return string(b)
}

func gunzipFile(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A Breakpad form post of test.dmp is stored as a fatal native event with
// module+offset frames; once its symbols are uploaded, reprocessing gives
// frame 0 as `anonymous namespace'::CrashFunction; the dump and the other
// file are listed and downloadable.
func TestMinidumpEndToEnd(t *testing.T) {
	ts := startServer(t)
	p, err := ts.db.Project(1)
	if err != nil {
		t.Fatal(err)
	}
	dump, err := os.ReadFile(sampleDir + "test.dmp")
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("%s/api/1/minidump/?sentry_key=%s", ts.base, p.Key)
	ctype, body := minidumpForm(t, dump, map[string]string{
		"sentry[release]":   "app@1.0",
		"sentry[tags][foo]": "bar",
		"_productName":      "TestApp",
	}, []byte("log line\n"))
	code, resp := post(t, url, map[string]string{"Content-Type": ctype}, body)
	if code != 200 {
		t.Fatalf("POST minidump: %d %s", code, resp)
	}
	var idResp struct{ ID string }
	json.Unmarshal([]byte(resp), &idResp)
	ts.drain(t)

	apiEv, ne := ts.nativeEvent(t, idResp.ID)
	if ne.Level != "fatal" || ne.Release != "app@1.0" || ne.Platform != "native" {
		t.Errorf("level %q release %q platform %q", ne.Level, ne.Release, ne.Platform)
	}
	if osc, _ := ne.Contexts["os"].(map[string]any); osc["name"] != "Windows" {
		t.Errorf("os context = %v", ne.Contexts["os"])
	}
	if dev, _ := ne.Contexts["device"].(map[string]any); dev["arch"] != "x86" {
		t.Errorf("device context = %v", ne.Contexts["device"])
	}
	if len(ne.Threads.Values) != 2 || !ne.Threads.Values[0].Crashed {
		t.Errorf("threads = %+v", ne.Threads.Values)
	}
	if len(ne.DebugMeta.Images) != 13 || ne.DebugMeta.Images[0]["debug_id"] != "5a9832e5-2872-41c1-838e-d98914e9b7ff-1" {
		t.Errorf("images: %d, first %v", len(ne.DebugMeta.Images), ne.DebugMeta.Images[0])
	}
	if len(ne.Exception.Values) != 1 {
		t.Fatalf("exceptions = %+v", ne.Exception.Values)
	}
	exc := ne.Exception.Values[0]
	frames := exc.Stacktrace.Frames
	if exc.Type != "EXCEPTION_ACCESS_VIOLATION_WRITE" || !strings.HasPrefix(exc.Value, "Fatal Error: EXCEPTION_ACCESS_VIOLATION_WRITE") || len(frames) != 4 {
		t.Fatalf("exception = %+v", exc)
	}
	if top := frames[len(frames)-1]; top.Function != "test_app.exe+0x429e" || top.Trust != "context" || top.InstructionAddr != "0x0040429e" {
		t.Errorf("top frame = %+v", top)
	}
	if extra, _ := ne.Extra["minidump"].(map[string]any); extra == nil || !strings.Contains(fmt.Sprint(extra["missing_symbols"]), "5A9832E5287241C1838ED98914E9B7FF1") {
		t.Errorf("extra.minidump = %v", ne.Extra["minidump"])
	}
	if ne.Extra["_productName"] != "TestApp" {
		t.Errorf("extra = %v", ne.Extra)
	}

	// The attachments: the dump and the log, downloadable.
	var list struct {
		Results []struct {
			ID       int    `json:"id"`
			Name     string `json:"name"`
			Type     string `json:"attachment_type"`
			Size     int64  `json:"size"`
			Download string `json:"download"`
		} `json:"results"`
	}
	if code := ts.apiGet(t, "/api/canonical/0/events/"+idResp.ID+"/attachments/", &list); code != 200 || len(list.Results) != 2 {
		t.Fatalf("attachments: %d %+v", code, list)
	}
	if a := list.Results[0]; a.Type != "event.minidump" || a.Size != int64(len(dump)) {
		t.Errorf("attachment 0 = %+v", a)
	}
	code, got := ts.apiDo(t, "GET", strings.TrimPrefix(list.Results[0].Download, ts.base), nil)
	if code != 200 || !bytes.Equal(got, dump) {
		t.Errorf("download: %d, %d bytes (want %d)", code, len(got), len(dump))
	}

	// The issue page lists the attachments and says how to reprocess.
	page := ts.uiGet(t, "/issues/"+apiEv.Issue+"/event/last/")
	for _, want := range []string{"Symbols missing", "5A9832E5287241C1838ED98914E9B7FF1", "/reprocess/", "crash.dmp", "app.log", "attachments/0/", "test_app.exe&#43;0x429e", "0x0040429e", "found by frame pointer"} {
		if !strings.Contains(page, want) {
			t.Errorf("issue page lacks %q", want)
		}
	}
	if got := ts.uiGet(t, "/issues/"+apiEv.Issue+"/event/last/attachments/1/"); got != "log line\n" {
		t.Errorf("UI download = %q", got)
	}

	// The symbols, then reprocessing.
	code, got = ts.apiDo(t, "POST", "/api/canonical/0/symbols/", gunzipFile(t, sampleDir+"test_app.sym.gz"))
	if code != 201 {
		t.Fatalf("symbol upload: %d %s", code, got)
	}
	if page := ts.uiGet(t, "/issues/"+apiEv.Issue+"/event/last/"); !strings.Contains(page, "Symbols have been uploaded since") {
		t.Error("the issue page does not say the symbols arrived")
	}
	code, got = ts.apiDo(t, "POST", "/api/canonical/0/events/"+idResp.ID+"/reprocess/", nil)
	if code != 202 {
		t.Fatalf("reprocess: %d %s", code, got)
	}
	var re struct {
		EventID string `json:"event_id"`
	}
	json.Unmarshal(got, &re)
	ts.drain(t)
	_, ne2 := ts.nativeEvent(t, re.EventID)
	fr := ne2.Exception.Values[0].Stacktrace.Frames
	if len(fr) != 4 || fr[3].Function != "`anonymous namespace'::CrashFunction" || fr[2].Function != "main" {
		t.Errorf("reprocessed frames = %+v", fr)
	}
	if code := ts.apiGet(t, "/api/canonical/0/events/"+re.EventID+"/attachments/", &list); code != 200 || len(list.Results) != 2 {
		t.Errorf("reprocessed event's attachments: %d %+v", code, list)
	}

	// Bad input: 4xx with a JSON message.
	ctype, body = minidumpForm(t, []byte("not a dump"), nil, nil)
	if code, resp := post(t, url, map[string]string{"Content-Type": ctype}, body); code != 400 || !strings.Contains(resp, "MDMP") {
		t.Errorf("not a dump: %d %s", code, resp)
	}
	if code, resp := post(t, url, map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, []byte("--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb\r\n--x--\r\n")); code != 400 || !strings.Contains(resp, "upload_file_minidump") {
		t.Errorf("no dump: %d %s", code, resp)
	}
	ctype, body = minidumpForm(t, dump, nil, nil)
	if code, _ := post(t, fmt.Sprintf("%s/api/1/minidump/?sentry_key=wrong", ts.base), map[string]string{"Content-Type": ctype}, body); code != 403 && code != 401 {
		t.Errorf("wrong key: %d", code)
	}
	// A malformed dump with an MDMP header is stored with a note.
	bad, _ := os.ReadFile(dumpDir + "invalid-record-count.dmp")
	ctype, body = minidumpForm(t, bad, nil, nil)
	if code, resp := post(t, url, map[string]string{"Content-Type": ctype}, body); code != 200 {
		t.Errorf("partly malformed dump: %d %s", code, resp)
	}
	ts.drain(t)
}

// An envelope with a minidump attachment and no event becomes a native
// event; sentry-go's attachments are stored beside their event.
func TestEnvelopeAttachments(t *testing.T) {
	ts := startServer(t)
	p, err := ts.db.Project(1)
	if err != nil {
		t.Fatal(err)
	}
	dump, err := os.ReadFile(dumpDir + "linux-mini.dmp")
	if err != nil {
		t.Fatal(err)
	}
	id := newID()
	var env bytes.Buffer
	fmt.Fprintf(&env, `{"event_id":"%s"}`+"\n", id)
	fmt.Fprintf(&env, `{"type":"attachment","length":%d,"attachment_type":"event.minidump","filename":"linux.dmp"}`+"\n", len(dump))
	env.Write(dump)
	env.WriteString("\n")
	code, resp := post(t, fmt.Sprintf("%s/api/1/envelope/?sentry_key=%s", ts.base, p.Key), nil, env.Bytes())
	if code != 200 {
		t.Fatalf("envelope: %d %s", code, resp)
	}
	ts.drain(t)
	_, ne := ts.nativeEvent(t, id)
	if ne.Level != "fatal" || len(ne.Exception.Values) != 1 || ne.Exception.Values[0].Type != "SIGSEGV" {
		t.Errorf("event = %+v", ne)
	}
	if osc, _ := ne.Contexts["os"].(map[string]any); osc["version"] != "4.9.60-linuxkit-aufs" {
		t.Errorf("os = %v", ne.Contexts["os"])
	}

	// An event with a minidump beside it (Crashpad's macOS dump).
	cp, err := os.ReadFile(dumpDir + "simple-crashpad.dmp")
	if err != nil {
		t.Fatal(err)
	}
	id = newID()
	env.Reset()
	evJSON := `{"release":"mac@2","tags":{"k":"v"}}`
	fmt.Fprintf(&env, `{"event_id":"%s"}`+"\n", id)
	fmt.Fprintf(&env, `{"type":"event","length":%d}`+"\n%s\n", len(evJSON), evJSON)
	fmt.Fprintf(&env, `{"type":"attachment","length":%d,"attachment_type":"event.minidump","filename":"mac.dmp"}`+"\n", len(cp))
	env.Write(cp)
	code, resp = post(t, fmt.Sprintf("%s/api/1/envelope/?sentry_key=%s", ts.base, p.Key), nil, env.Bytes())
	if code != 200 {
		t.Fatalf("envelope: %d %s", code, resp)
	}
	ts.drain(t)
	_, ne = ts.nativeEvent(t, id)
	if ne.Release != "mac@2" || len(ne.Exception.Values) != 1 || ne.Exception.Values[0].Type != "EXC_CRASH / SIGABRT" ||
		!strings.Contains(ne.Exception.Values[0].Value, "abort() called") {
		t.Errorf("event = %+v", ne)
	}
	if mini, _ := ne.Extra["minidump"].(map[string]any); !strings.Contains(fmt.Sprint(mini["crashpad"]), "42F9DE72-518A-43DD-97D7-8DDC328D3662") {
		t.Errorf("extra.minidump = %v", ne.Extra["minidump"])
	}

	// sentry-go with an attachment.
	client, err := sentry.NewClient(sentry.ClientOptions{Dsn: ui.DSN(ts.base, p), Transport: sentry.NewHTTPSyncTransport()})
	if err != nil {
		t.Fatal(err)
	}
	hub := sentry.NewHub(client, sentry.NewScope())
	var evID *sentry.EventID
	hub.WithScope(func(scope *sentry.Scope) {
		scope.AddAttachment(&sentry.Attachment{Filename: "state.json", ContentType: "application/json", Payload: []byte(`{"cart":3}`)})
		evID = hub.CaptureMessage("checkout failed")
	})
	if !client.Flush(10*time.Second) || evID == nil {
		t.Fatal("sentry-go did not send")
	}
	ts.drain(t)
	var list struct {
		Results []struct {
			Name     string `json:"name"`
			Download string `json:"download"`
		} `json:"results"`
	}
	if code := ts.apiGet(t, "/api/canonical/0/events/"+string(*evID)+"/attachments/", &list); code != 200 || len(list.Results) != 1 || list.Results[0].Name != "state.json" {
		t.Fatalf("attachments: %d %+v", code, list)
	}
	code, got := ts.apiDo(t, "GET", strings.TrimPrefix(list.Results[0].Download, ts.base), nil)
	if code != 200 || string(got) != `{"cart":3}` {
		t.Errorf("download: %d %q", code, got)
	}
}

// A real sentry-cli uploads a Breakpad symbol file (chunk-upload, then
// difs/assemble); a dump sent afterwards is symbolicated at once, and one
// sent for a module without symbols says which are missing.
func TestSentryCLIDebugFiles(t *testing.T) {
	cli := findSentryCLI(t)
	ts := startServer(t)
	dir := t.TempDir()
	symDir := filepath.Join(dir, "test_app.pdb", "5A9832E5287241C1838ED98914E9B7FF1")
	os.MkdirAll(symDir, 0o755)
	if err := os.WriteFile(filepath.Join(symDir, "test_app.sym"), gunzipFile(t, sampleDir+"test_app.sym.gz"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(cli, "debug-files", "upload", "--type", "breakpad", "--wait", dir)
	cmd.Env = append(os.Environ(), "SENTRY_URL="+ts.base, "SENTRY_AUTH_TOKEN="+ts.token,
		"SENTRY_ORG=tinysink", "SENTRY_PROJECT=default", "SENTRY_DISABLE_UPDATE_CHECK=1", "SENTRY_LOAD_DOTENV=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sentry-cli debug-files upload: %v\n%s", err, out)
	}
	var list struct {
		Results []struct {
			DebugID string `json:"debug_id"`
		} `json:"results"`
	}
	if code := ts.apiGet(t, "/api/canonical/0/symbols/", &list); code != 200 || len(list.Results) != 1 || list.Results[0].DebugID != "5A9832E5287241C1838ED98914E9B7FF1" {
		t.Fatalf("symbols: %d %+v\n%s", code, list, out)
	}

	p, _ := ts.db.Project(1)
	dump, _ := os.ReadFile(sampleDir + "test.dmp")
	ctype, body := minidumpForm(t, dump, map[string]string{"sentry": `{"release":"r1","tags":{"k":"v"}}`}, nil)
	code, resp := post(t, fmt.Sprintf("%s/api/1/minidump/?sentry_key=%s", ts.base, p.Key), map[string]string{"Content-Type": ctype}, body)
	if code != 200 {
		t.Fatalf("minidump: %d %s", code, resp)
	}
	var idResp struct{ ID string }
	json.Unmarshal([]byte(resp), &idResp)
	ts.drain(t)
	_, ne := ts.nativeEvent(t, idResp.ID)
	fr := ne.Exception.Values[0].Stacktrace.Frames
	if len(fr) != 4 || fr[3].Function != "`anonymous namespace'::CrashFunction" || ne.Release != "r1" {
		t.Errorf("frames = %+v, release %q", fr, ne.Release)
	}
}
