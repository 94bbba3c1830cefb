package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinysink/tinysink/store"
)

// The server mounts the health checks and the metrics: /metrics needs a
// token on -addr and none on -metrics-addr.
func TestOpsEndpoints(t *testing.T) {
	ts := startServer(t, "-metrics-addr", "127.0.0.1:0", "-max-disk", "1GiB")
	for _, path := range []string{"/health/live", "/health/ready"} {
		resp, err := http.Get(ts.base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "OK\n" {
			t.Errorf("GET %s = %d %q", path, resp.StatusCode, b)
		}
	}
	if code := ts.apiGet(t, "/metrics", nil); code != 200 {
		t.Errorf("/metrics with a token = %d", code)
	}
	resp, err := http.Get(ts.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("/metrics without a token = %d", resp.StatusCode)
	}
	resp, err = http.Get("http://" + ts.metricsLn.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "tinysink_data_max_bytes 1.073741824e+09\n") ||
		!strings.Contains(string(b), `tinysink_events_refused_total{reason="memory"} 0`) {
		t.Errorf("-metrics-addr /metrics = %d\n%s", resp.StatusCode, b)
	}
}

// BenchmarkAlertLatency measures, under ~1,000 events/s, the time from a
// new issue's first event being ingested (its first_seen, an upper bound on
// "digested") to its webhook arriving at a receiver on 127.0.0.1. It
// reports the p50 and p99 in ms.
func BenchmarkAlertLatency(b *testing.B) {
	var mu sync.Mutex
	var lat []time.Duration
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			FirstSeen time.Time `json:"first_seen"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		lat = append(lat, time.Since(body.FirstSeen))
		mu.Unlock()
	}))
	defer recv.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := b.TempDir()
	s, err := newServer(defaultConfig(dir, "-quota-install-5m", "0", "-quota-project-5m", "0", "-quota-install-hour", "0", "-quota-project-hour", "0"), log)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.serve(ctx); close(done) }()
	defer func() { cancel(); <-done; s.close() }()
	if err := s.db.CreateAlertBackend(&store.AlertBackend{Project: 1, Kind: store.BackendWebhook, Name: "bench",
		Config: map[string]string{"webhook_url": recv.URL + "/hook"}}); err != nil {
		b.Fatal(err)
	}
	p, _ := s.db.Project(1)
	url := s.base + "/api/1/store/?sentry_key=" + p.Key
	pad := strings.Repeat("x", 12000)
	b.ResetTimer()
	for b.Loop() {
		lat = lat[:0]
		const seconds, perSecond, newEvery = 5, 1000, 100 // 10 new issues a second
		var wg sync.WaitGroup
		start := time.Now()
		for w := range 8 {
			wg.Go(func() {
				client := &http.Client{}
				for i := w; i < seconds*perSecond; i += 8 {
					time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / perSecond)))
					typ := "Steady"
					if i%newEvery == 0 {
						typ = fmt.Sprintf("New%d_%d", i, time.Now().UnixNano())
					}
					ev := fmt.Sprintf(`{"exception":{"values":[{"type":%q,"value":"v"}]},"extra":{"pad":%q}}`, typ, pad)
					resp, err := client.Post(url, "application/json", strings.NewReader(ev))
					if err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}
			})
		}
		wg.Wait()
		time.Sleep(2 * time.Second) // let the last alerts arrive
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	if len(lat) == 0 {
		b.Fatal("no webhook arrived")
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
	b.ReportMetric(float64(len(lat)), "alerts")
}
