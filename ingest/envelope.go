package ingest

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"

	"github.com/valyala/fastjson"
)

// handleEnvelope serves POST /api/{project_id}/envelope/: it keeps the
// envelope's one event item and drops every other item after reading it.
func (h *Handler) handleEnvelope(w http.ResponseWriter, r *http.Request) error {
	project, err := projectID(r)
	if err != nil {
		return err
	}
	// With the key in the query or a header, refuse before reading the body.
	key := requestKey(r)
	if key != "" {
		if err := h.authorize(r, project, key); err != nil {
			return err
		}
	}

	b, err := openBody(w, r, h.envelope)
	if err != nil {
		return err
	}
	defer b.Close()
	br := lineReaders.Get().(*bufio.Reader)
	br.Reset(b)
	defer func() { br.Reset(nil); lineReaders.Put(br) }()

	p := envelopeParser{br: br, maxEvent: h.event}
	if err := p.readHeader(); err != nil {
		return err
	}
	if key == "" { // the key is in the envelope header's dsn, if anywhere
		if p.dsnKey == "" {
			return errNoKey
		}
		if err := h.authorize(r, project, p.dsnKey); err != nil {
			return err
		}
	}

	ev := getEventBuf()
	defer putEventBuf(ev)
	err = p.readItems(ev)
	h.dropped.Add(int64(p.dropped))
	if err != nil {
		return err
	}
	b.Close() // free the decoder (br, zstd: up to 16 MiB) before waiting for the disk
	if p.events != 1 {
		// No event, or several: Bugsink ignores envelopes with more than one.
		if p.events > 1 {
			h.refusals.Log(slog.LevelInfo, "events dropped", "several_events", project, "events", p.events)
		}
		return writeID(w, p.eventID)
	}
	id := eventID(p.eventID, ev.b)
	if err := h.spoolEvent(r, project, id, ev.b); err != nil {
		return err
	}
	return writeID(w, id)
}

// maxLine is the longest envelope or item header line accepted.
const maxLine = 8 << 10

// lineReaders buffer decoded envelopes; a header line must fit in one.
var lineReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 2*maxLine) }}

// headerParsers parse header lines (at most maxLine bytes each).
var headerParsers fastjson.ParserPool

// envelopeParser reads a Sentry envelope from a stream: a header line, then
// items, each an item header line and a payload that is either `length`
// bytes long or runs to the next newline (or the end). Lines may end in
// CRLF; blank lines between items are skipped. It holds at most one event
// payload and reads every other payload into the void.
type envelopeParser struct {
	br       *bufio.Reader // its buffer must exceed maxLine
	maxEvent limit

	// Set by readHeader.
	eventID string // header event_id, normalised; "" if absent or invalid
	dsnKey  string // public key of the header dsn; "" if absent or invalid

	// Set by readItems.
	events  int // event items seen
	dropped int // items read and discarded
}

// readHeader reads the envelope header line.
func (p *envelopeParser) readHeader() error {
	line, eof, err := p.readLine("envelope header")
	if err != nil {
		return err
	}
	if eof && len(line) == 0 {
		return malformedf("Empty envelope: no header line")
	}
	jp := headerParsers.Get()
	defer headerParsers.Put(jp)
	v, err := jp.ParseBytes(line)
	if err != nil || v.Type() != fastjson.TypeObject {
		return malformedf("The envelope header is not a JSON object")
	}
	// Invalid values are ignored, not refused (as Bugsink does).
	p.eventID = normalizeEventID(v.GetStringBytes("event_id"))
	if dsn := v.GetStringBytes("dsn"); dsn != nil {
		p.dsnKey = dsnKey(dsn)
	}
	return nil
}

