package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/tinysink/tinysink/digest/rawevent"
	"github.com/tinysink/tinysink/ingest/spool"
	"github.com/tinysink/tinysink/store/disk"
	"github.com/valyala/fastjson"
)

// maxJSONDepth is the deepest nesting an event may have: fastjson's parser
// limit, which digest runs into anyway.
const maxJSONDepth = fastjson.MaxDepth

// checkEventJSON checks that b is a JSON object nested at most maxJSONDepth
// deep, in one pass (validJSON). It does not check UTF-8: digest repairs
// bad sequences.
func checkEventJSON(b []byte) error { return checkEventScan(b, nil) }

// checkEventScan is checkEventJSON that, when sc is set, also gathers in
// the same pass what prepareScanned needs.
func checkEventScan(b []byte, sc *eventScan) error {
	i := skipWS(b, 0)
	if i == len(b) || b[i] != '{' {
		return malformedf("The event is not a JSON object")
	}
	if sc != nil {
		*sc = eventScan{id: -1}
	}
	ok, tooDeep, reason, at := validJSONScan(b, maxJSONDepth, sc)
	switch {
	case tooDeep:
		return malformedf("The event JSON is nested deeper than %d levels", maxJSONDepth)
	case !ok:
		return malformedf("The event is not valid JSON: %s at byte %d", reason, at)
	}
	return nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// prepareEvent readies a checked event payload for the spool: it returns
// the payload's own event_id (normalised, or "") and the payload to store,
// which is b itself unless b is value-dense. A dense event is trimmed here
// by digest's rule (rawevent.TrimDense), so that the spool, the forwarder and
// digest never see more than rawevent.MaxValues values of it. Neither step
// builds a JSON tree: the cost is a byte scan, plus one buffer of about b's
// size for a dense event.
func prepareEvent(b []byte) (payloadID string, payload []byte) {
	id, values := scanEvent(b)
	if values > rawevent.MaxValues {
		b, _ = rawevent.TrimDense(b)
	}
	return id, b
}

// prepareScanned is prepareEvent for an event payload checkEventScan
// passed, from what it gathered: no second scan.
func prepareScanned(b []byte, sc *eventScan) (payloadID string, payload []byte) {
	if sc.id >= 0 {
		f := field{found: true}
		if b[sc.id] == '"' {
			f.val = b[sc.id : rawevent.StringEnd(b, sc.id+1)+1]
		} else {
			f.val = b[sc.id : sc.id+1] // not a string: no id
		}
		payloadID = idOf(&f)
	}
	if sc.values > rawevent.MaxValues {
		b, _ = rawevent.TrimDense(b)
	}
	return payloadID, b
}

// envelopeIDs picks the id each event of one request is stored under.
type envelopeIDs struct {
	header string   // the envelope header's event_id, normalised; "" if none
	used   []string // the ids picked so far, in order
}

// pick returns the id for the next event, whose own event_id is payloadID
// (normalised, or ""). The first event gets the envelope header's id, else
// its own, else a new one. A later event gets its own id unless an earlier
// event of the envelope has it (Android sends a Java and a native event
// under one id); then it gets an id derived from the first event's and its
// position, so that an envelope sent twice is stored once.
func (e *envelopeIDs) pick(payloadID string) string {
	var id string
	switch {
	case len(e.used) == 0 && e.header != "":
		id = e.header
	case payloadID != "" && !slices.Contains(e.used, payloadID):
		id = payloadID
	case len(e.used) == 0:
		id = rawevent.NewID()
	default:
		for k := len(e.used); id == "" || slices.Contains(e.used, id); k++ {
			id = derivedEventID(e.used[0], k)
		}
	}
	e.used = append(e.used, id)
	return id
}

// first returns the id to answer with: the first event's, else the
// envelope header's, else "".
func (e *envelopeIDs) first() string {
	if len(e.used) > 0 {
		return e.used[0]
	}
	return e.header
}

// derivedEventID returns the id of the k-th event (from 0) of an envelope
// whose first event has id base: a UUID (version 8, RFC 9562) made of the
// SHA-256 of both, as 32 hex digits.
func derivedEventID(base string, k int) string {
	sum := sha256.Sum256([]byte(base + "/" + strconv.Itoa(k)))
	u := sum[:16]
	u[6] = u[6]&0x0f | 0x80
	u[8] = u[8]&0x3f | 0x80
	return hex.EncodeToString(u)
}

// spoolEvent writes an accepted event to the spool; it returns once the
// event is on disk.
func (h *Handler) spoolEvent(r *http.Request, project int, id string, payload []byte) error {
	err := h.spool.Append(&spool.Record{
		Project:    project,
		EventID:    id,
		IngestedAt: h.now(),
		RemoteAddr: h.remoteAddr(r),
		Payload:    payload,
	})
	if disk.IsFull(err) {
		return errDiskFull
	}
	if err != nil {
		return &ingestError{kind: unavailable, msg: "Could not store the event; try again later", err: err}
	}
	h.accepted.Add(1)
	if a := admissionOf(r); a != nil {
		a.accepted = true
	}
	if h.onAccept != nil {
		h.onAccept(project)
	}
	return nil
}

// writeID answers a request that was accepted: {"id": id}, or {} without id.
func writeID(w http.ResponseWriter, id string) error {
	if id == "" {
		writeJSON(w, http.StatusOK, struct{}{})
		return nil
	}
	if !plainID(id) {
		writeJSON(w, http.StatusOK, struct {
			ID string `json:"id"`
		}{id})
		return nil
	}
	// What writeJSON writes for an id that needs no escaping, without
	// encoding/json's reflection: every accepted event is answered so.
	var a [96]byte
	writeJSONBytes(w, http.StatusOK, append(append(append(a[:0], `{"id":"`...), id...), `"}`...))
	return nil
}

// plainID reports whether id is short and only letters, digits and dashes,
// which JSON writes as they are.
func plainID(id string) bool {
	if len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
			return false
		}
	}
	return true
}

