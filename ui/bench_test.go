package ui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// deepEvent returns a Python-style event whose exception has n frames,
// each with five lines of context before and after and a few local
// variables: a deep recursion as an SDK really sends it.
func deepEvent(n int) []byte {
	frames := make([]map[string]any, n)
	for i := range frames {
		pre := make([]string, 5)
		post := make([]string, 5)
		for j := range pre {
			pre[j] = fmt.Sprintf("    value_%d = compute_something(arg_%d, options=defaults)  # line before", j, j)
			post[j] = fmt.Sprintf("    return transform_result(value_%d, depth=depth + 1)  # line after", j)
		}
		frames[i] = map[string]any{
			"filename": fmt.Sprintf("app/services/module_%03d.py", i%40), "module": fmt.Sprintf("app.services.module_%03d", i%40),
			"function": fmt.Sprintf("handle_level_%d", i), "lineno": 100 + i, "in_app": i%3 != 0,
			"abs_path":     fmt.Sprintf("/srv/app/services/module_%03d.py", i%40),
			"context_line": fmt.Sprintf("    result = handle_level_%d(request, depth=depth + 1)", i+1),
			"pre_context":  pre, "post_context": post,
			"vars": map[string]any{"depth": i, "request": "<Request 'POST /checkout'>", "self": "<Handler object at 0x7f3a2c1d>", "options": map[string]any{"retry": true, "timeout": 30}},
		}
	}
	ev := map[string]any{
		"event_id": "fedcba9876543210fedcba9876543210", "platform": "python", "level": "error",
		"exception": map[string]any{"values": []any{map[string]any{
			"type": "RecursionError", "value": "maximum recursion depth exceeded while calling a Python object",
			"stacktrace": map[string]any{"frames": frames},
		}}},
		"request": map[string]any{"method": "POST", "url": "https://shop.example/checkout"},
		"tags":    map[string]any{"environment": "production", "server_name": "web-1"},
	}
	b, _ := json.Marshal(ev)
	return b
}

// BenchmarkIssuePageDeepStack renders the Stacktrace tab of an event with a
// 500-frame stack trace. The bar is 20 ms and 150 KB of HTML and CSS.
func BenchmarkIssuePageDeepStack(b *testing.B) {
	s := newTestServer(b)
	s.ingest(b, s.project.ID, deepEvent(500))
	iss := s.issues(b, s.project.ID)[0]
	admin := s.login(b, "admin")
	target := fmt.Sprintf("/issues/%d/event/last/", iss.ID)
	css, _ := staticFS.ReadFile("static/style.css")
	rec := s.do("GET", target, nil, admin)
	if rec.Code != http.StatusOK {
		b.Fatalf("status %d", rec.Code)
	}
	html := rec.Body.Len()
	if n := strings.Count(rec.Body.String(), "<li id=\"f"); n != 500 {
		b.Fatalf("page shows %d frames, want 500", n)
	}
	b.ResetTimer()
	for b.Loop() {
		rec := s.do("GET", target, nil, admin)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
	b.ReportMetric(float64(html), "html-bytes")
	b.ReportMetric(float64(html+len(css)), "html+css-bytes")
}

// TestDeepStackPageSize holds the page-size bar in the ordinary test run.
func TestDeepStackPageSize(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.ingest(t, s.project.ID, deepEvent(500))
	iss := s.issues(t, s.project.ID)[0]
	admin := s.login(t, "admin")
	rec := s.do("GET", fmt.Sprintf("/issues/%d/event/last/", iss.ID), nil, admin)
	css, _ := staticFS.ReadFile("static/style.css")
	if size := rec.Body.Len() + len(css); size > 150<<10 {
		t.Errorf("500-frame page is %d bytes of HTML and CSS, over 150 KB", size)
	}
	// A frame far from the raise loads on request (Python's frames run
	// oldest first, so page frame 100 is the stack's frame 100).
	if strings.Contains(rec.Body.String(), "handle_level_101(request") {
		t.Error("a frame far from the raise carries its code on the first load")
	}
	body := s.do("GET", fmt.Sprintf("/issues/%d/event/last/?frame=100", iss.ID), nil, admin).Body.String()
	if !strings.Contains(body, "handle_level_101(request") {
		t.Error("?frame=100 does not show that frame's code")
	}
	// The raise frame (the newest, last on the page) carries its code and
	// its badge.
	if !strings.Contains(rec.Body.String(), "handle_level_500(request") || !strings.Contains(rec.Body.String(), "raise RecursionError") {
		t.Error("the raise frame lacks its code or badge")
	}
}
