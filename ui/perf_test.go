package ui

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tinysink/tinysink/store"
)

// seedPerf stores transactions, a monitor with check-ins and feedback on
// issue iid (when not 0) of project pid.
func seedPerf(t *testing.T, db *store.DB, pid int, iid uint32, now time.Time) {
	t.Helper()
	err := db.Digest(func(tx *store.Tx) error {
		for i := range 20 {
			ex := &store.TxExample{At: now, DurationMS: float64(i + 1), Status: "ok",
				Spans: []store.TxSpan{{ID: "a", Op: "db", Description: "SELECT <b>1</b>", DurationMS: 0.5}, {ID: "b", Parent: "a", Op: "http", Depth: 1, StartMS: 0.2, DurationMS: 0.1}}}
			failed := i%4 == 0
			if err := tx.AddTransaction(pid, &store.Transaction{Name: "GET /checkout", At: now, DurationMS: float64(i + 1), Failed: failed, Example: ex}); err != nil {
				return err
			}
		}
		m := &store.Monitor{Project: pid, Slug: "nightly-report", ScheduleType: "crontab", Crontab: "0 3 * * *", MarginMin: 5, MaxRuntimeMin: 30,
			Status: store.MonitorMissed, LastCheckIn: now.Add(-25 * time.Hour), NextExpected: now.Add(2 * time.Hour), Created: now}
		if err := tx.PutMonitor(m); err != nil {
			return err
		}
		d := 1500.0
		if err := tx.PutCheckIn(pid, m.Slug, &store.CheckIn{ID: "c1", Status: "ok", At: now.Add(-25 * time.Hour), DurationMS: &d}); err != nil {
			return err
		}
		if err := tx.PutCheckIn(pid, m.Slug, &store.CheckIn{Status: "missed", At: now.Add(-time.Hour)}); err != nil {
			return err
		}
		if iid != 0 {
			return tx.AddFeedback(iid, &store.Feedback{EventID: "0123456789abcdef0123456789abcdef", Name: "Jane", Email: "jane@example.com",
				Message: "The <script>checkout</script> hangs", At: now})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPerformanceMonitorsAndFeedbackPages(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.ingest(t, s.project.ID, []byte(`{"event_id":"0123456789abcdef0123456789abcdef","message":"checkout failed"}`))
	iss := s.issues(t, s.project.ID)[0]
	seedPerf(t, s.db, s.project.ID, iss.ID, time.Now())
	c := s.login(t, "admin")
	base := "/projects/" + strconv.Itoa(s.project.ID)

	for _, tt := range []struct{ path, want string }{
		{base + "/performance/", "GET /checkout"},
		{base + "/performance/", "25%"},
		{base + "/performance/?days=7", `<a href="?days=7&amp;name=GET&#43;%2Fcheckout">`},
		{base + "/performance/?days=1&name=GET+%2Fcheckout", "SELECT &lt;b&gt;1&lt;/b&gt;"},
		{base + "/monitors/", "nightly-report"},
		{base + "/monitors/", "missed"},
		{base + "/monitors/", "500 ms"},
		{"/issues/" + strconv.Itoa(int(iss.ID)) + "/", "The &lt;script&gt;checkout&lt;/script&gt; hangs"},
		{"/issues/" + strconv.Itoa(int(iss.ID)) + "/", "jane@example.com"},
	} {
		rec := s.do("GET", tt.path, nil, c)
		if rec.Code == 303 {
			rec = s.do("GET", rec.Header().Get("Location"), nil, c)
		}
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), tt.want) {
			t.Errorf("GET %s: %d, body without %q:\n%.3000s", tt.path, rec.Code, tt.want, rec.Body.String()[min(len(rec.Body.String()), 1500):])
		}
	}
	if rec := s.do("GET", base+"/performance/?days=0", nil, c); rec.Code != 404 {
		t.Errorf("days=0: %d, want 404", rec.Code)
	}
}

func TestAPITransactionsAndMonitors(t *testing.T) {
	t.Parallel()
	srv, db, tok := apiServer(t)
	seedPerf(t, db, 1, 1, time.Now())
	code, m := call(t, srv, tok, "GET", "/api/canonical/0/transactions/?project=1", "")
	res, _ := m["results"].([]any)
	if code != 200 || len(res) != 1 {
		t.Fatalf("transactions: %d %v", code, m)
	}
	tr := res[0].(map[string]any)
	if tr["name"] != "GET /checkout" || tr["count"] != 20.0 || tr["failure_rate"] != 0.25 {
		t.Errorf("transaction = %v", tr)
	}
	if p50, p99 := tr["p50"].(float64), tr["p99"].(float64); p50 < 9.5 || p50 > 10.5 || p99 < 18.5 || p99 > 20.5 {
		t.Errorf("p50 %v, p99 %v; want about 10 and 20", p50, p99)
	}
	code, m = call(t, srv, tok, "GET", "/api/canonical/0/monitors/?project=1", "")
	res, _ = m["results"].([]any)
	if code != 200 || len(res) != 1 {
		t.Fatalf("monitors: %d %v", code, m)
	}
	mon := res[0].(map[string]any)
	if mon["slug"] != "nightly-report" || mon["status"] != "missed" || mon["last_check_in"] == nil || mon["next_expected"] == nil {
		t.Errorf("monitor = %v", mon)
	}
	code, m = call(t, srv, tok, "GET", "/api/canonical/0/issues/1/feedback/", "")
	if res, _ := m["results"].([]any); code != 200 || len(res) != 1 {
		t.Errorf("feedback: %d %v", code, m)
	}
	for _, path := range []string{"/api/canonical/0/transactions/", "/api/canonical/0/monitors/?project=x", "/api/canonical/0/transactions/?project=1&days=999"} {
		if code, _ := call(t, srv, tok, "GET", path, ""); code != 400 {
			t.Errorf("GET %s: %d, want 400", path, code)
		}
	}
	if code, _ := call(t, srv, tok, "GET", "/api/canonical/0/monitors/?project=99", ""); code != 404 {
		t.Errorf("unknown project: %d, want 404", code)
	}
}
