package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Benchmarks of the items that are not events: ack latency of a mixed
// stream against errors alone, and the memory a day of transactions adds.
// They start the real binary (startProc) and take tens of seconds:
//
//	go test -run '^$' -bench 'MixedItems|TransactionDayRSS' -benchtime 1x .

// itemEnvelope returns envelope i of a stream: with mixed set, every other
// one is an error event and the rest alternate between a transaction and a
// cron check-in; otherwise all are error events.
func itemEnvelope(i int, mixed bool) string {
	id := newID()
	if !mixed || i%2 == 0 {
		ev := fmt.Sprintf(`{"event_id":"%s","platform":"go","level":"error","exception":{"values":[{"type":"BenchError","value":"failure %d"}]}}`, id, i%50)
		return fmt.Sprintf("{\"event_id\":\"%s\"}\n{\"type\":\"event\",\"length\":%d}\n%s\n", id, len(ev), ev)
	}
	switch (i / 2) % 3 {
	case 0:
		now := float64(time.Now().UnixNano()) / 1e9
		tx := fmt.Sprintf(`{"event_id":"%s","type":"transaction","transaction":"GET /api/items/%d","start_timestamp":%f,"timestamp":%f,`+
			`"contexts":{"trace":{"trace_id":"%s","span_id":"aaaaaaaaaaaaaaaa","op":"http.server","status":"ok"}},`+
			`"spans":[{"span_id":"bbbbbbbbbbbbbbbb","parent_span_id":"aaaaaaaaaaaaaaaa","op":"db.query","description":"SELECT 1","start_timestamp":%f,"timestamp":%f}]}`,
			id, i%40, now-0.05, now, id, now-0.04, now-0.01)
		return fmt.Sprintf("{\"event_id\":\"%s\"}\n{\"type\":\"transaction\",\"length\":%d}\n%s\n", id, len(tx), tx)
	case 1:
		// A @sentry/node-like session update: init, then ok, in one release.
		ts := time.Now().UTC().Format(time.RFC3339Nano)
		ss := fmt.Sprintf(`{"sid":"%s","init":true,"started":"%s","timestamp":"%s","status":"ok","errors":0,"duration":1.2,`+
			`"attrs":{"release":"bench@1.0.%d","environment":"production"}}`, id, ts, ts, i%5)
		return fmt.Sprintf("{\"sent_at\":\"%s\"}\n{\"type\":\"session\",\"length\":%d}\n%s\n", ts, len(ss), ss)
	}
	ci := fmt.Sprintf(`{"check_in_id":"%s","monitor_slug":"job-%d","status":"ok","duration":1.5,`+
		`"monitor_config":{"schedule":{"type":"crontab","value":"*/5 * * * *"},"checkin_margin":2,"max_runtime":10}}`, id, i%20)
	return fmt.Sprintf("{}\n{\"type\":\"check_in\",\"length\":%d}\n%s\n", len(ci), ci)
}

// paced sends n envelopes at rate per second (open loop: each is due at
// its time whether or not earlier ones were answered) and returns the
// sorted ack latencies of those answered 200, and how many were not.
func paced(p *proc, n, rate int, mixed bool) (lat []time.Duration, failed int) {
	client := &http.Client{Timeout: 10 * time.Second}
	type job struct {
		i   int
		due time.Time
	}
	jobs := make(chan job, n)
	start := time.Now().Add(100 * time.Millisecond)
	for i := range n {
		jobs <- job{i, start.Add(time.Duration(i) * time.Second / time.Duration(rate))}
	}
	close(jobs)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for j := range jobs {
				body := itemEnvelope(j.i, mixed)
				time.Sleep(time.Until(j.due))
				t0 := time.Now()
				resp, err := client.Post(p.base+"/api/1/envelope/?sentry_key="+p.key, "application/x-sentry-envelope", strings.NewReader(body))
				d := time.Since(t0)
				ok := err == nil && resp.StatusCode == 200
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				mu.Lock()
				if ok {
					lat = append(lat, d)
				} else {
					failed++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(lat)
	return lat, failed
}

// BenchmarkMixedItems sends 1,000 items/s for 10 s, errors only and then
// errors mixed 1:1 with transactions, sessions and check-ins (a third
// each), each against a fresh server, and reports the ack p50/p99 of each.
func BenchmarkMixedItems(b *testing.B) {
	for _, mixed := range []bool{false, true} {
		name := "errors-only"
		if mixed {
			name = "mixed"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				p := startProc(b, b.TempDir())
				paced(p, 500, 1000, mixed) // warm up
				lat, failed := paced(p, 10000, 1000, mixed)
				if len(lat) == 0 {
					b.Fatal("nothing answered")
				}
				p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
				b.ReportMetric(float64(p50.Microseconds())/1000, "ack-p50-ms")
				b.ReportMetric(float64(p99.Microseconds())/1000, "ack-p99-ms")
				b.Logf("%s: %d acked, %d failed, p50 %v, p99 %v, max %v", name, len(lat), failed, p50, p99, lat[len(lat)-1])
			}
		})
	}
}

