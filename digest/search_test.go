package digest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tinysink/tinysink/store"
)

// searchEvents are three events whose issues each search key tells apart.
var searchEvents = []string{
	// A: an exception with a two-frame stack.
	`{"event_id":"%s","level":"error","environment":"production","release":"1.0.0","server_name":"web-1",
	 "transaction":"/checkout","user":{"id":"42","email":"alice@example.com"},
	 "contexts":{"browser":{"name":"Chrome","version":"120"},"os":{"name":"Linux"},"trace":{"trace_id":"aaaabbbbccccddddeeeeffff00001111","span_id":"1234567890abcdef"}},
	 "exception":{"values":[{"type":"ZeroDivisionError","value":"division by zero","stacktrace":{"frames":[
	   {"function":"handle_request","module":"web.views","filename":"app/web/views.py","in_app":true},
	   {"function":"compute_total","module":"billing.invoice","filename":"app/billing/invoice.py","in_app":true}]}}]}}`,
	// B: a log message with a custom tag.
	`{"event_id":"%s","level":"warning","environment":"staging","release":"2.0.0","server_name":"web-2",
	 "transaction":"/upload","user":{"email":"bob@example.com"},"tags":{"customer":"acme"},
	 "contexts":{"browser":{"name":"Firefox","version":"133"},"os":{"name":"Windows","version":"11"}},
	 "message":"Disk almost full"}`,
	// C: another exception, in a production-like environment.
	`{"event_id":"%s","environment":"production-eu","release":"1.1.0",
	 "exception":{"values":[{"type":"KeyError","value":"'user_id'"}]}}`,
}

func TestSearchEachKey(t *testing.T) {
	r := newRig(t)
	t0 := r.now
	names := map[uint32]string{}
	for i, body := range searchEvents {
		r.now = t0.Add(time.Duration(i) * 24 * time.Hour)
		id := fmt.Sprintf("%032x", i+1)
		_, iss := r.sendBody(r.pid, id, fmt.Appendf(nil, body, id))
		names[iss.ID] = string(rune('A' + i))
	}
	for id, n := range names {
		if n == "C" {
			if _, err := r.db.ApplyAction(id, store.ActionResolve, "tester", ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tt := range []struct{ q, want string }{
		{"", "ABC"},
		{"level:error", "AC"},
		{"level:WARNING", "B"},
		{"environment:prod", "AC"},
		{"environment:staging", "B"},
		{"env:production-eu", "C"},
		{"release:1.0.0", "A"},
		{"release:1.*", "AC"},
		{"user.email:alice@example.com", "A"},
		{"user.email:bob@example.com", "B"},
		{"user.id:42", "A"},
		{"browser:chrome*", "A"},
		{`browser:"Firefox 133"`, "B"},
		{"browser.name:chrome", "A"},
		{"os:windows*", "B"},
		{"os.name:linux", "A"},
		{"server_name:web-2", "B"},
		{"transaction:/checkout", "A"},
		{"trace:aaaabbbbccccddddeeeeffff00001111", "A"},
		{"trace.id:aaaabbbbccccddddeeeeffff00001111", "A"},
		{"trace.span:1234567890abcdef", "A"},
		{"trace.ctx:aaaabbbbccccddddeeeeffff00001111.1234567890abcdef", "A"},
		{"trace.ctx:aaaabbbbccccddddeeeeffff00001111.0000000000000000", ""},
		{"customer:acme", "B"},
		{"customer:nobody", ""},
		{"is:resolved", "C"},
		{"is:unresolved", "AB"},
		{"-is:resolved", "AB"},
		{"is:open level:error", "A"},
		{"!level:error", "B"},
		{"-environment:prod", "B"},
		{"first_seen:>2026-04-01", "BC"},
		{"first_seen:2026-04-02", "B"},
		{"first_seen:<2026-04-02", "A"},
		{"last_seen:-12h", "C"},
		{"last_seen:+12h", "AB"},
		{"division", "A"},
		{"ZeroDivisionError: division by zero", "A"},
		{"KeyError: 'user_id'", "C"},
		{"Disk almost full", "B"},
		{"compute_total", "A"},
		{"handle_request", "A"},
		{"web.views", "A"},
		{"billing.invoice", "A"},
		{"invoice.py", "A"},
		{"app/web/views.py", "A"},
		{"/checkout", "A"},
		{"-division", "BC"},
		{"disk level:warning", "B"},
		{"disk level:error", ""},
	} {
		page, err := r.db.SearchIssues(r.pid, tt.q, "", 10)
		if err != nil {
			t.Errorf("SearchIssues(%q): %v", tt.q, err)
			continue
		}
		var got []string
		for _, iss := range page.Issues {
			got = append(got, names[iss.ID])
		}
		slices.Sort(got)
		if g := strings.Join(got, ""); g != tt.want {
			t.Errorf("SearchIssues(%q) = %q, want %q", tt.q, g, tt.want)
		}
	}
}

// TestSearchPages checks paging in both the candidate and the walk plan,
// and that deleting an issue drops it from the index.
func TestSearchPages(t *testing.T) {
	r := newRig(t)
	for i := range 7 {
		r.now = r.now.Add(time.Minute)
		r.send(fmt.Sprintf("Err%d", i), "1.0")
	}
	// The first query starts from its terms' postings; the second, all
	// negations, walks the list index.
	for _, q := range []string{"release:1.0 boom", "-release:9 -is:muted"} {
		var seen []string
		cursor := ""
		for {
			page, err := r.db.SearchIssues(r.pid, q, cursor, 3)
			if err != nil {
				t.Fatal(err)
			}
			for _, iss := range page.Issues {
				seen = append(seen, iss.CalculatedType)
			}
			if cursor = page.Next; cursor == "" {
				break
			}
		}
		if want := "Err6 Err5 Err4 Err3 Err2 Err1 Err0"; strings.Join(seen, " ") != want {
			t.Errorf("%q: pages = %v, want %s", q, seen, want)
		}
	}
	page, _ := r.db.SearchIssues(r.pid, "err3", "", 10)
	if len(page.Issues) != 1 {
		t.Fatalf("err3: %d issues", len(page.Issues))
	}
	if err := r.db.DeleteIssue(page.Issues[0].ID); err != nil {
		t.Fatal(err)
	}
	if page, _ := r.db.SearchIssues(r.pid, "err3", "", 10); len(page.Issues) != 0 {
		t.Errorf("err3 after delete: %d issues", len(page.Issues))
	}
	if _, err := r.db.SearchIssues(r.pid, "is:asleep", "", 10); err == nil {
		t.Error("is:asleep: no error")
	}
}
