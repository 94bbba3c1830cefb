package ingest

import (
	"maps"
	"slices"

	"github.com/tinysink/tinysink/budget"
	"github.com/tinysink/tinysink/budget/prom"
	"github.com/tinysink/tinysink/ingest/quota"
	"github.com/tinysink/tinysink/store/disk"
)

// admissionReasons are the admission refusals WriteMetrics lists even
// before the first one, so that a dashboard finds each series at 0.
var admissionReasons = []error{budget.ErrMemory, quota.ErrProjectQuota, quota.ErrOrgQuota, disk.ErrFull}

// WriteMetrics writes ingest's figures to p: events accepted, requests
// refused by reason, and envelope items dropped and kept. Admission
// refusals are told apart by their reason when refusals is set. The
// server's and the relay's /metrics both write them here.
func (h *Handler) WriteMetrics(p *prom.Writer, refusals *Refusals) {
	c := h.Counters()
	p.One("tinysink_events_accepted_total", "counter", "Events written to the spool and acknowledged.", float64(c.Accepted))
	p.Family("tinysink_events_refused_total", "counter", "Requests refused by ingest, by reason.")
	p.Sample("tinysink_events_refused_total", float64(c.RefusedAuth), "reason", "auth")
	p.Sample("tinysink_events_refused_total", float64(c.RefusedSize), "reason", "size")
	p.Sample("tinysink_events_refused_total", float64(c.RefusedMalformed), "reason", "malformed")
	if refusals != nil {
		counts := refusals.Counts()
		for _, reason := range admissionReasons {
			if _, ok := counts[reason.Error()]; !ok {
				counts[reason.Error()] = 0
			}
		}
		for _, reason := range slices.Sorted(maps.Keys(counts)) {
			p.Sample("tinysink_events_refused_total", float64(counts[reason]), "reason", reason)
		}
	} else {
		p.Sample("tinysink_events_refused_total", float64(c.RefusedAdmission), "reason", "admission")
	}
	p.One("tinysink_envelope_items_dropped_total", "counter", "Envelope items read and discarded (not events, or extra events).", float64(c.Dropped))
	p.One("tinysink_envelope_items_kept_total", "counter", "Envelope items that are not events spooled for their summaries (transactions, spans, check-ins, feedback).", float64(c.Items))
}
