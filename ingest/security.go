package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/tinysink/tinysink/budget"
	"github.com/tinysink/tinysink/digest/rawevent"
	"github.com/tinysink/tinysink/ingest/spool"
	"github.com/tinysink/tinysink/store/disk"
)

// CSP reports (reference §2.7). Browsers post them to the report-uri or
// report-to endpoint of a Content-Security-Policy, with the key in the
// query: POST /api/{project_id}/security/?sentry_key=KEY. Two formats:
//
//   - application/csp-report: {"csp-report": {"document-uri": ..., ...}}
//   - application/reports+json (the Reporting API): an array of reports,
//     of which those of type "csp-violation" are taken, their camelCase
//     body fields renamed to the csp-report ones.
//
// Each report becomes an ordinary event, grouped by its directive and
// blocked URI (fingerprint ["csp", directive, blocked-uri]).

// cspUsed marks CSP report handling loaded in the budget registry.
var cspUsed = budget.FirstUse("csp-reports")

// maxReports bounds the reports taken from one reports+json request.
const maxReports = 20

// reportingNames maps the Reporting API's CSP body fields to csp-report's.
var reportingNames = map[string]string{
	"documentURL":        "document-uri",
	"blockedURL":         "blocked-uri",
	"effectiveDirective": "effective-directive",
	"originalPolicy":     "original-policy",
	"referrer":           "referrer",
	"disposition":        "disposition",
	"statusCode":         "status-code",
	"sourceFile":         "source-file",
	"lineNumber":         "line-number",
	"columnNumber":       "column-number",
	"sample":             "script-sample",
}

// handleSecurity serves POST /api/{project_id}/security/.
func (h *Handler) handleSecurity(w http.ResponseWriter, r *http.Request) error {
	project, b, release, err := h.admitBody(w, r, h.store)
	if err != nil {
		return err
	}
	defer b.Close()
	defer release()
	ev := getEventBuf()
	defer putEventBuf(ev)
	if err := ev.readAll(b, 0, h.store.decoded.n); err != nil {
		return err
	}
	b.Close()
	cspUsed()
	events, err := cspEvents(r.Header.Get("Content-Type"), ev.b)
	if err != nil {
		return err
	}
	now, addr := h.now(), h.remoteAddr(r)
	rs := make([]*spool.Record, 0, len(events))
	for _, e := range events {
		rs = append(rs, &spool.Record{Project: project, EventID: rawevent.NewID(), IngestedAt: now, RemoteAddr: addr, Payload: e})
	}
	if len(rs) > 0 {
		if err := h.spool.AppendAll(rs); err != nil {
			if disk.IsFull(err) {
				return errDiskFull
			}
			return &ingestError{kind: unavailable, msg: "Could not store the report; try again later", err: err}
		}
		h.accepted.Add(int64(len(rs)))
		if a := admissionOf(r); a != nil {
			a.accepted = true
		}
		if h.onAccept != nil {
			for range rs {
				h.onAccept(project)
			}
		}
	}
	if len(rs) == 1 {
		return writeID(w, rs[0].EventID)
	}
	return writeID(w, "")
}

// cspEvents returns the events of a CSP report body of content type ct.
func cspEvents(ct string, body []byte) ([][]byte, error) {
	if !utf8.Valid(body) {
		return nil, malformedf("The report is not valid UTF-8")
	}
	mt, _, _ := mime.ParseMediaType(ct)
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if mt == "application/reports+json" {
		var reports []struct {
			Type      string         `json:"type"`
			URL       string         `json:"url"`
			UserAgent string         `json:"user_agent"`
			Body      map[string]any `json:"body"`
		}
		if err := dec.Decode(&reports); err != nil {
			return nil, malformedf("The report is not a JSON array of reports: %v", err)
		}
		var out [][]byte
		for _, rep := range reports {
			if rep.Type != "csp-violation" || rep.Body == nil {
				continue
			}
			if len(out) == maxReports {
				break
			}
			csp := map[string]any{}
			for k, v := range rep.Body {
				if name, ok := reportingNames[k]; ok {
					csp[name] = v
				}
			}
			if _, ok := csp["document-uri"]; !ok && rep.URL != "" {
				csp["document-uri"] = rep.URL
			}
			e, err := cspEvent(csp, rep.UserAgent)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		return out, nil
	}
	// application/csp-report, and anything else that holds one.
	var doc struct {
		Report map[string]any `json:"csp-report"`
	}
	if err := dec.Decode(&doc); err != nil {
		return nil, malformedf("The report is not a JSON object: %v", err)
	}
	if doc.Report == nil {
		return nil, malformedf(`The report has no "csp-report" object`)
	}
	e, err := cspEvent(doc.Report, "")
	if err != nil {
		return nil, err
	}
	return [][]byte{e}, nil
}

// cspEvent turns one csp-report object into an event's JSON.
func cspEvent(csp map[string]any, userAgent string) ([]byte, error) {
	str := func(k string) string {
		s, _ := csp[k].(string)
		return strings.TrimSpace(s)
	}
	directive := str("effective-directive")
	if directive == "" {
		directive, _, _ = strings.Cut(str("violated-directive"), " ")
	}
	if directive == "" {
		directive = "<unknown>"
	}
	blocked := str("blocked-uri")
	if blocked == "" {
		blocked = "<unknown>"
	}
	headers := map[string]string{}
	if ref := str("referrer"); ref != "" {
		headers["Referer"] = ref
	}
	if userAgent != "" {
		headers["User-Agent"] = userAgent
	}
	ev := map[string]any{
		"platform": "javascript",
		"logger":   "csp",
		"level":    "warning",
		"exception": map[string]any{"values": []any{map[string]any{
			"type": "CSP", "value": fmt.Sprintf("blocked %s (%s)", blocked, directive),
		}}},
		"fingerprint": []string{"csp", directive, blocked},
		"contexts":    map[string]any{"csp": csp},
		"request":     map[string]any{"url": str("document-uri"), "headers": headers},
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, malformedf("The report cannot be stored: %v", err)
	}
	if err := checkEventJSON(b); err != nil {
		return nil, malformedf("The report is nested too deep")
	}
	return b, nil
}
