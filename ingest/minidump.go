package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"

	"github.com/tinysink/tinysink/store/attach"
)

// MinidumpField is the marker ingest adds to an event whose attachments
// hold a minidump: its value is the attachment's number. The digest
// processes the dump and removes the marker.
const MinidumpField = "tinysink_minidump"

// markMinidump adds the minidump marker to an event payload (a JSON
// object).
func markMinidump(payload []byte, n int) []byte {
	p := bytes.TrimSpace(payload)
	if len(p) < 2 || p[0] != '{' {
		return payload
	}
	rest := bytes.TrimSpace(p[1:])
	sep := ","
	if len(rest) > 0 && rest[0] == '}' {
		sep = ""
	}
	out := make([]byte, 0, len(p)+32)
	out = append(out, `{"`+MinidumpField+`":`+strconv.Itoa(n)+sep...)
	return append(out, rest...)
}

// Limits on the form fields sent with a minidump.
const (
	maxFormParts  = 64
	maxFieldBytes = 64 << 10
	maxFormBytes  = 512 << 10
)

// handleMinidump serves POST /api/{project_id}/minidump/: a multipart
// form (Breakpad, Crashpad, Electron) with the dump in
// upload_file_minidump, other files as attachments, and fields that make
// the event: `sentry` (the event as JSON), `sentry[key][sub]=value`, and
// plain fields (release, environment, dist; the rest go to extra). A body
// that is the dump itself is taken too.
func (h *Handler) handleMinidump(w http.ResponseWriter, r *http.Request) error {
	if h.attach == nil {
		return &ingestError{kind: notFound, msg: "Minidumps are not enabled on this server"}
	}
	project, b, release, err := h.admitBody(w, r, h.envelope)
	if err != nil {
		return err
	}
	defer b.Close()
	defer release()

	aw, err := h.attach.Begin(project)
	if err != nil {
		return &ingestError{kind: unavailable, msg: "Could not store the minidump; try again later", err: err}
	}
	defer aw.Abort() // a no-op once committed

	fields := map[string]string{}
	var order []string
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if strings.HasPrefix(mt, "multipart/") && params["boundary"] != "" {
		mr := multipart.NewReader(b, params["boundary"])
		formBytes := 0
		for parts := 0; ; parts++ {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return b.classifyForm(err)
			}
			if parts >= maxFormParts {
				return &ingestError{kind: tooLarge, msg: fmt.Sprintf("Too many form parts (at most %d)", maxFormParts)}
			}
			name := part.FormName()
			if part.FileName() != "" || name == "upload_file_minidump" {
				typ := attach.TypeAttachment
				if name == "upload_file_minidump" {
					typ = attach.TypeMinidump
				}
				if err := h.addFile(aw, part, part.FileName(), part.Header.Get("Content-Type"), typ); err != nil {
					return err
				}
				continue
			}
			v, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
			if err != nil {
				return b.classifyForm(err)
			}
			if len(v) > maxFieldBytes {
				return &ingestError{kind: tooLarge, msg: fmt.Sprintf("The form field %q is longer than %d bytes", truncate(name, 40), maxFieldBytes)}
			}
			if formBytes += len(v); formBytes > maxFormBytes {
				return &ingestError{kind: tooLarge, msg: fmt.Sprintf("The form fields take more than %d bytes", maxFormBytes)}
			}
			if _, dup := fields[name]; !dup {
				order = append(order, name)
			}
			fields[name] = string(v)
		}
	} else {
		// The dump as the whole body.
		if err := h.addFile(aw, b, "minidump.dmp", "application/octet-stream", attach.TypeMinidump); err != nil {
			return err
		}
	}
	dump, ok := aw.Minidump()
	if !ok {
		return malformedf("No minidump: send it in the form field upload_file_minidump")
	}
	b.Close()

	ev, err := minidumpEvent(fields, order)
	if err != nil {
		return err
	}
	payloadID, payload := prepareEvent(ev)
	var ids envelopeIDs
	id := ids.pick(payloadID)
	payload = markMinidump(payload, dump.N)
	if err := aw.Commit(id); err != nil {
		return &ingestError{kind: unavailable, msg: "Could not store the minidump; try again later", err: err}
	}
	if err := h.spoolEvent(r, project, id, payload); err != nil {
		h.attach.Delete(project, id)
		return err
	}
	return writeID(w, id)
}

