package ingest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/tinysink/tinysink/ingest/quota"
	"github.com/tinysink/tinysink/store/attach"
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
	// A quota refusal is for the event categories only (quotaErr): the
	// envelope is read for its other items.
	key := requestKey(r)
	cost := h.cost(r)
	var quotaErr error
	if key != "" {
		if quotaErr, err = quotaOnly(h.authorize(r, project, key)); err != nil {
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
		if quotaErr, err = quotaOnly(h.authorize(r, project, p.dsnKey)); err != nil {
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
	spoolOne := func(payload []byte) error { // payload is ev.b
		payloadID, payload := prepareScanned(payload, &ev.scan)
		return h.spoolEvent(r, project, ids.pick(payloadID), payload)
	}
	p.refuseEvents = quotaErr != nil
	var catRefused categoryRefusals // items over their category's quota
	p.other = func(typ string, payload []byte) error {
		kept, refused, err := h.spoolItem(r, project, typ, payload)
		if refused != nil {
			catRefused.note(itemCategory(typ), refused)
			return nil
		}
		if err == nil && !kept {
			p.noteDropped(typ) // not JSON: counted with the dropped items
		}
		if kept {
			p.otherKept++
		}
		return err
	}
	// Attachments go to disk as they are read, and belong to the last
	// event of the envelope (or to one made for a minidump sent alone).
	// Over the event quota they are dropped with the events.
	var aw *attach.Writer
	if h.attach != nil && quotaErr == nil {
		p.attach = func(hdr *header, r io.Reader) error {
			if aw == nil {
				var err error
				if aw, err = h.attach.Begin(project); err != nil {
					return &ingestError{kind: unavailable, msg: "Could not store the attachment; try again later", err: err}
				}
			}
			if _, err := aw.Add(hdr.filename, hdr.contentType, hdr.attachmentType, r); err != nil {
				if errors.Is(err, attach.ErrTooLarge) {
					h.log.Warn("attachment dropped", "project_id", project, "err", err)
					p.dropped++
					return nil
				}
				return &ingestError{kind: unavailable, msg: "Could not store the attachment; try again later", err: err}
			}
			return nil
		}
		defer func() {
			if aw != nil {
				aw.Abort() // a no-op once committed
			}
		}()
	}
	err = p.readItems(ev, spoolOne)
	h.dropped.Add(int64(p.dropped))
	if err != nil {
		// A malformed item past which nothing can be read drops the rest
		// of the envelope, not what came before it.
		var ie *ingestError
		if !p.framing || !errors.As(err, &ie) || ie.kind != malformed || !p.anyGood() {
			return err
		}
		p.problem("", "The rest of the envelope was dropped: "+ie.msg)
	}
	b.Close() // free the decoder (br, zstd: up to 16 MiB) before waiting for the disk
	var last []byte
	var lastID string
	if p.pending {
		payloadID, payload := prepareScanned(ev.b, &ev.scan)
		last, lastID = payload, ids.pick(payloadID)
	}
	committed := false
	if aw != nil && len(aw.Items()) > 0 {
		dump, hasDump := aw.Minidump()
		if last == nil && hasDump {
			payloadID, payload := prepareEvent([]byte(`{"platform":"native","level":"fatal"}`))
			last, lastID = payload, ids.pick(payloadID)
		}
		if last == nil {
			h.dropped.Add(int64(len(aw.Items()))) // attachments without an event
		} else {
			if hasDump {
				last = markMinidump(last, dump.N)
			}
			if err := aw.Commit(lastID); err != nil {
				return &ingestError{kind: unavailable, msg: "Could not store the attachments; try again later", err: err}
			}
			committed = true
		}
	}
	h.takeKeptItems(project, &p, &catRefused)
	nothingKept := len(p.kept) == 0 && p.otherKept == 0
	if quotaErr != nil && nothingKept {
		// Nothing but events (or nothing): a plain 429, naming the item
		// categories refused too.
		if len(catRefused) > 0 {
			var ie *ingestError
			if errors.As(quotaErr, &ie) {
				e := *ie
				e.limits = rateLimits(retrySeconds(e.retryAfter), e.reason.Error()) + ", " + catRefused.header()
				return &e
			}
		}
		return quotaErr
	}
	if len(catRefused) > 0 {
		if nothingKept && !p.pending && p.refused == 0 && p.bad == 0 {
			// Every item was over its category's quota.
			return &ingestError{kind: refused, project: project, reason: quota.ErrProjectQuota,
				retryAfter: catRefused.longest(), limits: catRefused.header(),
				msg: "The project's quota for these items is used up; try again later"}
		}
		addRateLimits(w.Header(), catRefused.header())
		h.refusedAdmission.Add(1)
		if h.onRefuse != nil {
			h.onRefuse(project, quota.ErrProjectQuota.Error())
		}
	}
	if err := h.spoolItems(r, project, &p, lastID, last); err != nil {
		if committed {
			h.attach.Delete(project, lastID)
		}
		return err
	}
	if quotaErr != nil && p.refused > 0 {
		h.refusedEvents(w, r, quotaErr)
	}
	if p.bad > 0 {
		h.malformedItems.Add(int64(p.bad))
		if !p.anyGood() {
			// Nothing in it was good: the envelope is refused as a whole,
			// with the first item's reason.
			return malformedf("%s", p.problems[0].Reason)
		}
	}
	w.Header().Set(EventsPerEnvelopeHeader, strconv.Itoa(MaxEnvelopeItems))
	return writeEnvelopeReply(w, ids.first(), p.problems, p.bad)
}

// EventsPerEnvelopeHeader, on the envelope endpoint's 2xx answers, tells a
// forwarding tinysink (ingest/forward) that this server stores each of
// several event items of one envelope under the item's own event_id (Sentry
// takes one event an envelope), and how many items an envelope may hold: it
// then sends events several to an envelope.
const EventsPerEnvelopeHeader = "X-Tinysink-Events-Per-Envelope"

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
	otherKept int  // items handed to other and spooled
	items     int  // items seen
	blank     int  // blank lines seen
	events    int  // event items seen
	dropped   int  // items read and discarded
	pending   bool // the last event read is in the event buffer, not yet handed on
	spooled   int  // events handed to keep

	keptBuf      []byte     // the kept items' payloads, back to back
	kept         []keptItem // where each is in keptBuf
	item         []byte     // scratch for reading one kept item
	droppedTypes []typeCount
	bad          int // items dropped as malformed or too large
	problems     []itemProblem
	// refuseEvents drops event items (over quota), counting them in
	// refused.
	refuseEvents bool
	refused      int
	// framing is set when readItems failed on the envelope's framing (an
	// item header or length), not on the body's encoding.
	framing bool

	// attach, when set, is handed each attachment item with a length, to
	// read its payload from r; nil: attachments are dropped like other
	// items.
	attach func(h *header, r io.Reader) error
}

// framingf returns a malformed-envelope error and notes it as a framing
// error.
func (p *envelopeParser) framingf(format string, args ...any) error {
	p.framing = true
	return malformedf(format, args...)
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
// decoder before handing it on. Kept items (see keptType) are gathered in
// p.keptBuf; other items are read into the void and counted. An item whose
// payload is malformed or too large is dropped and noted in p.problems; an
// error is returned only when the envelope cannot be read past it.
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
				return p.framingf("More than %d blank lines between the items of the envelope", maxBlankLines)
			}
			continue
		}
		if p.items++; p.items > MaxEnvelopeItems {
			return &ingestError{kind: tooLarge, msg: fmt.Sprintf("Too many items in the envelope (at most %d)", MaxEnvelopeItems)}
		}
		hdr, err := scanHeader(line, "An item header")
		if err != nil {
			p.framing = true
			return err
		}
		length, err := hdr.itemLength()
		if err != nil {
			p.framing = true
			return err
		}
		if eof && length != 0 {
			return p.framingf("Truncated envelope: it ends right after an item header")
		}
		switch {
		case hdr.isEvent && p.refuseEvents:
			if err := p.readPayload(length, false, nil); err != nil {
				return err
			}
			p.refused++
		case hdr.isEvent:
			if p.pending {
				if err := keep(ev.b); err != nil {
					return err
				}
				p.pending = false
				p.spooled++
			}
			if err := p.readPayload(length, true, ev); err != nil {
				return err
			}
			if err := checkEventScan(ev.b, &ev.scan); err != nil {
				p.problem("event", err.(*ingestError).msg)
				continue
			}
			p.events++
			p.pending = true
		case hdr.isAttachment && p.attach != nil && length >= 0:
			if err := p.readAttachment(length, &hdr); err != nil {
				return err
			}
		case keptType(hdr.typ):
			if err := p.readKept(hdr.typ, length); err != nil {
				return err
			}
		case spooledAlone(hdr.typ) && p.other != nil:
			if err := p.readOther(length, hdr.typ); err != nil {
				return err
			}
		default:
			if err := p.readPayload(length, false, nil); err != nil {
				return err
			}
			p.noteDropped(hdr.typ)
		}
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