// readItems reads the items up to the end of the envelope. The first event
// item's payload is left in ev; if a second event item turns up, ev is
// emptied and every further event is dropped as well.
func (p *envelopeParser) readItems(ev *eventBuf) error {
	for {
		line, eof, err := p.readLine("item header")
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			if eof {
				return nil
			}
			continue
		}
		isEvent, length, err := parseItemHeader(line)
		if err != nil {
			return err
		}
		if eof && length != 0 {
			return malformedf("Truncated envelope: it ends right after an item header")
		}
		keep := false
		if isEvent {
			p.events++
			keep = p.events == 1
			if p.events == 2 {
				ev.b = ev.b[:0]
				p.dropped++ // the first one
			}
		}
		if length >= 0 {
			err = p.readSized(length, keep, ev)
		} else {
			err = p.readToNewline(keep, ev)
		}
		if err != nil {
			return err
		}
		if !keep {
			p.dropped++
			continue
		}
		if err := checkEventJSON(ev.b); err != nil {
			return err
		}
	}
}

// parseItemHeader returns whether the item is an event and its declared
// length (-1 if none).
func parseItemHeader(line []byte) (isEvent bool, length int64, err error) {
	jp := headerParsers.Get()
	defer headerParsers.Put(jp)
	v, err := jp.ParseBytes(line)
	if err != nil || v.Type() != fastjson.TypeObject {
		return false, 0, malformedf("An item header is not a JSON object")
	}
	length = -1
	if lv := v.Get("length"); lv != nil && lv.Type() != fastjson.TypeNull {
		n, err := lv.Int64()
		if err != nil || n < 0 {
			return false, 0, malformedf("An item length is not a non-negative integer")
		}
		length = n
	}
	return string(v.GetStringBytes("type")) == "event", length, nil
}

// readLine returns the next line without its line end, and whether the
// envelope ended before a newline.
func (p *envelopeParser) readLine(what string) (line []byte, eof bool, err error) {
	line, err = p.br.ReadSlice('\n')
	switch {
	case err == nil:
		line = line[:len(line)-1]
	case err == io.EOF:
		eof, err = true, nil
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, false, malformedf("An %s is longer than %d bytes", what, maxLine)
	default:
		return nil, false, err
	}
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if len(line) > maxLine {
		return nil, false, malformedf("An %s is longer than %d bytes", what, maxLine)
	}
	return line, eof, nil
}

// readSized reads an n-byte payload, into ev if keep, then its line end.
func (p *envelopeParser) readSized(n int64, keep bool, ev *eventBuf) error {
	var err error
	if keep {
		if n > p.maxEvent.n {
			return tooLargeErr(p.maxEvent)
		}
		if n >= bigBody {
			if err := ev.takeBig(); err != nil {
				return err
			}
		}
		ev.b = slices.Grow(ev.b[:0], int(n))[:n]
		_, err = io.ReadFull(p.br, ev.b)
	} else {
		_, err = io.CopyN(io.Discard, p.br, n)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return malformedf("Truncated envelope: an item is shorter than its length %d", n)
	}
	if err != nil {
		return err
	}

	// The payload must be followed by a line end or the end of the envelope.
	c, err := p.br.ReadByte()
	if err == nil && c == '\r' {
		c, err = p.br.ReadByte()
	}
	switch {
	case err == io.EOF || err == nil && c == '\n':
		return nil
	case err != nil:
		return err
	}
	return malformedf("An item is longer than its length %d (trailing garbage after it)", n)
}

// readToNewline reads a payload that runs to the next newline or the end,
// into ev if keep.
func (p *envelopeParser) readToNewline(keep bool, ev *eventBuf) error {
	if keep {
		ev.b = ev.b[:0]
	}
	for {
		chunk, err := p.br.ReadSlice('\n')
		if keep {
			if int64(len(ev.b)+len(chunk)) > p.maxEvent.n+2 { // room for CRLF
				return tooLargeErr(p.maxEvent)
			}
			if len(ev.b)+len(chunk) >= bigBody {
				if err := ev.takeBig(); err != nil {
					return err
				}
			}
			ev.b = append(ev.b, chunk...)
		}
		switch {
		case err == nil || err == io.EOF:
			if keep {
				ev.b = bytes.TrimSuffix(bytes.TrimSuffix(ev.b, []byte{'\n'}), []byte{'\r'})
				if int64(len(ev.b)) > p.maxEvent.n {
					return tooLargeErr(p.maxEvent)
				}
			}
			return nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return err
		}
	}
}
