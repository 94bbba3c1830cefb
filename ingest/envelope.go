package ingest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
)

// handleEnvelope serves POST /api/{project_id}/envelope/: it spools every
// event item, each as its own event, spools the other items it keeps
// (items.go) each as a record of its type, and drops every other item
// after reading it.
func (h *Handler) handleEnvelope(w http.ResponseWriter, r *http.Request) error {
	project, err := projectID(r)
	if err != nil {
		return err
	}
	// With the key in the query or a header, refuse before reading the body.
	key := requestKey(r)
	cost := h.cost(r)
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
	if key != "" {
		release, err := h.reserve(project, cost)
		if err != nil {
			return err
		}
		defer release()
	}
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
		release, err := h.reserve(project, cost)
		if err != nil {
			return err
		}
		defer release()
	}

	ev := getEventBuf()
	defer putEventBuf(ev)
	ids := envelopeIDs{header: p.eventID}
	spoolOne := func(payload []byte) error {
		payloadID, payload := prepareEvent(payload)
		return h.spoolEvent(r, project, ids.pick(payloadID), payload)
	}
	p.other = func(typ string, payload []byte) error {
		kept, err := h.spoolItem(r, project, typ, payload)
		if err == nil && !kept {
			p.dropped++
		}
		return err
	}
	err = p.readItems(ev, spoolOne)
	h.dropped.Add(int64(p.dropped))
	if err != nil {
		return err
	}
	b.Close() // free the decoder (br, zstd: up to 16 MiB) before waiting for the disk
	if p.pending {
		if err := spoolOne(ev.b); err != nil {
			return err
		}
	}
	return writeID(w, ids.first())
}

// maxLine is the longest envelope or item header line accepted.
const maxLine = 8 << 10

// MaxEnvelopeItems is the most items an envelope may hold; at the first item
// past it the request gets 413 without the rest being read. Real envelopes
// hold a handful (an event, its attachments, a client report; Sentry itself
// takes at most 100 sessions in one envelope), and every item costs a header
// parse, so an envelope of millions of empty items would otherwise cost
// seconds of CPU.
const MaxEnvelopeItems = 100

// maxBlankLines is the most blank lines an envelope may have between its
// items, for the same reason.
const maxBlankLines = MaxEnvelopeItems

// lineReaders buffer decoded envelopes; a header line must fit in one.
var lineReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 2*maxLine) }}

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

	// other, when set, takes the payload of each item that is not an
	// event but has a type ingest keeps (items.go). The payload is only
	// valid during the call.
	other func(typ string, payload []byte) error

	// Set by readItems.
	items   int  // items seen
	blank   int  // blank lines seen
	events  int  // event items seen
	dropped int  // items read and discarded
	pending bool // the last event read is in the event buffer, not yet handed on
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
	// Invalid event_id and dsn values are ignored, not refused (as Bugsink
	// does).
	hdr, err := scanHeader(line, "The envelope header")
	if err != nil {
		return err
	}
	p.eventID, p.dsnKey = hdr.eventID, hdr.dsnKey
	return nil
}

// readItems reads the items up to the end of the envelope. Each event
// item's payload is read into ev and checked; before the next event item
// is read into ev, the previous one is handed to keep. The last one is left
// in ev with p.pending set, so that the caller can release the body's
// decoder before handing it on.
func (p *envelopeParser) readItems(ev *eventBuf, keep func(payload []byte) error) error {
	for {
		line, eof, err := p.readLine("item header")
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			if eof {
				return nil
			}
			if p.blank++; p.blank > maxBlankLines {
				return malformedf("More than %d blank lines between the items of the envelope", maxBlankLines)
			}
			continue
		}
		if p.items++; p.items > MaxEnvelopeItems {
			return &ingestError{kind: tooLarge, msg: fmt.Sprintf("Too many items in the envelope (at most %d)", MaxEnvelopeItems)}
		}
		hdr, err := scanHeader(line, "An item header")
		if err != nil {
			return err
		}
		length, err := hdr.itemLength()
		if err != nil {
			return err
		}
		if eof && length != 0 {
			return malformedf("Truncated envelope: it ends right after an item header")
		}
		if hdr.isEvent && p.pending {
			if err := keep(ev.b); err != nil {
				return err
			}
			p.pending = false
		}
		if !hdr.isEvent && hdr.typ != "" && p.other != nil {
			if err := p.readOther(length, hdr.typ); err != nil {
				return err
			}
			continue
		}
		if length >= 0 {
			err = p.readSized(length, hdr.isEvent, ev)
		} else {
			err = p.readToNewline(hdr.isEvent, ev)
		}
		if err != nil {
			return err
		}
		if !hdr.isEvent {
			p.dropped++
			continue
		}
		if err := checkEventJSON(ev.b); err != nil {
			return err
		}
		p.events++
		p.pending = true
	}
}

// readOther reads the payload of a kept item that is not an event into a
// buffer of its own and hands it to p.other.
func (p *envelopeParser) readOther(length int64, typ string) error {
	ob := getEventBuf()
	defer putEventBuf(ob)
	var err error
	if length >= 0 {
		err = p.readSized(length, true, ob)
	} else {
		err = p.readToNewline(true, ob)
	}
	if err != nil {
		return err
	}
	return p.other(typ, ob.b)
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
