// Package exchange writes a tinysink installation's data as a portable
// export and reads it back: into another installation (Import), or into
// any Sentry-compatible server over HTTP (Forward).
//
// An export is a directory, or the same files as one tar stream (for
// `tinysink export -`), in this order:
//
//	manifest.json                 Manifest: format name and version, when, by what
//	projects.ndjson               one Project per line
//	releases.ndjson               one Release per line, oldest first per project
//	events/000001.ndjson          the index of up to 1000 events: one Event per line
//	events/000001/<id>.envelope   each event as a Sentry envelope: its event item,
//	                              then its attachments (minidumps included) as
//	                              attachment items, byte for byte
//	events/000002.ndjson          the next chunk, and so on
//	issues.ndjson                 one Issue per line: state, groupings, history
//
// Events are in digest order, so an import creates issues in the order
// (and with the SLUG-N numbers) of the source. Each envelope holds the
// event as stored: normalised and scrubbed. A reader holds one index chunk
// at a time, so neither side's memory grows with the size of the export;
// in the tar stream each chunk's index comes just before its envelopes, so
// a stream is imported as it is read, and `tar x` of the stream gives the
// directory.
package exchange

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/tinysink/tinysink/store"
	"github.com/tinysink/tinysink/store/attach"
)

// Format names an export in its manifest; Version is its layout version.
const (
	Format  = "tinysink-export"
	Version = 1
)

// ChunkSize is the number of events per index chunk.
const ChunkSize = 1000

// The limits a reader holds an export to.
const (
	maxLine     = 4 << 20                              // one NDJSON line (an issue with its history)
	maxEnvelope = attach.DefaultMaxEventBytes + 64<<20 // one envelope file, with its attachments
	maxMeta     = 1 << 20                              // manifest.json
)

// ErrFormat is wrapped by every error about the content of an export.
var ErrFormat = errors.New("exchange: not a valid export")

// Manifest is manifest.json.
type Manifest struct {
	Format  string    `json:"format"`
	Version int       `json:"version"`
	Created time.Time `json:"created"`
	// Tinysink is the version of the tinysink that wrote the export.
	Tinysink string `json:"tinysink,omitempty"`
}

