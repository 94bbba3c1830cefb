package ingest

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/tinysink/tinysink/ingest/quota"
	"github.com/tinysink/tinysink/ingest/spool"
	"github.com/tinysink/tinysink/store/disk"
)

// Envelope items other than events. Some are kept: spooled as records of
// their type, for digest to summarise (release health from sessions, what
// SDKs dropped from client reports). The rest are read and dropped, but
// counted per type: one record per envelope (type DroppedItemsType) says
// how many of each it carried, so that a project's page can show where its
// data went.

// DroppedItemsType is the spool record type of an envelope's dropped-item
// counts: a JSON object {"<item type>": count}.
const DroppedItemsType = "dropped_items"

// keptType reports whether items of type t are spooled for digest.
func keptType(t string) bool {
	switch t {
	case "session", "sessions", "client_report":
		return true
	}
	return false
}

// Bounds on the kept items of one envelope: they are held in memory until
// the envelope has been read, next to its event.
const (
	maxItemSize  = 64 << 10  // one kept item
	maxKeptBytes = 256 << 10 // all kept items of an envelope
)

// maxTypeLen bounds an item type worth counting under its own name.
const maxTypeLen = 32

// itemType returns the item type t as a string: the known ones without
// allocating, anything else as itself when it is a short name of
// [a-z0-9_.-], else "unknown".
func itemType(t []byte) string {
	switch string(t) {
	case "event":
		return "event"
	case "session":
		return "session"
	case "sessions":
		return "sessions"
	case "client_report":
		return "client_report"
	case "attachment":
		return "attachment"
	case "transaction":
		return "transaction"
	case "span":
		return "span"
	case "profile":
		return "profile"
	case "profile_chunk":
		return "profile_chunk"
	case "replay_event":
		return "replay_event"
	case "replay_recording":
		return "replay_recording"
	case "replay_video":
		return "replay_video"
	case "check_in":
		return "check_in"
	case "log":
		return "log"
	case "otel_log":
		return "otel_log"
	case "statsd":
		return "statsd"
	case "metric_buckets":
		return "metric_buckets"
	case "feedback":
		return "feedback"
	case "user_report":
		return "user_report"
	}
	if len(t) == 0 || len(t) > maxTypeLen {
		return "unknown"
	}
	for _, c := range t {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return "unknown"
		}
	}
	return string(t)
}

// keptItem is one kept item's place in envelopeParser.kept.
type keptItem struct {
	typ        string
	start, end int
}

// typeCount counts the dropped items of one type.
type typeCount struct {
	typ string
	n   int
}

// itemProblem is an item the envelope parser dropped because it was
// malformed or too large, reported in the reply.
type itemProblem struct {
	Item   int    `json:"item"` // 1-based position in the envelope
	Type   string `json:"type"`
	Reason string `json:"reason"`
}

// maxProblems bounds the problems listed in a reply.
const maxProblems = 10

// noteDropped counts a dropped item of type typ.
func (p *envelopeParser) noteDropped(typ string) {
	p.dropped++
	for i := range p.droppedTypes {
		if p.droppedTypes[i].typ == typ {
			p.droppedTypes[i].n++
			return
		}
	}
	p.droppedTypes = append(p.droppedTypes, typeCount{typ, 1})
}

// problem records that item number p.items (of type typ) was dropped for
// reason.
func (p *envelopeParser) problem(typ, reason string) {
	p.bad++
	if len(p.problems) < maxProblems {
		p.problems = append(p.problems, itemProblem{Item: p.items, Type: typ, Reason: reason})
	}
}

// droppedPayload returns the payload of the envelope's dropped-item counts,
// or nil when it dropped nothing.
func (p *envelopeParser) droppedPayload() []byte {
	if len(p.droppedTypes) == 0 {
		return nil
	}
	b := []byte{'{'}
	for i, c := range p.droppedTypes {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, c.typ) // types are [a-z0-9_.-]
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(c.n), 10)
	}
	return append(b, '}')
}

