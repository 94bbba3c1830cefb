package ingest

import (
	"net/http"

	"github.com/valyala/fastjson"

	"github.com/tinysink/tinysink/ingest/spool"
	"github.com/tinysink/tinysink/store"
)

// Envelope items that are not events but are kept: each is spooled as a
// record of its own, tagged with its type, and the digest summarises it
// (digest/items.go). Every other item that is not an event is read and
// dropped.
const (
	itemEvent       = "event"
	itemCheckIn     = "check_in"    // cron monitor check-in
	itemTransaction = "transaction" // a transaction event
	itemSpan        = "span"        // span items of span-streaming SDKs
	itemFeedback    = "feedback"    // user feedback (new style)
	itemUserReport  = "user_report" // user feedback (old style)
)

// spooledAlone reports whether items of type t (see itemType) are kept and
// spooled one by one as they are read (they may be large: a transaction
// with its spans); the small kept items wait for the envelope's end
// (keptType, health_items.go).
func spooledAlone(t string) bool {
	switch t {
	case itemCheckIn, itemTransaction, itemSpan, itemFeedback, itemUserReport:
		return true
	}
	return false
}

// spoolItem spools the payload of a kept item that is not an event. A
// payload that is not JSON is dropped (and counted), not refused, so that
// one bad item does not cost the envelope its other items.
func (h *Handler) spoolItem(r *http.Request, project int, typ string, payload []byte) (kept bool, err error) {
	if fastjson.ValidateBytes(payload) != nil {
		return false, nil
	}
	err = h.spool.Append(&spool.Record{
		Project:    project,
		IngestedAt: h.now(),
		RemoteAddr: h.remoteAddr(r),
		Payload:    payload,
		Type:       typ,
	})
	if store.IsDiskFull(err) {
		return false, errDiskFull
	}
	if err != nil {
		return false, &ingestError{kind: unavailable, msg: "Could not store the item; try again later", err: err}
	}
	h.items.Add(1)
	return true, nil
}
