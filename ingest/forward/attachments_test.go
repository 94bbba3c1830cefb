package forward

import (
	"testing"

	"github.com/tinysink/tinysink/ingest"
)

func TestStripMinidumpMark(t *testing.T) {
	if minidumpField != ingest.MinidumpField || EventsPerEnvelopeHeader != ingest.EventsPerEnvelopeHeader {
		t.Fatalf("the names ingest uses changed: %q %q", ingest.MinidumpField, ingest.EventsPerEnvelopeHeader)
	}
	for in, want := range map[string]string{
		`{"tinysink_minidump":0,"level":"fatal"}`: `{"level":"fatal"}`,
		`{"tinysink_minidump":12}`:                `{}`,
		`{"level":"fatal"}`:                       `{"level":"fatal"}`,
		`{"tinysink_minidump":"x","a":1}`:         `{"tinysink_minidump":"x","a":1}`,
	} {
		if got := string(stripMinidumpMark([]byte(in))); got != want {
			t.Errorf("stripMinidumpMark(%s) = %s, want %s", in, got, want)
		}
	}
	got := string(AppendAttachmentHeader(nil, AttachmentHeader{Filename: `a "b".dmp`, ContentType: "application/octet-stream", Type: "event.minidump"}, 42))
	want := `{"type":"attachment","length":42,"filename":"a \"b\".dmp","content_type":"application/octet-stream","attachment_type":"event.minidump"}` + "\n"
	if got != want {
		t.Errorf("AppendAttachmentHeader = %s, want %s", got, want)
	}
}
