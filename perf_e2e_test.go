package main

import (
	"context"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"

	"github.com/tinysink/tinysink/ui"
)

type apiTransactionT struct {
	Name        string  `json:"name"`
	Count       int     `json:"count"`
	FailureRate float64 `json:"failure_rate"`
	P50         float64 `json:"p50"`
	P95         float64 `json:"p95"`
	P99         float64 `json:"p99"`
}

type apiMonitorT struct {
	Slug         string     `json:"slug"`
	Status       string     `json:"status"`
	LastCheckIn  *time.Time `json:"last_check_in"`
	NextExpected *time.Time `json:"next_expected"`
	InProgress   bool       `json:"in_progress"`
	CheckIns     []struct {
		Status     string   `json:"status"`
		DurationMS *float64 `json:"duration_ms"`
	} `json:"check_ins"`
}

// A real sentry-go sends transactions with spans and cron check-ins; the
// API shows the transactions summarised and the monitors with their
// check-ins, and the scheduler (on an injected clock) finds a missed one.
func TestSentryGoTransactionsAndCheckIns(t *testing.T) {
	ts := startServer(t)
	p, err := ts.db.Project(1)
	if err != nil {
		t.Fatal(err)
	}
	client, err := sentry.NewClient(sentry.ClientOptions{
		Dsn: ui.DSN(ts.base, p), Release: "shop@2.0.0", Environment: "test",
		EnableTracing: true, TracesSampleRate: 1.0, Transport: sentry.NewHTTPSyncTransport(),
	})
	if err != nil {
		t.Fatal(err)
	}
	hub := sentry.NewHub(client, sentry.NewScope())
	ctx := sentry.SetHubOnContext(context.Background(), hub)
	for i := range 20 {
		tx := sentry.StartTransaction(ctx, "GET /api/orders")
		db := tx.StartChild("db.query", sentry.WithDescription("SELECT * FROM orders"))
		time.Sleep(time.Millisecond)
		db.Finish()
		if i%5 == 0 {
			tx.Status = sentry.SpanStatusInternalError
		} else {
			tx.Status = sentry.SpanStatusOK
		}
		tx.Finish()
	}
	tx := sentry.StartTransaction(ctx, "POST /api/pay")
	tx.Status = sentry.SpanStatusOK
	tx.Finish()

	cfg := &sentry.MonitorConfig{Schedule: sentry.CrontabSchedule("0 * * * *"), CheckInMargin: 5, MaxRuntime: 10, Timezone: "Europe/Amsterdam"}
	id := hub.CaptureCheckIn(&sentry.CheckIn{MonitorSlug: "hourly-sync", Status: sentry.CheckInStatusInProgress}, cfg)
	if id == nil {
		t.Fatal("CaptureCheckIn returned no id")
	}
	hub.CaptureCheckIn(&sentry.CheckIn{ID: *id, MonitorSlug: "hourly-sync", Status: sentry.CheckInStatusOK, Duration: 3 * time.Second}, nil)
	hub.CaptureCheckIn(&sentry.CheckIn{MonitorSlug: "nightly-export", Status: sentry.CheckInStatusError},
		&sentry.MonitorConfig{Schedule: sentry.IntervalSchedule(1, sentry.MonitorScheduleUnitDay)})
	if !client.Flush(10 * time.Second) {
		t.Fatal("sentry-go did not flush")
	}
	ts.drain(t)

	var txs listT[apiTransactionT]
	if code := ts.apiGet(t, "/api/canonical/0/transactions/?project=1", &txs); code != 200 {
		t.Fatalf("transactions: %d", code)
	}
	if len(txs.Results) != 2 {
		t.Fatalf("transactions = %+v, want 2 names", txs.Results)
	}
	orders := txs.Results[0]
	if orders.Name != "GET /api/orders" || orders.Count != 20 || orders.FailureRate != 0.2 || orders.P50 < 1 || orders.P99 < orders.P50 {
		t.Errorf("GET /api/orders = %+v", orders)
	}
	ex, err := ts.db.TxExamples(1, "GET /api/orders")
	if err != nil || len(ex) == 0 || len(ex[0].Spans) != 1 || ex[0].Spans[0].Description != "SELECT * FROM orders" {
		t.Errorf("examples = %+v, %v", ex, err)
	}

	monitors := func() map[string]apiMonitorT {
		var ms listT[apiMonitorT]
		if code := ts.apiGet(t, "/api/canonical/0/monitors/?project=1", &ms); code != 200 {
			t.Fatalf("monitors: %d", code)
		}
		out := map[string]apiMonitorT{}
		for _, m := range ms.Results {
			out[m.Slug] = m
		}
		return out
	}
	ms := monitors()
	sync, export := ms["hourly-sync"], ms["nightly-export"]
	if sync.Status != "ok" || sync.LastCheckIn == nil || sync.NextExpected == nil || len(sync.CheckIns) != 1 ||
		sync.CheckIns[0].DurationMS == nil || *sync.CheckIns[0].DurationMS != 3000 {
		t.Errorf("hourly-sync = %+v", sync)
	}
	if export.Status != "error" {
		t.Errorf("nightly-export = %+v, want error", export)
	}
	issues := ts.issues(t, 1)
	if len(issues) != 1 || issues[0].Title != "Monitor nightly-export reported an error" {
		t.Errorf("issues after an error check-in = %+v", issues)
	}

	// The clock moves past the next expected run and its margin.
	late := sync.NextExpected.Add(6 * time.Minute)
	if _, err := ts.worker.CheckMonitors(late); err != nil {
		t.Fatal(err)
	}
	if m := monitors()["hourly-sync"]; m.Status != "missed" || !m.NextExpected.After(late) {
		t.Errorf("after the margin: %+v, want missed and the next run expected", m)
	}
	if n := len(ts.issues(t, 1)); n != 2 {
		t.Errorf("%d issues after a missed check-in, want 2", n)
	}
}
