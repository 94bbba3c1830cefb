package ingest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestEnvelopeItems: sessions and client reports are spooled with their
// type beside the event, other items are counted, and a malformed item is
// dropped alone, named in the reply.
func TestEnvelopeItems(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	const session = `{"sid":"c5e38c3197924e7d8d503d09f12ea55b","init":true,"status":"ok","attrs":{"release":"1.0"}}`
	const report = `{"timestamp":1795777849.2,"discarded_events":[{"reason":"queue_overflow","category":"error","quantity":3}]}`
	env := envelope(`{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc"}`,
		`{"type":"event"}`, `{"message":"hi"}`,
		`{"type":"session"}`, session,
		`{"type":"attachment","length":3}`, `abc`,
		`{"type":"client_report"}`, report,
		`{"type":"session"}`, `{"sid": nope}`,
		`{"type":"profile"}`, `{}`,
		`{"type":"attachment"}`, `xyz`, ``)
	status, body := ts.postEnvelope(t, env)
	if status != http.StatusOK {
		t.Fatalf("%d %s", status, body)
	}
	var reply struct {
		ID      string        `json:"id"`
		Dropped []itemProblem `json:"dropped"`
	}
	if err := json.Unmarshal(body, &reply); err != nil {
		t.Fatal(err)
	}
	if reply.ID != "9ec79c33ec9942ab8353589fcb2e04dc" || len(reply.Dropped) != 1 || reply.Dropped[0].Item != 5 ||
		reply.Dropped[0].Type != "session" || !strings.HasPrefix(reply.Dropped[0].Reason, "The session item is not valid JSON") {
		t.Errorf("reply %s", body)
	}
	events, items := ts.newRecordsAndItems(t)
	if len(events) != 1 || string(events[0].Payload) != `{"message":"hi"}` {
		t.Errorf("events %+v", events)
	}
	var got []string
	for _, it := range items {
		got = append(got, it.Type+" "+string(it.Payload))
	}
	want := []string{"session " + session, "client_report " + report, `dropped_items {"attachment":2,"profile":1}`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("items spooled:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if c := ts.h.Counters(); c.Items != 2 || c.MalformedItems != 1 || c.Dropped != 3 {
		t.Errorf("counters %+v", c)
	}

	// Only bad items: 400, nothing spooled.
	status, body = ts.postEnvelope(t, envelope(`{}`, `{"type":"session"}`, `[1]`, ``))
	if status != http.StatusBadRequest || !strings.Contains(string(body), "The session item is not a JSON object") {
		t.Errorf("only a bad session: %d %s", status, body)
	}
	if ev, it := ts.newRecordsAndItems(t); len(ev)+len(it) != 0 {
		t.Errorf("spooled %d events and %d items from a bad envelope", len(ev), len(it))
	}

	// An oversized session is dropped, the event kept.
	big := `{"sid":"` + strings.Repeat("x", maxItemSize) + `"}`
	status, body = ts.postEnvelope(t, envelope(`{}`, `{"type":"session"}`, big, `{"type":"event"}`, `{"message":"kept"}`, ``))
	if status != http.StatusOK || !strings.Contains(string(body), "larger than") {
		t.Errorf("big session: %d %s", status, body)
	}
	if ev, it := ts.newRecordsAndItems(t); len(ev) != 1 || len(it) != 0 {
		t.Errorf("big session: spooled %d events and %d items, want the event only", len(ev), len(it))
	}
	ts.checkStillServes(t)
}

// FuzzCSP checks that the CSP report parser never panics and makes only
// JSON-object events or a 400.
func FuzzCSP(f *testing.F) {
	f.Add("application/csp-report", []byte(`{"csp-report":{"blocked-uri":"inline","effective-directive":"script-src"}}`))
	f.Add("application/reports+json", []byte(`[{"type":"csp-violation","body":{"blockedURL":"x","effectiveDirective":"img-src"}}]`))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		events, err := cspEvents(ct, body)
		if err != nil {
			if ie, ok := err.(*ingestError); !ok || ie.kind != malformed {
				t.Fatalf("error %v is not a 400", err)
			}
			return
		}
		if len(events) > maxReports {
			t.Fatalf("%d events", len(events))
		}
		for _, e := range events {
			if err := checkEventJSON(e); err != nil {
				t.Fatalf("event %q: %v", e, err)
			}
		}
	})
}