// readPayload reads an item's payload (length bytes, or to the next newline
// when length is -1), into ev if keep.
func (p *envelopeParser) readPayload(length int64, keep bool, ev *eventBuf) error {
	if length >= 0 {
		return p.readSized(length, keep, ev)
	}
	return p.readToNewline(keep, ev)
}

// readKept reads a kept item of type typ into p.keptBuf, or drops it (a
// problem) when it is too large or not a JSON object.
func (p *envelopeParser) readKept(typ string, length int64) error {
	if typ == "" {
		typ = "unknown"
	}
	room := min(int64(maxItemSize), int64(maxKeptBytes-len(p.keptBuf)))
	if length > room || (length < 0 && room <= 0) {
		if err := p.readPayload(length, false, nil); err != nil {
			return err
		}
		p.problem(typ, fmt.Sprintf("The %s item is larger than %d bytes (or the envelope's kept items than %d)", typ, maxItemSize, maxKeptBytes))
		return nil
	}
	var buf eventBuf
	var err error
	if length >= 0 {
		buf.b = p.item
		maxEvent := p.maxEvent
		p.maxEvent = limit{room, "kept items"} // length <= room: no error
		err = p.readSized(length, true, &buf)
		p.maxEvent = maxEvent
	} else {
		buf.b, err = p.readLineUpTo(p.item[:0], room)
	}
	p.item = buf.b[:0]
	if errors.Is(err, errItemTooLarge) {
		p.problem(typ, fmt.Sprintf("The %s item is larger than %d bytes (or the envelope's kept items than %d)", typ, maxItemSize, maxKeptBytes))
		return nil
	}
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(buf.b)) == 0 {
		p.noteDropped(typ) // an empty item: nothing to keep, nothing wrong
		return nil
	}
	if err := checkItemJSON(buf.b); err != nil {
		p.problem(typ, "The "+typ+" item "+err.Error())
		return nil
	}
	start := len(p.keptBuf)
	p.keptBuf = append(p.keptBuf, buf.b...)
	p.kept = append(p.kept, keptItem{typ, start, len(p.keptBuf)})
	return nil
}

