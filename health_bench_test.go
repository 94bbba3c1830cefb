package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinysink/tinysink/ui"
)

// BenchmarkSessionMix measures what sessions cost the acknowledgement of
// events: an open-loop client sends 1,000 requests per second for a few
// seconds, first errors only, then errors and @sentry/node-like session
// envelopes 1:1 (500 of each per second), alternating, and reports the
// latency of every acknowledgement (p50, p99) of each run. The session
// items are spooled like events (one group commit), so the mixed run
// should ack as fast as the errors-only one.
//
//	go test -run '^$' -bench SessionMix -benchtime 1x .
func BenchmarkSessionMix(b *testing.B) {
	ts := startServer(b, noQuota...)
	p, err := ts.db.Project(1)
	if err != nil {
		b.Fatal(err)
	}
	dsn := ui.DSN(ts.base, p)
	event, err := os.ReadFile(filepath.Join("digest", "event", "testdata", "events", "python", "bugsink_visualshots-rich.json"))
	if err != nil {
		b.Fatal(err)
	}
	event = bytes.ReplaceAll(event, []byte("\n"), nil)
	url := ts.base + "/api/1/envelope/?sentry_key=" + p.Key
	errorEnv := func(i int) []byte {
		return fmt.Appendf(nil, "{\"event_id\":\"%032x\",\"dsn\":%q}\n{\"type\":\"event\",\"length\":%d}\n%s\n", i+1, dsn, len(event), event)
	}
	sessionEnv := func(i int) []byte {
		s := fmt.Sprintf(`{"sid":"%032x","init":true,"started":"2026-12-03T17:00:00.000Z","timestamp":"2026-12-03T17:00:00.100Z","status":"exited","errors":0,"did":"user-%d","duration":0.1,"attrs":{"release":"bench@1.0.%d","environment":"production"}}`, i, i%500, i%3)
		return fmt.Appendf(nil, "{\"sent_at\":\"2026-12-03T17:00:00.100Z\",\"sdk\":{\"name\":\"sentry.javascript.node\",\"version\":\"11.12.0\"}}\n{\"type\":\"session\"}\n%s\n", s)
	}
	const rate = 1000
	dur := 5 * time.Second
	if testing.Short() {
		dur = time.Second
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	seq := 0
	type job struct {
		i    int
		body []byte
	}
	run := func(mixed bool) (p50, p99 time.Duration, failed map[string]int) {
		n := int(dur.Seconds() * rate)
		lat := make([]time.Duration, n)
		failed = map[string]int{}
		var mu sync.Mutex
		jobs := make(chan job, n)
		var wg sync.WaitGroup
		for range 32 { // open loop: enough workers that none waits for another
			wg.Go(func() {
				for j := range jobs {
					t0 := time.Now()
					resp, err := client.Post(url, "application/x-sentry-envelope", bytes.NewReader(j.body))
					if err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
					lat[j.i] = time.Since(t0)
					if err != nil || resp.StatusCode != 200 {
						why := "transport"
						if err == nil {
							why = resp.Status
						}
						mu.Lock()
						failed[why]++
						mu.Unlock()
					}
				}
			})
		}
		start := time.Now()
		for i := range n {
			time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / rate)))
			seq++
			body := errorEnv(seq)
			if mixed && i%2 == 1 {
				body = sessionEnv(seq)
			}
			jobs <- job{i, body}
		}
		close(jobs)
		wg.Wait()
		slices.Sort(lat)
		return lat[n/2], lat[n*99/100], failed
	}
	var lines []string
	for range b.N {
		for round := range 2 {
			for _, mixed := range []bool{false, true} {
				p50, p99, failed := run(mixed)
				name := "errors-only"
				if mixed {
					name = "mixed-1:1"
				}
				lines = append(lines, fmt.Sprintf("round %d %-11s p50 %6.2f ms  p99 %6.2f ms  failed %v", round+1, name, ms(p50), ms(p99), failed))
				b.ReportMetric(ms(p99), name+"-p99-ms")
				// Let digest catch up, so each run starts from an empty spool.
				ts.drain(b)
			}
		}
	}
	b.Log("\n" + strings.Join(lines, "\n"))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