// Project is one line of projects.ndjson.
type Project struct {
	Slug      string    `json:"slug"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Release is one line of releases.ndjson.
type Release struct {
	Project       string    `json:"project"` // slug
	Version       string    `json:"version"`
	DateReleased  time.Time `json:"date_released"`
	SortEpoch     int       `json:"sort_epoch"`
	DateFinalized time.Time `json:"date_finalized,omitzero"`
	Deploys       []Deploy  `json:"deploys,omitempty"`
}

// Deploy is a release's deploy.
type Deploy struct {
	Environment  string    `json:"environment"`
	Name         string    `json:"name,omitempty"`
	URL          string    `json:"url,omitempty"`
	DateStarted  time.Time `json:"date_started,omitzero"`
	DateFinished time.Time `json:"date_finished"`
}

// Event is one line of an index chunk.
type Event struct {
	Project    string    `json:"project"` // slug
	EventID    string    `json:"event_id"`
	Issue      string    `json:"issue"` // the source's SLUG-N
	IngestedAt time.Time `json:"ingested_at"`
	Timestamp  time.Time `json:"timestamp"`
	// File is the envelope's name in the export, for people and tools;
	// readers derive it from the chunk and the event id.
	File string `json:"file"`
}

// Issue is one line of issues.ndjson.
type Issue struct {
	Project string `json:"project"` // slug
	Ref     string `json:"ref"`     // SLUG-N in the source
	Title   string `json:"title"`
	store.ExportedIssue
	Groupings []Grouping           `json:"groupings"`
	History   []store.HistoryEntry `json:"history"`
}

// Grouping is a grouping key of an issue: the sha256 hex of the key
// (as the store keys it) leads an import to the issue its events made.
type Grouping struct {
	Hash      string `json:"hash"`
	Key       string `json:"key"`
	Mechanism string `json:"mechanism,omitempty"`
}

func chunkName(n int) string { return fmt.Sprintf("events/%06d.ndjson", n) }
func envelopeName(n int, id string) string {
	return fmt.Sprintf("events/%06d/%s.envelope", n, id)
}

// validID reports whether s is 32 lowercase hex digits, an event id as
// the store writes it (and so safe in a file name).
func validID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Envelope returns a Sentry envelope holding one event item.
func Envelope(eventID string, body []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(body) + 128)
	b.WriteString(`{"event_id":"` + eventID + `"}` + "\n")
	b.WriteString(`{"type":"event","length":` + strconv.Itoa(len(body)) + `,"content_type":"application/json"}` + "\n")
	b.Write(body)
	b.WriteByte('\n')
	return b.Bytes()
}

// EnvelopeEvent returns the event id of the envelope's header and the
// payload of its event item. It reads Sentry's envelope framing: a header
// line, then items, each a header line and a payload of the header's
// length or, without one, up to the next newline.
func EnvelopeEvent(env []byte) (id string, payload []byte, err error) {
	id, err = envelopeItems(env, func(h itemHeader, p []byte) bool {
		if h.Type == "event" {
			payload = p
			return false
		}
		return true
	})
	if err == nil && payload == nil {
		err = fmt.Errorf("%w: the envelope holds no event item", ErrFormat)
	}
	return id, payload, err
}

// Attachment is an attachment item of an envelope.
type Attachment struct {
	Filename    string
	ContentType string
	Type        string // attachment_type; "" is event.attachment
	Data        []byte // aliases the envelope
}

// EnvelopeAttachments returns the attachment items of an envelope.
func EnvelopeAttachments(env []byte) ([]Attachment, error) {
	var as []Attachment
	_, err := envelopeItems(env, func(h itemHeader, p []byte) bool {
		if h.Type == "attachment" {
			as = append(as, Attachment{Filename: h.Filename, ContentType: h.ContentType, Type: h.AttachmentType, Data: p})
		}
		return true
	})
	return as, err
}

// itemHeader is the part of an envelope item header an export uses.
type itemHeader struct {
	Type           string `json:"type"`
	Length         *int64 `json:"length"`
	Filename       string `json:"filename"`
	ContentType    string `json:"content_type"`
	AttachmentType string `json:"attachment_type"`
}

// envelopeItems calls fn with each item of env, until fn returns false,
// and returns the event id of the envelope's header.
func envelopeItems(env []byte, fn func(h itemHeader, payload []byte) bool) (string, error) {
	line := func() []byte {
		i := bytes.IndexByte(env, '\n')
		if i < 0 {
			l := env
			env = nil
			return l
		}
		l := env[:i]
		env = env[i+1:]
		return l
	}
	var h struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(line(), &h); err != nil {
		return "", fmt.Errorf("%w: envelope header: %v", ErrFormat, err)
	}
	for len(env) > 0 {
		hl := line()
		if len(bytes.TrimSpace(hl)) == 0 {
			continue
		}
		var ih itemHeader
		if err := json.Unmarshal(hl, &ih); err != nil {
			return "", fmt.Errorf("%w: envelope item header: %v", ErrFormat, err)
		}
		var p []byte
		if ih.Length != nil {
			n := *ih.Length
			if n < 0 || n > int64(len(env)) {
				return "", fmt.Errorf("%w: envelope item length %d past the end", ErrFormat, n)
			}
			p, env = env[:n:n], env[n:]
			if len(env) > 0 && env[0] == '\n' {
				env = env[1:]
			}
		} else {
			p = line()
		}
		if !fn(ih, p) {
			break
		}
	}
	return h.EventID, nil
}

// lines calls fn for each non-empty line of r, with its number.
func lines(name string, r io.Reader, fn func(n int, line []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	n := 0
	for sc.Scan() {
		n++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if err := fn(n, sc.Bytes()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("%w: %s line %d is longer than %d bytes", ErrFormat, name, n+1, maxLine)
		}
		return fmt.Errorf("read %s: %w", name, err)
	}
	return nil
}

// decodeLine decodes one NDJSON line into v. Unknown fields are ignored,
// so that a later tinysink may add some.
func decodeLine(name string, n int, line []byte, v any) error {
	if err := json.Unmarshal(line, v); err != nil {
		return fmt.Errorf("%w: %s line %d: %v", ErrFormat, name, n, err)
	}
	return nil
}
