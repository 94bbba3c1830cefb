package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tinysink/tinysink/store/attach"
)

// sentAttachment is an attachment as a test sent it.
type sentAttachment struct {
	name, ctype, typ string
	data             []byte
}

// attachmentEnvelope returns an envelope of event id with atts as
// attachment items.
func attachmentEnvelope(id, msg string, atts []sentAttachment) []byte {
	var env bytes.Buffer
	ev := fmt.Sprintf(`{"event_id":"%s","platform":"native","message":%q}`, id, msg)
	fmt.Fprintf(&env, `{"event_id":"%s"}`+"\n"+`{"type":"event","length":%d}`+"\n%s\n", id, len(ev), ev)
	for _, a := range atts {
		fmt.Fprintf(&env, `{"type":"attachment","length":%d,"filename":%q,"content_type":%q,"attachment_type":%q}`+"\n", len(a.data), a.name, a.ctype, a.typ)
		env.Write(a.data)
		env.WriteString("\n")
	}
	return env.Bytes()
}

// sameAttachments checks that the event id of project pid in the data
// directory dir has exactly want, byte for byte, in order.
func sameAttachments(t *testing.T, dir string, pid int, id string, want []sentAttachment) {
	t.Helper()
	as, err := attach.Open(filepath.Join(dir, "attachments"))
	if err != nil {
		t.Fatal(err)
	}
	items, err := as.List(pid, id)
	if err != nil || len(items) != len(want) {
		t.Fatalf("event %s has attachments %+v (%v), want %d", id, items, err, len(want))
	}
	for i, it := range items {
		w := want[i]
		if it.Name != w.name || it.ContentType != w.ctype || it.Type != w.typ {
			t.Errorf("event %s attachment %d = %+v, want %s %s %s", id, i, it, w.name, w.ctype, w.typ)
		}
		f, _, err := as.Open(pid, id, it.N)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(f)
		f.Close()
		if !bytes.Equal(got, w.data) {
			t.Errorf("event %s attachment %s: %d bytes differ from the %d sent", id, it.Name, len(got), len(w.data))
		}
	}
}

// testAttachments are an event's minidump and a plain attachment.
func testAttachments(t *testing.T) []sentAttachment {
	dump, err := os.ReadFile(dumpDir + "linux-mini.dmp")
	if err != nil {
		t.Fatal(err)
	}
	return []sentAttachment{
		{"linux.dmp", "application/octet-stream", attach.TypeMinidump, dump},
		{"state.json", "application/json", attach.TypeAttachment, []byte("{\"cart\":3}\n\x00\xff binary too")},
	}
}

// A storing tinysink forwards an event's minidump and attachment with it,
// and so does the minidump endpoint's form post: the upstream stores both
// attachments byte for byte, and processes the dump.
func TestForwardAttachments(t *testing.T) {
	up := startServer(t, noQuota...)
	fw := startServer(t, append(noQuota, "-forward-dsn", upstreamDSN(t, up))...)
	p, _ := fw.db.Project(1)
	atts := testAttachments(t)
	id := newID()
	if code, body := post(t, fmt.Sprintf("%s/api/1/envelope/?sentry_key=%s", fw.base, p.Key), nil, attachmentEnvelope(id, "with attachments", atts)); code != 200 {
		t.Fatalf("envelope: %d %s", code, body)
	}
	ctype, form := minidumpForm(t, atts[0].data, map[string]string{"sentry[release]": "app@1.0"}, []byte("log line\n"))
	code, body := post(t, fmt.Sprintf("%s/api/1/minidump/?sentry_key=%s", fw.base, p.Key), map[string]string{"Content-Type": ctype}, form)
	if code != 200 {
		t.Fatalf("minidump: %d %s", code, body)
	}
	formID := minidumpID(t, body)
	arrived(t, up, []string{id, formID})
	sameAttachments(t, up.db.Dir(), 1, id, atts)
	sameAttachments(t, up.db.Dir(), 1, formID, []sentAttachment{
		{"crash.dmp", "application/octet-stream", attach.TypeMinidump, atts[0].data},
		{"app.log", "application/octet-stream", attach.TypeAttachment, []byte("log line\n")},
	})
	_, ne := up.nativeEvent(t, id)
	if len(ne.Exception.Values) != 1 || ne.Exception.Values[0].Type != "SIGSEGV" {
		t.Errorf("the upstream did not process the forwarded dump: %+v", ne)
	}
	_, ne = up.nativeEvent(t, formID)
	if ne.Release != "app@1.0" || ne.Level != "fatal" {
		t.Errorf("the form post's event upstream = %+v", ne)
	}
}

// A relay keeps an event's attachments until the event is forwarded, then
// deletes them; the upstream gets them byte for byte.
func TestRelayForwardsAttachments(t *testing.T) {
	up := startServer(t, noQuota...)
	dsn := upstreamDSN(t, up)
	dir := t.TempDir()
	r, _ := startRelay(t, dir, "-forward-dsn", dsn)
	p, _ := up.db.Project(1)
	atts := testAttachments(t)
	id := newID()
	if code, body := post(t, fmt.Sprintf("http://%s/api/1/envelope/?sentry_key=%s", r.Addr(), p.Key), nil, attachmentEnvelope(id, "via the relay", atts)); code != 200 {
		t.Fatalf("envelope: %d %s", code, body)
	}
	arrived(t, up, []string{id})
	sameAttachments(t, up.db.Dir(), 1, id, atts)
	waitFor(t, 10*time.Second, "the relay to delete the forwarded attachments", func() bool {
		_, err := os.Stat(filepath.Join(dir, "attachments", "1", id))
		return os.IsNotExist(err)
	})
}

// minidumpID returns the event id of the minidump endpoint's answer.
func minidumpID(t *testing.T, body string) string {
	t.Helper()
	var r struct{ ID string }
	if err := json.Unmarshal([]byte(body), &r); err != nil || len(r.ID) != 32 {
		t.Fatalf("minidump answer %q", body)
	}
	return r.ID
}