// addFile stores one file part; a minidump must start with "MDMP".
func (h *Handler) addFile(aw *attach.Writer, r io.Reader, name, ctype, typ string) error {
	if typ == attach.TypeMinidump {
		br := bufio.NewReaderSize(r, 512)
		head, err := br.Peek(4)
		if err != nil && err != io.EOF {
			return malformedf("Could not read the minidump: %v", err)
		}
		if string(head) != "MDMP" {
			return malformedf("upload_file_minidump is not a minidump (it does not start with MDMP)")
		}
		r = br
		if name == "" {
			name = "minidump.dmp"
		}
	}
	if _, err := aw.Add(name, ctype, typ, r); err != nil {
		if errors.Is(err, attach.ErrTooLarge) {
			return &ingestError{kind: tooLarge, msg: err.Error()}
		}
		var me *http.MaxBytesError
		if errors.As(err, &me) {
			return tooLargeErr(limit{me.Limit, "MaxEnvelopeCompressedSize"})
		}
		if ie := (*ingestError)(nil); errors.As(err, &ie) {
			return ie
		}
		return malformedf("Could not read the file %q: %v", truncate(name, 40), err)
	}
	return nil
}

// classifyForm turns a multipart read error into an ingest error.
func (b *body) classifyForm(err error) error {
	var me *http.MaxBytesError
	if errors.As(err, &me) {
		return b.classify(err)
	}
	if ie := (*ingestError)(nil); errors.As(err, &ie) {
		return ie
	}
	return malformedf("The multipart form does not read: %v", err)
}

// minidumpEvent builds the event JSON from the form fields.
func minidumpEvent(fields map[string]string, order []string) ([]byte, error) {
	ev := map[string]any{}
	if s, ok := fields["sentry"]; ok {
		if err := json.Unmarshal([]byte(s), &ev); err != nil || ev == nil {
			return nil, malformedf("The form field sentry is not a JSON object")
		}
	}
	extra, _ := ev["extra"].(map[string]any)
	if extra == nil {
		extra = map[string]any{}
	}
	for _, name := range order {
		v := fields[name]
		switch {
		case name == "sentry":
		case strings.HasPrefix(name, "sentry["):
			path, ok := bracketPath(name[len("sentry"):])
			if !ok {
				extra[name] = v
				continue
			}
			setPath(ev, path, v)
		case name == "release" || name == "environment" || name == "dist":
			if _, set := ev[name]; !set {
				ev[name] = v
			}
		default:
			extra[name] = v
		}
	}
	if len(extra) > 0 {
		ev["extra"] = extra
	}
	if _, ok := ev["platform"]; !ok {
		ev["platform"] = "native"
	}
	if _, ok := ev["level"]; !ok {
		ev["level"] = "fatal"
	}
	delete(ev, MinidumpField)
	return json.Marshal(ev)
}

// bracketPath splits "[a][b]" into ["a", "b"].
func bracketPath(s string) ([]string, bool) {
	var out []string
	for len(s) > 0 {
		if s[0] != '[' {
			return nil, false
		}
		i := strings.IndexByte(s, ']')
		if i < 0 {
			return nil, false
		}
		out = append(out, s[1:i])
		s = s[i+1:]
		if len(out) > 8 {
			return nil, false
		}
	}
	return out, len(out) > 0
}

func setPath(m map[string]any, path []string, v string) {
	for _, k := range path[:len(path)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}