// errItemTooLarge is readLineUpTo's error for a line over its limit.
var errItemTooLarge = errors.New("item too large")

// readLineUpTo appends the payload that runs to the next newline (or the
// end) to dst, without its line end. Past max bytes it reads the rest of
// the line into the void and returns errItemTooLarge.
func (p *envelopeParser) readLineUpTo(dst []byte, max int64) ([]byte, error) {
	over := false
	for {
		chunk, err := p.br.ReadSlice('\n')
		if !over {
			dst = append(dst, chunk...)
			over = int64(len(dst)) > max+2 // room for CRLF
		}
		switch {
		case err == nil || err == io.EOF:
			dst = bytes.TrimSuffix(bytes.TrimSuffix(dst, []byte{'\n'}), []byte{'\r'})
			if over || int64(len(dst)) > max {
				return dst[:0], errItemTooLarge
			}
			return dst, nil
		case errors.Is(err, bufio.ErrBufferFull):
			if over {
				dst = dst[:0]
			}
			continue
		default:
			return dst, err
		}
	}
}

// anyGood reports whether the envelope had anything worth storing: an
// event spooled or pending, or a kept item.
func (p *envelopeParser) anyGood() bool {
	return p.spooled > 0 || p.pending || len(p.kept) > 0 || p.otherKept > 0
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
		return p.framingf("Truncated envelope: an item is shorter than its length %d", n)
	}
	if err != nil {
		return err
	}
	return p.readLineEnd(n)
}

// readAttachment hands an attachment's n-byte payload to p.attach, then
// reads what it left and the line end.
func (p *envelopeParser) readAttachment(n int64, hdr *header) error {
	lr := &io.LimitedReader{R: p.br, N: n}
	if err := p.attach(hdr, lr); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, lr); err != nil {
		return err
	}
	if lr.N > 0 {
		return malformedf("Truncated envelope: an item is shorter than its length %d", n)
	}
	return p.readLineEnd(n)
}

// readLineEnd reads what must follow an n-byte payload: a line end or the
// end of the envelope.
func (p *envelopeParser) readLineEnd(n int64) error {
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
	return p.framingf("An item is longer than its length %d (trailing garbage after it)", n)
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
