package ingest

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fastjson"

	"github.com/tinysink/tinysink/budget"
	"github.com/tinysink/tinysink/ingest/quota"
	"github.com/tinysink/tinysink/ingest/spool"
	"github.com/tinysink/tinysink/store/disk"
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
func (h *Handler) spoolItem(r *http.Request, project int, typ string, payload []byte) (kept bool, refused error, err error) {
	if fastjson.ValidateBytes(payload) != nil {
		return false, nil, nil
	}
	if cat := itemCategory(typ); cat != "" && h.itemQuota != nil {
		if err := h.itemQuota.TakeItem(project, cat); err != nil {
			return false, err, nil
		}
	}
	err = h.spool.Append(&spool.Record{
		Project:    project,
		IngestedAt: h.now(),
		RemoteAddr: h.remoteAddr(r),
		Payload:    payload,
		Type:       typ,
	})
	if disk.IsFull(err) {
		return false, nil, errDiskFull
	}
	if err != nil {
		return false, nil, &ingestError{kind: unavailable, msg: "Could not store the item; try again later", err: err}
	}
	h.items.Add(1)
	return true, nil, nil
}

// takeKeptItems counts the kept items (sessions) against their category's
// quota and drops those over it from p.kept.
func (h *Handler) takeKeptItems(project int, p *envelopeParser, refused *categoryRefusals) {
	if h.itemQuota == nil {
		return
	}
	kept := p.kept[:0]
	for _, k := range p.kept {
		if cat := itemCategory(k.typ); cat != "" {
			if err := h.itemQuota.TakeItem(project, cat); err != nil {
				refused.note(cat, err)
				continue
			}
		}
		kept = append(kept, k)
	}
	p.kept = kept
}

// itemCategory is the quota category of an item type, "" for a type no
// category quota counts.
func itemCategory(typ string) string {
	switch typ {
	case itemTransaction:
		return quota.CatTransaction
	case "session", "sessions":
		return quota.CatSession
	case itemCheckIn:
		return quota.CatMonitor
	}
	return ""
}

// categoryRefusals are the item categories an envelope's items were
// refused for, with the longest wait of each.
type categoryRefusals map[string]time.Duration

func (c *categoryRefusals) note(cat string, err error) {
	if *c == nil {
		*c = categoryRefusals{}
	}
	wait := time.Second
	var ae *budget.AdmitError
	if errors.As(err, &ae) {
		wait = max(wait, ae.RetryAfter)
	}
	(*c)[cat] = max((*c)[cat], wait)
}

// longest is the longest wait of them.
func (c categoryRefusals) longest() time.Duration {
	var d time.Duration
	for _, w := range c {
		d = max(d, w)
	}
	return d
}

// header is their X-Sentry-Rate-Limits entries, comma-separated.
func (c categoryRefusals) header() string {
	cats := make([]string, 0, len(c))
	for cat := range c {
		cats = append(cats, cat)
	}
	slices.Sort(cats)
	var b strings.Builder
	for i, cat := range cats {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(retrySeconds(c[cat])) + ":" + cat + ":project:project_quota")
	}
	return b.String()
}

// addRateLimits appends entries to the reply's X-Sentry-Rate-Limits: one
// header value, since SDKs read the first only.
func addRateLimits(hdr http.Header, entries string) {
	if entries == "" {
		return
	}
	if old := hdr.Get("X-Sentry-Rate-Limits"); old != "" {
		entries = old + ", " + entries
	}
	hdr.Set("X-Sentry-Rate-Limits", entries)
}