// spoolItems writes the envelope's kept items, its dropped-item counts and
// its last event (if any: event, id) to the spool in one group commit, so
// that an envelope of an event and a session waits for one fsync.
func (h *Handler) spoolItems(r *http.Request, project int, p *envelopeParser, id string, event []byte) error {
	now, addr := h.now(), h.remoteAddr(r)
	rs := make([]*spool.Record, 0, len(p.kept)+2)
	if event != nil {
		rs = append(rs, &spool.Record{Project: project, EventID: id, IngestedAt: now, RemoteAddr: addr, Payload: event})
	}
	for _, k := range p.kept {
		rs = append(rs, &spool.Record{Project: project, Type: k.typ, IngestedAt: now, RemoteAddr: addr, Payload: p.keptBuf[k.start:k.end]})
	}
	if d := p.droppedPayload(); d != nil {
		rs = append(rs, &spool.Record{Project: project, Type: DroppedItemsType, IngestedAt: now, Payload: d})
	}
	if len(rs) == 0 {
		return nil
	}
	if err := h.spool.AppendAll(rs); err != nil {
		if disk.IsFull(err) {
			return errDiskFull
		}
		return &ingestError{kind: unavailable, msg: "Could not store the envelope; try again later", err: err}
	}
	if event != nil {
		h.accepted.Add(1)
		if a := admissionOf(r); a != nil {
			a.accepted = true
		}
		if h.onAccept != nil {
			h.onAccept(project)
		}
	}
	h.items.Add(int64(len(p.kept)))
	return nil
}

// checkItemJSON checks that b is a JSON object nested at most maxJSONDepth
// deep; the error completes a sentence that names the item.
func checkItemJSON(b []byte) error {
	if err := checkEventJSON(b); err != nil {
		var ie *ingestError
		if errors.As(err, &ie) {
			return errors.New(strings.TrimPrefix(ie.msg, "The event "))
		}
		return err
	}
	return nil
}

// writeEnvelopeReply answers an envelope that was accepted: {"id": id}
// (or {}), plus, when items were dropped as malformed or too large, which
// ones and why.
func writeEnvelopeReply(w http.ResponseWriter, id string, problems []itemProblem, bad int) error {
	if bad == 0 {
		return writeID(w, id)
	}
	writeJSON(w, http.StatusOK, struct {
		ID      string        `json:"id,omitempty"`
		Message string        `json:"message"`
		Dropped []itemProblem `json:"dropped"`
	}{id, strconv.Itoa(bad) + " malformed item(s) dropped; the rest was stored", problems})
	return nil
}

// quotaOnly splits authorize's error: a quota refusal, which refuses the
// event categories only (quotaErr), from anything else (err).
func quotaOnly(e error) (quotaErr, err error) {
	var ie *ingestError
	if errors.As(e, &ie) && ie.kind == refused && isQuota(ie.reason) {
		return e, nil
	}
	return nil, e
}

// isQuota reports whether an admission reason is a quota's, which counts
// events only.
func isQuota(reason error) bool {
	return errors.Is(reason, quota.ErrProjectQuota) || errors.Is(reason, quota.ErrOrgQuota)
}

// refusedEvents notes that an accepted envelope's events were refused for
// quotaErr: the reply (a 200, for the items that were kept) carries
// X-Sentry-Rate-Limits for the event categories, so the SDK holds back
// its events and goes on sending the rest.
func (h *Handler) refusedEvents(w http.ResponseWriter, r *http.Request, quotaErr error) {
	var ie *ingestError
	if !errors.As(quotaErr, &ie) {
		return
	}
	secs := retrySeconds(ie.retryAfter)
	addRateLimits(w.Header(), rateLimits(secs, ie.reason.Error()))
	h.refusedAdmission.Add(1)
	if h.onRefuse != nil {
		h.onRefuse(ie.project, ie.reason.Error())
	}
}
