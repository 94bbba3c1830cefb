package forward

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"strconv"

	"github.com/tinysink/tinysink/store/attach"
)

// minidumpField is the marker ingest puts at the start of an event whose
// attachments hold a minidump (ingest.MinidumpField, checked by a test):
// the upstream learns of the dump from its attachment item instead.
const minidumpField = "tinysink_minidump"

// stripMinidumpMark returns payload without ingest's minidump marker,
// which ingest writes as the object's first member.
func stripMinidumpMark(payload []byte) []byte {
	prefix := `{"` + minidumpField + `":`
	if !bytes.HasPrefix(payload, []byte(prefix)) {
		return payload
	}
	i := len(prefix)
	for i < len(payload) && payload[i] >= '0' && payload[i] <= '9' {
		i++
	}
	switch {
	case i < len(payload) && payload[i] == ',':
		return append([]byte{'{'}, payload[i+1:]...)
	case i < len(payload) && payload[i] == '}':
		return append([]byte{'{'}, payload[i:]...)
	}
	return payload
}

// AttachmentHeader is the item header of an attachment: Sentry's
// filename, content_type and attachment_type.
type AttachmentHeader struct {
	Filename, ContentType, Type string
}

// AppendAttachmentHeader appends the item header line of an attachment of
// length bytes; its payload and a newline follow it.
func AppendAttachmentHeader(dst []byte, h AttachmentHeader, length int64) []byte {
	dst = append(dst, `{"type":"attachment","length":`...)
	dst = strconv.AppendInt(dst, length, 10)
	dst = append(dst, `,"filename":`...)
	dst = appendQuoted(dst, h.Filename)
	if h.ContentType != "" {
		dst = append(dst, `,"content_type":`...)
		dst = appendQuoted(dst, h.ContentType)
	}
	if h.Type != "" {
		dst = append(dst, `,"attachment_type":`...)
		dst = appendQuoted(dst, h.Type)
	}
	return append(dst, "}\n"...)
}

// attachedBody is an event's envelope with its attachments: the event
// item in memory, each attachment read from its file as it is sent.
type attachedBody struct {
	files []*os.File
	parts []io.Reader
	size  int64
}

// openAttached opens the attachments of an event and returns the body of
// its envelope, whose start (header and event item) is head; nil when it
// has none. An attachment whose file is gone is left out.
func openAttached(s *attach.Store, project int, eventID string, head []byte) (*attachedBody, error) {
	items, err := s.List(project, eventID)
	if err != nil || len(items) == 0 {
		return nil, err
	}
	b := &attachedBody{parts: []io.Reader{bytes.NewReader(head)}, size: int64(len(head))}
	for _, it := range items {
		f, _, err := s.Open(project, eventID, it.N)
		if err != nil {
			continue
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			continue
		}
		h := AppendAttachmentHeader(nil, AttachmentHeader{Filename: it.Name, ContentType: it.ContentType, Type: it.Type}, fi.Size())
		b.files = append(b.files, f)
		b.parts = append(b.parts, bytes.NewReader(h), io.LimitReader(f, fi.Size()), bytes.NewReader(newline))
		b.size += int64(len(h)) + fi.Size() + 1
	}
	if len(b.files) == 0 {
		return nil, nil
	}
	return b, nil
}

var newline = []byte{'\n'}

// appendQuoted appends s as a JSON string.
func appendQuoted(dst []byte, s string) []byte {
	b, _ := json.Marshal(s)
	return append(dst, b...)
}

func (b *attachedBody) reader() io.Reader { return io.MultiReader(b.parts...) }

func (b *attachedBody) close() {
	for _, f := range b.files {
		f.Close()
	}
}
