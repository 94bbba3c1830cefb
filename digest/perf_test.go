package digest

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/tinysink/tinysink/ingest/spool"
	"github.com/tinysink/tinysink/store"
)

// sendItem spools a typed item and digests it.
func (r *rig) sendItem(typ string, payload []byte) {
	r.t.Helper()
	if err := r.sp.Append(&spool.Record{Project: r.pid, IngestedAt: r.now, Payload: payload, Type: typ}); err != nil {
		r.t.Fatal(err)
	}
	if err := r.w.Drain(); err != nil {
		r.t.Fatal(err)
	}
}

// envelopeItem returns the payload of the first item of type typ in the
// envelope file name.
func envelopeItem(t *testing.T, name, typ string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(b, []byte("\n"))
	for i := 1; i+1 < len(lines); i++ {
		if bytes.Contains(lines[i], []byte(`"type":"`+typ+`"`)) {
			return lines[i+1]
		}
	}
	t.Fatalf("%s: no %s item", name, typ)
	return nil
}

func TestTransactionsSummarised(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	for i := range 100 {
		status := "ok"
		if i%10 == 0 {
			status = "internal_error"
		}
		tx := fmt.Sprintf(`{"type":"transaction","transaction":"GET /a","start_timestamp":1790000000.0,"timestamp":%f,
			"contexts":{"trace":{"status":%q,"span_id":"r","trace_id":"t"}},
			"spans":[{"span_id":"c","parent_span_id":"r","op":"db","description":"SELECT","start_timestamp":1790000000.001,"timestamp":1790000000.002},
			         {"span_id":"g","parent_span_id":"c","op":"x","start_timestamp":1790000000.0015,"timestamp":1790000000.0016}]}`,
			1790000000.0+float64(i+1)/1000, status)
		r.sendItem("transaction", []byte(tx))
	}
	r.sendItem("transaction", envelopeItem(t, "../ingest/testdata/sdk-wire/go/transaction.raw", "transaction"))
	r.sendItem("span", envelopeItem(t, "../ingest/testdata/sdk-wire/node/span-v2.raw", "span"))
	r.sendItem("transaction", []byte(`{"transaction":"broken"}`)) // no timestamps: dropped
	r.sendItem("transaction", []byte(`[1,2]`))

	got, err := r.db.Transactions(r.pid, r.now, r.now)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d names, want 2: %+v", len(got), got)
	}
	a := got[0]
	if a.Name != "GET /a" || a.Count != 100 || a.Failures != 10 || a.FailureRate != 0.1 {
		t.Errorf("GET /a = %+v", a)
	}
	for _, q := range []struct{ got, want float64 }{{a.P50, 50}, {a.P95, 95}, {a.P99, 99}} {
		if math.Abs(q.got-q.want)/q.want > 0.03 {
			t.Errorf("percentile %v, want about %v", q.got, q.want)
		}
	}
	if b := got[1]; b.Name != "GET /api/orders" || b.Count != 2 {
		t.Errorf("second name = %+v, want GET /api/orders twice (go transaction, node segment span)", b)
	}
	ex, err := r.db.TxExamples(r.pid, "GET /a")
	if err != nil || len(ex) != store.ExamplesPerName {
		t.Fatalf("examples: %d, %v", len(ex), err)
	}
	if sp := ex[0].Spans; len(sp) != 2 || sp[0].ID != "c" || sp[1].Depth != 1 {
		t.Errorf("span tree = %+v", sp)
	}
	ex, _ = r.db.TxExamples(r.pid, "GET /api/orders")
	for _, e := range ex {
		if len(e.Spans) != 2 {
			t.Errorf("example %+v: want the 2 child spans", e)
		}
	}
}

func TestTransactionNamesCapped(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	for i := range store.MaxTxNames + 20 {
		r.sp.Append(&spool.Record{Project: r.pid, IngestedAt: r.now, Type: "transaction",
			Payload: fmt.Appendf(nil, `{"transaction":"/n/%d","start_timestamp":1,"timestamp":2}`, i)})
	}
	if err := r.w.Drain(); err != nil {
		t.Fatal(err)
	}
	got, _ := r.db.Transactions(r.pid, r.now, r.now)
	if len(got) != store.MaxTxNames+1 || got[0].Name != store.OtherTxName || got[0].Count != 20 {
		t.Errorf("%d names, first %+v; want %d with <other> counting 20", len(got), got[0], store.MaxTxNames+1)
	}
	// Past the keep, the days and the names go.
	r.now = r.now.AddDate(0, 0, store.PerfKeepDays+2)
	if _, err := r.db.RollUp(); err != nil {
		t.Fatal(err)
	}
	r.sendItem("transaction", []byte(`{"transaction":"fresh","start_timestamp":1,"timestamp":2}`))
	got, _ = r.db.Transactions(r.pid, r.now.AddDate(0, 0, -store.PerfKeepDays-5), r.now)
	if len(got) != 1 || got[0].Name != "fresh" {
		t.Errorf("after the keep: %+v, want only fresh", got)
	}
}