// eventBuf holds one event's bytes; pooled.
type eventBuf struct {
	b    []byte
	big  bool      // holds a bigBodies slot
	scan eventScan // of b, by checkEventScan
}

// bigBodies bounds how many requests may hold a large event in memory at
// once: a flood of 1 MB events then costs ~2 MB of buffers, not one per
// connection. The others wait for a slot (briefly) or get a 503.
var bigBodies = make(chan struct{}, 2)

// bigBody is the buffer size above which a request needs a bigBodies slot,
// and above which its buffer is not pooled.
const bigBody = 256 << 10

// bigBodyWait is how long a request waits for a bigBodies slot.
const bigBodyWait = 5 * time.Second

var eventBufs = sync.Pool{New: func() any { return new(eventBuf) }}

// maxPooledEvent bounds the buffers kept in the pool.
const maxPooledEvent = DefaultMaxEventSize + 64<<10

func getEventBuf() *eventBuf { return eventBufs.Get().(*eventBuf) }

func putEventBuf(e *eventBuf) {
	if e.big {
		<-bigBodies
		e.big = false
	}
	if cap(e.b) > bigBody {
		return // let the GC have it: large buffers are rare
	}
	e.b = e.b[:0]
	eventBufs.Put(e)
}

// takeBig takes a bigBodies slot for e (once).
func (e *eventBuf) takeBig() error {
	if e.big {
		return nil
	}
	t := time.NewTimer(bigBodyWait)
	defer t.Stop()
	select {
	case bigBodies <- struct{}{}:
		e.big = true
		return nil
	case <-t.C:
		return &ingestError{kind: unavailable, msg: "Server busy with large events; try again later"}
	}
}

// readAll reads r to its end. hint, if positive, is the expected size;
// limit is the most r can yield (it fails past that), so the buffer never
// grows beyond limit+1, the room needed to see the end.
func (e *eventBuf) readAll(r io.Reader, hint, limit int64) error {
	e.b = e.b[:0]
	if hint > 0 && hint < maxPooledEvent {
		if hint >= bigBody {
			if err := e.takeBig(); err != nil {
				return err
			}
		}
		e.b = slices.Grow(e.b, int(min(hint, limit)+1))
	}
	for {
		if len(e.b) == cap(e.b) {
			// Grow by doubling, exactly (append's growth overshoots).
			n := int(min(max(4<<10, 2*int64(len(e.b))), limit+1))
			if n <= len(e.b) {
				n = len(e.b) + 4<<10 // past the limit: r will say so
			}
			if n >= bigBody {
				if err := e.takeBig(); err != nil {
					return err
				}
			}
			e.b = append(make([]byte, 0, n), e.b...)
		}
		n, err := r.Read(e.b[len(e.b):cap(e.b)])
		e.b = e.b[:len(e.b)+n]
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
