package main

import (
	"net/http"
	"strconv"

	"github.com/tinysink/tinysink/budget"
	"github.com/tinysink/tinysink/budget/prom"
)

// handleMetrics serves GET /metrics in the Prometheus text format.
func (w *Watch) handleMetrics(rw http.ResponseWriter, r *http.Request) {
	var p prom.Writer
	w.writeMetrics(&p)
	rw.Header().Set("Content-Type", prom.ContentType)
	rw.Header().Set("Cache-Control", "no-store")
	rw.Write(p.Bytes())
}

// writeMetrics writes every metric. A figure that cannot be read (a store
// error) is left out rather than reported as 0.
func (w *Watch) writeMetrics(p *prom.Writer) {
	now := w.Now()
	p.Family("tinysink_build_info", "gauge", "The running build; the value is always 1.")
	p.Sample("tinysink_build_info", 1, "version", w.cfg.Version)
	p.One("tinysink_start_time_seconds", "gauge", "When the process started, in Unix seconds.", prom.Unix(w.start))

	// Ingest.
	if h := w.cfg.Ingest; h != nil {
		h.WriteMetrics(p, w.cfg.Refusals)
	}

	// Digest.
	st := w.cfg.Worker.Stats()
	p.One("tinysink_events_digested_total", "counter", "Events digested and stored.", float64(st.Digested))
	p.One("tinysink_events_duplicate_total", "counter", "Events dropped by digest as duplicates of stored ones.", float64(st.Duplicates))
	p.One("tinysink_events_invalid_total", "counter", "Events digest could not parse (set aside in the quarantine).", float64(st.Invalid))
	p.One("tinysink_events_quarantined_total", "counter", "Events digest could not store and set aside in the quarantine.", float64(st.Quarantined))
	p.One("tinysink_events_evicted_total", "counter", "Events removed by retention (count, age) in the digest worker.", float64(st.Evicted))
	p.One("tinysink_digest_batches_total", "counter", "Digest batches committed.", float64(st.Batches))
	p.One("tinysink_digest_last_batch_duration_seconds", "gauge", "How long the last committed digest batch took.", st.BatchTime.Seconds())
	p.One("tinysink_digest_last_batch_timestamp_seconds", "gauge", "When the last digest batch committed, in Unix seconds (0 = none yet).", prom.Unix(st.LastBatch))
	p.One("tinysink_digest_idle", "gauge", "1 when the digest worker's last read found the spool empty.", bool01(st.Idle))

	// Spool.
	w.cfg.Spool.Stats().WriteMetrics(p)
	if oldest, err := w.oldestUndigested(); err == nil {
		var age float64
		if !oldest.IsZero() {
			age = max(0, now.Sub(oldest).Seconds())
		}
		p.One("tinysink_spool_oldest_age_seconds", "gauge", "Age of the oldest event not digested yet (0 = none).", age)
	}

	if w.cfg.Forward != nil {
		if st, ok := w.cfg.Forward(); ok {
			st.WriteMetrics(p)
		}
	}

	// Store.
	if us, err := w.cfg.DB.ProjectUsage(); err == nil {
		p.Family("tinysink_project_stored_events", "gauge", "Events stored per project.")
		for _, u := range us {
			p.Sample("tinysink_project_stored_events", float64(u.StoredEvents), "project_id", strconv.Itoa(u.ID), "project", u.Slug)
		}
		p.Family("tinysink_project_stored_bytes", "gauge", "Disk space of each project's event log and bodies (allocated bytes).")
		for _, u := range us {
			p.Sample("tinysink_project_stored_bytes", float64(u.Bytes), "project_id", strconv.Itoa(u.ID), "project", u.Slug)
		}
	}
	if u, err := w.cfg.DB.DataUsage(); err == nil {
		p.Family("tinysink_data_bytes", "gauge", "Disk space of the data directory by part (allocated bytes).")
		p.Sample("tinysink_data_bytes", float64(u.Store), "part", "store")
		p.Sample("tinysink_data_bytes", float64(u.Events), "part", "events")
		p.Sample("tinysink_data_bytes", float64(u.Spool), "part", "spool")
		p.Sample("tinysink_data_bytes", float64(u.Other), "part", "other")
	}
	if w.cfg.MaxDisk > 0 {
		p.One("tinysink_data_max_bytes", "gauge", "The configured disk budget (-max-disk).", float64(w.cfg.MaxDisk))
		p.One("tinysink_events_evicted_disk_total", "counter", "Events removed to keep the data directory under -max-disk.", float64(w.cfg.DB.DiskEvicted()))
	}
	if g := w.cfg.Disk; g != nil {
		if sp, err := g.Space(); err == nil {
			p.One("tinysink_disk_avail_bytes", "gauge", "Space available on the data directory's file system.", float64(sp.Avail))
			p.One("tinysink_disk_size_bytes", "gauge", "Size of the data directory's file system.", float64(sp.Total))
			p.One("tinysink_disk_min_free_bytes", "gauge", "Free space below which ingest refuses events (disk_full).", float64(g.Threshold(sp.Total)))
		}
	}

	// Alerts.
	if a, err := w.cfg.DB.AlertStats(); err == nil {
		p.One("tinysink_alerts_pending", "gauge", "Alert deliveries waiting in the outbox.", float64(a.Pending))
		p.One("tinysink_alerts_retrying", "gauge", "Alert deliveries in the outbox that failed at least once.", float64(a.Retrying))
		p.One("tinysink_alert_deliveries_total", "counter", "Alert deliveries made.", float64(a.Delivered))
		p.One("tinysink_alert_delivery_failures_total", "counter", "Failed alert delivery attempts.", float64(a.Failures))
		p.One("tinysink_alert_deliveries_given_up_total", "counter", "Alert deliveries abandoned after failing.", float64(a.GivenUp))
	}

	// Memory.
	m := budget.Read(false)
	p.One("tinysink_memory_rss_bytes", "gauge", "Resident memory (VmRSS): what ps shows.", float64(m.RSS))
	p.One("tinysink_memory_rss_peak_bytes", "gauge", "Peak resident memory (VmHWM).", float64(m.HWM))
	p.One("tinysink_memory_rss_anon_bytes", "gauge", "Anonymous resident memory (RssAnon): heap, stacks and other memory of the process's own.", float64(m.RSSAnon))
	p.One("tinysink_memory_rss_file_bytes", "gauge", "File-backed resident memory (RssFile): pages of the binary in use.", float64(m.RSSFile))
	p.One("tinysink_go_heap_inuse_bytes", "gauge", "Go heap in use (HeapInuse).", float64(m.HeapInUse))
	p.One("tinysink_go_heap_alloc_bytes", "gauge", "Go heap allocated objects (HeapAlloc).", float64(m.HeapAlloc))
	p.One("tinysink_memory_limit_bytes", "gauge", "The Go memory limit (0 = none).", float64(m.Limit))
	p.One("tinysink_go_gc_cycles_total", "counter", "Completed GC cycles.", float64(m.NumGC))

	p.One("tinysink_ready", "gauge", "1 when /health/ready answers 200.", bool01(w.Ready().Ready()))
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
