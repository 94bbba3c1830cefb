package digest

import (
	"time"

	"github.com/valyala/fastjson"

	"github.com/tinysink/tinysink/internal/xsort"
	"github.com/tinysink/tinysink/store"
)

// maxExampleSpans bounds the spans kept with a transaction example.
const maxExampleSpans = 100

// failedStatus reports whether a span status counts as a failure: any but
// ok and unknown (Sentry's failure rate), with "" as unknown.
func failedStatus(s string) bool {
	switch s {
	case "", "ok", "unknown", "unset":
		return false
	}
	return true
}

func durationMS(start, end time.Time) float64 {
	d := end.Sub(start)
	if d < 0 {
		return 0
	}
	return float64(d) / float64(time.Millisecond)
}

// digestTransaction counts a transaction event.
func digestTransaction(tx *store.Tx, it *item, v *fastjson.Value) error {
	start, ok1 := timestamp(v.Get("start_timestamp"))
	end, ok2 := timestamp(v.Get("timestamp"))
	if !ok1 || !ok2 {
		it.dropped = "invalid_transaction"
		return nil
	}
	status := str(v, "contexts", "trace", "status")
	ex := &store.TxExample{
		EventID: str(v, "event_id"), TraceID: str(v, "contexts", "trace", "trace_id"),
		At: end, DurationMS: durationMS(start, end), Status: status,
		Op: str(v, "contexts", "trace", "op"), Release: truncate(str(v, "release"), 200),
		Environment: truncate(str(v, "environment"), 64),
	}
	var spans []rawSpan
	for _, s := range v.GetArray("spans") {
		ss, _ := timestamp(s.Get("start_timestamp"))
		se, _ := timestamp(s.Get("timestamp"))
		spans = append(spans, rawSpan{
			id: str(s, "span_id"), parent: str(s, "parent_span_id"), op: str(s, "op"),
			description: str(s, "description"), status: str(s, "status"), start: ss, end: se,
		})
	}
	ex.Spans, ex.SpansDropped = spanTree(str(v, "contexts", "trace", "span_id"), start, spans)
	return tx.AddTransaction(it.project, &store.Transaction{
		Name: str(v, "transaction"), At: it.ingestedAt, DurationMS: ex.DurationMS, Failed: failedStatus(status), Example: ex,
	})
}

// digestSpans counts the segment spans of a span item (span streaming,
// {"version":2,"items":[…]}) as transactions, each with the spans of the
// same item that belong to it.
func digestSpans(tx *store.Tx, it *item, v *fastjson.Value) error {
	items := v.GetArray("items")
	if items == nil && v.Get("span_id") != nil {
		items = []*fastjson.Value{v} // a single span (version 1)
	}
	attr := func(s *fastjson.Value, name string) string { return str(s, "attributes", name, "value") }
	for _, seg := range items {
		if !seg.GetBool("is_segment") {
			continue
		}
		start, ok1 := timestamp(seg.Get("start_timestamp"))
		end, ok2 := timestamp(seg.Get("end_timestamp"))
		if !ok1 || !ok2 {
			continue
		}
		id := str(seg, "span_id")
		status := str(seg, "status")
		ex := &store.TxExample{
			TraceID: str(seg, "trace_id"), At: end, DurationMS: durationMS(start, end), Status: status,
			Op: attr(seg, "sentry.op"), Release: truncate(attr(seg, "sentry.release"), 200),
			Environment: truncate(attr(seg, "sentry.environment"), 64),
		}
		var spans []rawSpan
		for _, s := range items {
			if s == seg || (attr(s, "sentry.segment.id") != id && str(s, "parent_span_id") != id) {
				continue
			}
			ss, _ := timestamp(s.Get("start_timestamp"))
			se, _ := timestamp(s.Get("end_timestamp"))
			spans = append(spans, rawSpan{
				id: str(s, "span_id"), parent: str(s, "parent_span_id"), op: attr(s, "sentry.op"),
				description: str(s, "name"), status: str(s, "status"), start: ss, end: se,
			})
		}
		ex.Spans, ex.SpansDropped = spanTree(id, start, spans)
		name := str(seg, "name")
		if n := attr(seg, "sentry.segment.name"); n != "" {
			name = n
		}
		if err := tx.AddTransaction(it.project, &store.Transaction{
			Name: name, At: it.ingestedAt, DurationMS: ex.DurationMS, Failed: failedStatus(status), Example: ex,
		}); err != nil {
			return err
		}
	}
	return nil
}

// rawSpan is a span as read, before it is placed in the tree.
type rawSpan struct {
	id, parent, op, description, status string
	start, end                          time.Time
}

// spanTree orders spans depth first under root (the transaction's own
// span), children by start time, keeping at most maxExampleSpans. Spans
// whose parent is not among them hang under the root.
func spanTree(root string, start time.Time, spans []rawSpan) ([]store.TxSpan, int) {
	xsort.SortStableFunc(spans, func(a, b rawSpan) int { return a.start.Compare(b.start) })
	known := map[string]bool{}
	for _, s := range spans {
		known[s.id] = true
	}
	children := map[string][]int{}
	for i, s := range spans {
		p := s.parent
		if !known[p] || p == s.id {
			p = root
		}
		children[p] = append(children[p], i)
	}
	var out []store.TxSpan
	seen := make([]bool, len(spans))
	var walk func(id string, depth int)
	walk = func(id string, depth int) {
		for _, i := range children[id] {
			if seen[i] || len(out) >= maxExampleSpans {
				continue
			}
			seen[i] = true
			s := spans[i]
			var startMS float64
			if !s.start.IsZero() {
				startMS = float64(s.start.Sub(start)) / float64(time.Millisecond)
			}
			out = append(out, store.TxSpan{
				ID: truncate(s.id, 32), Parent: truncate(s.parent, 32), Op: truncate(s.op, 64),
				Description: truncate(s.description, 200), Status: truncate(s.status, 32),
				StartMS: startMS, DurationMS: durationMS(s.start, s.end), Depth: depth,
			})
			if depth < 32 {
				walk(s.id, depth+1)
			}
		}
	}
	walk(root, 0)
	return out, len(spans) - len(out)
}
