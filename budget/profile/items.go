package profile

import (
	"fmt"
	"io"
	"net/http"
	"strings"
)

// items sends what SDKs send besides events: a session, a session
// aggregate, a client report, an attachment, a transaction and a failed
// cron check-in (which digests a failure event) in envelopes, and a CSP
// report, so that the fully warmed server has summarised each kind (the
// CSP report is stored as an event).
func (s *session) items() error {
	post := func(path, ct, body string) error {
		req, _ := http.NewRequest("POST", s.base+path+"?sentry_key="+s.key, strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		resp, err := s.client.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s: %s", path, resp.Status)
		}
		return nil
	}
	env := "{}\n" +
		`{"type":"session"}` + "\n" + `{"sid":"5f0d2d3b0c6a4f1e9d6e0b6f7a1c2d3e","did":"u1","init":true,"status":"crashed","errors":1,"attrs":{"release":"budget@1.0","environment":"production"}}` + "\n" +
		`{"type":"sessions"}` + "\n" + `{"aggregates":[{"started":"2026-01-01T00:00:00Z","exited":3,"errored":1}],"attrs":{"release":"budget@1.0"}}` + "\n" +
		`{"type":"client_report"}` + "\n" + `{"discarded_events":[{"reason":"queue_overflow","category":"error","quantity":2}]}` + "\n" +
		`{"type":"attachment","length":5}` + "\n" + "hello\n" +
		`{"type":"transaction"}` + "\n" + `{"transaction":"GET /budget","start_timestamp":1700000000,"timestamp":1700000000.05,"contexts":{"trace":{"span_id":"a","status":"ok"}},"spans":[{"span_id":"b","parent_span_id":"a","op":"db","start_timestamp":1700000000.01,"timestamp":1700000000.02}]}` + "\n" +
		`{"type":"check_in"}` + "\n" + `{"check_in_id":"c1","monitor_slug":"budget-job","status":"error","monitor_config":{"schedule":{"type":"crontab","value":"0 * * * *"}}}` + "\n"
	if err := post("/api/1/envelope/", "application/x-sentry-envelope", env); err != nil {
		return err
	}
	csp := `{"csp-report":{"document-uri":"https://example.org/","blocked-uri":"https://evil.example/x.js","effective-directive":"script-src-elem"}}`
	if err := post("/api/1/security/", "application/csp-report", csp); err != nil {
		return err
	}
	s.sent.Add(2) // the CSP report and the monitor's failure event
	return s.waitStored()
}
