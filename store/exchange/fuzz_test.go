package exchange

import (
	"archive/tar"
	"bytes"
	"errors"
	"testing"
)

// FuzzReader feeds arbitrary streams to the import reader and to Import
// into a real store (one per fuzzing process), seeded with real exports:
// each must return nil or an error, never panic or hang.
func FuzzReader(f *testing.F) {
	var buf bytes.Buffer
	db := openStore(f)
	if _, err := db.CreateProject("app"); err != nil {
		f.Fatal(err)
	}
	if _, err := ExportTar(db, &buf, "fuzz"); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(tarOf(f, map[string]string{
		"manifest.json":        `{"format":"tinysink-export","version":1}`,
		"projects.ndjson":      `{"slug":"app","name":"App"}` + "\n",
		"releases.ndjson":      `{"project":"app","version":"1.0"}` + "\n",
		"events/000001.ndjson": `{"project":"app","event_id":"0123456789abcdef0123456789abcdef"}` + "\n",
		"events/000001/0123456789abcdef0123456789abcdef.envelope": `{"event_id":"0123456789abcdef0123456789abcdef"}` + "\n" +
			`{"type":"event","length":2}` + "\n{}\n",
		"issues.ndjson": `{"project":"app","ref":"APP-1","groupings":[{"hash":"ab"}],"history":[{"kind":"comment","at":"2026-01-01T00:00:00Z"}]}` + "\n",
	}))
	f.Add([]byte("not a tar"))
	into := openStore(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := OpenStream(bytes.NewReader(b)); err == nil {
			Import(into, r)
		}
		r, err := OpenStream(bytes.NewReader(b))
		if err != nil {
			return
		}
		err = errors.Join(r.Projects(func(Project) error { return nil }),
			r.Releases(func(Release) error { return nil }),
			r.Events(func(Event, []byte, []byte) error { return nil }),
			r.Issues(func(Issue) error { return nil }))
		if err == nil {
			err = r.End()
		}
		_ = err
	})
}

// FuzzEnvelopeEvent reads arbitrary bytes as an envelope: its event and
// its attachments.
func FuzzEnvelopeEvent(f *testing.F) {
	f.Add(Envelope("0123456789abcdef0123456789abcdef", []byte(`{"message":"hi"}`)))
	f.Add([]byte("{}\n{\"type\":\"attachment\",\"length\":3}\nabc\n{\"type\":\"event\"}\n{}\n"))
	f.Add([]byte("{}\n{\"type\":\"event\",\"length\":-1}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, p, err := EnvelopeEvent(b)
		if err == nil && len(p) > len(b) {
			t.Fatalf("payload longer than the envelope")
		}
		as, err := EnvelopeAttachments(b)
		total := 0
		for _, a := range as {
			total += len(a.Data)
		}
		if err == nil && total > len(b) {
			t.Fatalf("attachments longer than the envelope")
		}
	})
}

func tarOf(t testing.TB, files map[string]string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range []string{"manifest.json", "projects.ndjson", "releases.ndjson", "events/000001.ndjson",
		"events/000001/0123456789abcdef0123456789abcdef.envelope", "issues.ndjson"} {
		s, ok := files[name]
		if !ok {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Size: int64(len(s)), Mode: 0o644, Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(s))
	}
	tw.Close()
	return buf.Bytes()
}
