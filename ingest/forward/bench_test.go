package forward

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tinysink/tinysink/ingest/spool"
)

// BenchmarkForwarder measures the forwarder's throughput from a spool
// backlog to an upstream on 127.0.0.1 that reads each envelope and answers
// 200: the forwarder's own cost (read, envelope, POST, cursor fsync), with
// 3 KB events.
func BenchmarkForwarder(b *testing.B) {
	rec := newRecorder(b)
	dir := b.TempDir()
	sp, err := spool.Open(dir, spool.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer sp.Close()
	f, err := New(Config{Spool: sp, Dir: dir, DSN: func(int) string { return rec.dsn() }, Primary: true})
	if err != nil {
		b.Fatal(err)
	}
	pad := strings.Repeat("x", 3000)
	var rs []*spool.Record
	for i := range b.N {
		rs = append(rs, &spool.Record{Project: 1, EventID: fmt.Sprintf("%032x", i+1), IngestedAt: time.Now(),
			Payload: []byte(`{"message":"benchmark","extra":{"pad":"` + pad + `"}}`)})
	}
	if err := sp.AppendAll(rs); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	r := &rig{t: b, dir: dir, sp: sp, f: f}
	r.start()
	for f.Stats().LagItems > 0 {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	r.cancel()
	<-r.done
	if got := len(rec.received()); got != b.N {
		b.Fatalf("%d events arrived, want %d", got, b.N)
	}
}