// budgetReading is the part of /debug/budget the RSS benchmark reads.
type budgetReading struct {
	RSS     int64 `json:"vm_rss"`
	RSSAnon int64 `json:"rss_anon"`
	Spool   struct {
		Oldest time.Time
	} `json:"spool"`
}

func readBudget(b *testing.B, p *proc, tok string) budgetReading {
	b.Helper()
	var r budgetReading
	if code := p.get(b, tok, "/debug/budget?gc=1", &r); code != 200 {
		b.Fatalf("GET /debug/budget = %d", code)
	}
	return r
}

// BenchmarkTransactionDayRSS sends a day's worth of 100,000 transactions
// (1,000 names, so half of them count as <other>; random durations) to a
// warmed server and reports the VmRSS and RssAnon they add once digested.
func BenchmarkTransactionDayRSS(b *testing.B) {
	for range b.N {
		dir := b.TempDir()
		tok := createToken(b, dir)
		p := startProc(b, dir)
		send := func(n, names int) {
			client := &http.Client{Timeout: 10 * time.Second}
			next := make(chan int, 1024)
			go func() {
				for i := range n {
					next <- i
				}
				close(next)
			}()
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					for i := range next {
						now := float64(time.Now().UnixNano()) / 1e9
						dur := rand.ExpFloat64() * 0.08
						status := "ok"
						if i%17 == 0 {
							status = "internal_error"
						}
						tx := fmt.Sprintf(`{"type":"transaction","transaction":"GET /api/route/%d","start_timestamp":%f,"timestamp":%f,`+
							`"contexts":{"trace":{"trace_id":"%032x","span_id":"aaaaaaaaaaaaaaaa","op":"http.server","status":%q}},`+
							`"spans":[{"span_id":"bbbbbbbbbbbbbbbb","parent_span_id":"aaaaaaaaaaaaaaaa","op":"db.query","description":"SELECT %d","start_timestamp":%f,"timestamp":%f}]}`,
							i%names, now-dur, now, i, status, i, now-dur, now-dur/2)
						body := fmt.Sprintf("{}\n{\"type\":\"transaction\",\"length\":%d}\n%s\n", len(tx), tx)
						resp, err := client.Post(p.base+"/api/1/envelope/?sentry_key="+p.key, "application/x-sentry-envelope", strings.NewReader(body))
						if err != nil {
							b.Error(err)
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				})
			}
			wg.Wait()
		}
		settle := func() budgetReading {
			for range 600 {
				if r := readBudget(b, p, tok); r.Spool.Oldest.IsZero() {
					time.Sleep(time.Second) // let the digest's last batch and GC settle
					return readBudget(b, p, tok)
				}
				time.Sleep(100 * time.Millisecond)
			}
			b.Fatal("the digest did not catch up")
			return budgetReading{}
		}
		// Warm: the transaction path, its tree pages and the API once.
		send(2000, 1000)
		settle()
		p.get(b, tok, "/api/canonical/0/transactions/?project=1", nil)
		before := settle()
		start := time.Now()
		send(100000, 1000)
		sent := time.Since(start)
		after := settle()
		var list struct {
			Results []struct {
				Name  string `json:"name"`
				Count int    `json:"count"`
			} `json:"results"`
		}
		p.get(b, tok, "/api/canonical/0/transactions/?project=1&days=1", &list)
		total := 0
		for _, r := range list.Results {
			total += r.Count
		}
		mib := func(n int64) float64 { return float64(n) / (1 << 20) }
		b.ReportMetric(mib(after.RSS-before.RSS), "rss-added-MiB")
		b.ReportMetric(mib(after.RSSAnon-before.RSSAnon), "rss-anon-added-MiB")
		b.Logf("100k transactions sent in %v; VmRSS %.1f → %.1f MiB, RssAnon %.1f → %.1f MiB; %d names listed, %d transactions counted",
			sent.Round(time.Millisecond), mib(before.RSS), mib(after.RSS), mib(before.RSSAnon), mib(after.RSSAnon), len(list.Results), total)
	}
}
