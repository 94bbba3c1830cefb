package exchange

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinysink/tinysink/digest"
	"github.com/tinysink/tinysink/store"
)

// BenchmarkExportImport exports an installation of n real sample events
// (each with its own id, over 3 projects) into a directory and imports it
// into an empty one, reporting the rate of each and how far the Go heap in
// use rose above where it started while each ran: that must not grow with
// n (one index chunk, one digest batch at a time).
//
//	go test -run '^$' -bench ExportImport -benchtime 1x ./store/exchange
func BenchmarkExportImport(b *testing.B) {
	for _, n := range []int{5000, 20000} {
		b.Run(fmt.Sprintf("%dk", n/1000), func(b *testing.B) { benchExportImport(b, n) })
	}
}

func benchExportImport(b *testing.B, n int) {
	src := openStore(b)
	evs := sampleEvents(b)
	var pids []int
	for i := range 3 {
		p, err := src.CreateProject(fmt.Sprintf("p%d", i))
		if err != nil {
			b.Fatal(err)
		}
		pids = append(pids, p.ID)
	}
	l := digest.NewLoader()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for done := 0; done < n; {
		var batch []*digest.Prepared
		for ; done < n && len(batch) < 500; done++ {
			p, err := l.PrepareID(pids[done%3], fmt.Sprintf("%032x", done+1), evs[done%len(evs)], at.Add(time.Duration(done)*time.Second))
			if err != nil {
				b.Fatal(err)
			}
			batch = append(batch, p)
		}
		if err := src.Digest(func(tx *store.Tx) error {
			for _, p := range batch {
				if _, err := p.Add(tx); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		dir := filepath.Join(b.TempDir(), "export")
		stop := heapRise()
		t0 := time.Now()
		st, err := ExportDir(src, dir, "bench")
		if err != nil {
			b.Fatal(err)
		}
		exp := time.Since(t0)
		b.ReportMetric(float64(stop())/(1<<20), "export-heap-rise-MiB")
		b.ReportMetric(float64(st.Events)/exp.Seconds(), "export-events/s")

		dst := openStore(b)
		r, err := OpenDir(dir)
		if err != nil {
			b.Fatal(err)
		}
		stop = heapRise()
		t0 = time.Now()
		ist, err := Import(dst, r)
		if err != nil || ist.Events != n {
			b.Fatalf("import %+v, %v", ist, err)
		}
		imp := time.Since(t0)
		b.ReportMetric(float64(stop())/(1<<20), "import-heap-rise-MiB")
		b.ReportMetric(float64(ist.Events)/imp.Seconds(), "import-events/s")
	}
}

// heapRise samples the Go heap in use every 5 ms until stop, which
// returns the highest reading less the one at the start (after a GC).
func heapRise() func() uint64 {
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	go func() {
		defer close(finished)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		return max(peak.Load(), base) - base
	}
}
