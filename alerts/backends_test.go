package alerts

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinysink/tinysink/store"
)

func TestBackendPayloads(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		kind   string
		cfg    map[string]string // webhook_url is added
		alert  store.Alert
		path   string // for Telegram; else "/hook"
		want   string
		header string // checked when set: Idempotency-Key present
	}{
		{
			kind:  "webhook",
			alert: store.Alert{Reason: store.ReasonNew},
			want: `{"id":"1","friendly_id":"APP-1","project":1,"digest_order":1,
				"first_seen":"2026-03-01T10:00:00Z","last_seen":"2026-03-01T10:05:00Z",
				"digested_event_count":3,"stored_event_count":1,
				"calculated_type":"ValueError","calculated_value":"bad input\nsecond line",
				"title":"ValueError: bad input","transaction":"/api/orders",
				"last_frame_filename":"","last_frame_module":"","last_frame_function":"",
				"is_resolved":false,"is_resolved_by_next_release":false,"is_resolved_in_release":false,"is_muted":false,
				"project_name":"App","url":"http://tinysink.test/issues/1/","alert_reason":"NEW"}`,
			header: "Idempotency-Key",
		},
		{
			kind:  "webhook",
			alert: store.Alert{Reason: store.ReasonUnmuted, UnmuteReason: "More than 5 events per 1 hour occurred, unmuting the issue."},
			want: `{"id":"1","friendly_id":"APP-1","project":1,"digest_order":1,
				"first_seen":"2026-03-01T10:00:00Z","last_seen":"2026-03-01T10:05:00Z",
				"digested_event_count":3,"stored_event_count":1,
				"calculated_type":"ValueError","calculated_value":"bad input\nsecond line",
				"title":"ValueError: bad input","transaction":"/api/orders",
				"last_frame_filename":"","last_frame_module":"","last_frame_function":"",
				"is_resolved":false,"is_resolved_by_next_release":false,"is_resolved_in_release":false,"is_muted":false,
				"project_name":"App","url":"http://tinysink.test/issues/1/","alert_reason":"UNMUTED",
				"unmute_reason":"More than 5 events per 1 hour occurred, unmuting the issue."}`,
		},
		{
			kind:  "slack",
			alert: store.Alert{Reason: store.ReasonNew},
			want: `{"text":"ValueError: bad input","blocks":[
				{"type":"header","text":{"type":"plain_text","text":"ValueError: bad input"}},
				{"type":"section","text":{"type":"mrkdwn","text":"NEW issue"}},
				{"type":"section","fields":[{"type":"mrkdwn","text":"*project*: App"}]},
				{"type":"section","text":{"type":"mrkdwn","text":"<http://tinysink.test/issues/1/|view on tinysink>"}}]}`,
		},
		{
			kind:  "slack",
			alert: store.Alert{Reason: store.ReasonUnmuted, UnmuteReason: "deadline <passed>"},
			want: `{"text":"ValueError: bad input","blocks":[
				{"type":"header","text":{"type":"plain_text","text":"ValueError: bad input"}},
				{"type":"section","text":{"type":"mrkdwn","text":"UNMUTED issue"}},
				{"type":"section","text":{"type":"mrkdwn","text":"deadline &lt;passed&gt;"}},
				{"type":"section","fields":[{"type":"mrkdwn","text":"*project*: App"}]},
				{"type":"section","text":{"type":"mrkdwn","text":"<http://tinysink.test/issues/1/|view on tinysink>"}}]}`,
		},
		{
			kind:  "mattermost",
			cfg:   map[string]string{"channel": "alerts"},
			alert: store.Alert{Reason: store.ReasonRegressed},
			want: `{"text":"### ValueError: bad input","channel":"alerts","attachments":[{
				"fallback":"REGRESSED issue: ValueError: bad input","color":"#E67E22",
				"title":"REGRESSED issue","title_link":"http://tinysink.test/issues/1/",
				"text":"[View on tinysink](http://tinysink.test/issues/1/)",
				"fields":[{"title":"Project","value":"App","short":true}]}]}`,
		},
		{
			kind:  "discord",
			alert: store.Alert{Reason: store.ReasonNew},
			want: `{"embeds":[{"title":"ValueError: bad input","description":"NEW issue",
				"url":"http://tinysink.test/issues/1/","color":15158332,
				"fields":[{"name":"Project","value":"App","inline":true}]}]}`,
		},
		{
			kind:  "discord",
			alert: store.Alert{Reason: store.ReasonUnmuted, UnmuteReason: "deadline passed"},
			want: `{"embeds":[{"title":"ValueError: bad input","description":"UNMUTED issue",
				"url":"http://tinysink.test/issues/1/","color":3447003,
				"fields":[{"name":"Project","value":"App","inline":true},{"name":"Unmute reason","value":"deadline passed","inline":false}]}]}`,
		},
		{
			kind:  "telegram",
			cfg:   map[string]string{"bot_token": "123456:AAH-secret_token", "chat_id": "-100200300", "message_thread_id": "7"},
			alert: store.Alert{Reason: store.ReasonNew},
			path:  "/bot123456:AAH-secret_token/sendMessage",
			want: `{"chat_id":-100200300,"message_thread_id":7,"parse_mode":"HTML","link_preview_options":{"is_disabled":true},
				"text":"<b>ValueError: bad input</b>\nNEW issue\nProject: App\n<a href=\"http://tinysink.test/issues/1/\">View on tinysink</a>"}`,
		},
		{
			kind:  "telegram",
			cfg:   map[string]string{"bot_token": "1:x", "chat_id": "@my_channel"},
			alert: store.Alert{Reason: store.ReasonRegressed},
			path:  "/bot1:x/sendMessage",
			want: `{"chat_id":"@my_channel","parse_mode":"HTML","link_preview_options":{"is_disabled":true},
				"text":"<b>ValueError: bad input</b>\nREGRESSED issue\nProject: App\n<a href=\"http://tinysink.test/issues/1/\">View on tinysink</a>"}`,
		},
	} {
		t.Run(tt.kind+" "+tt.alert.Reason, func(t *testing.T) {
			c := &clock{}
			db := newDB(t, c)
			p, iss := seed(t, db, "App")
			rc := newReceiver(t, nil)
			cfg := map[string]string{}
			for k, v := range tt.cfg {
				cfg[k] = v
			}
			path := tt.path
			if tt.kind != "telegram" {
				cfg["webhook_url"] = rc.URL + "/hook"
				path = "/hook"
			}
			addBackend(t, db, p.ID, tt.kind, cfg)
			s := newSender(t, db, c, func(cfg *Config) { cfg.TelegramAPI = rc.URL })
			a := tt.alert
			a.Project, a.Issue = p.ID, iss.ID
			enqueue(t, db, a)
			run(t, s)
			waitFor(t, "the delivery", 5*time.Second, func() bool { return rc.count(0) == 1 })
			h := rc.got()[0]
			if h.path != path {
				t.Errorf("path = %q, want %q", h.path, path)
			}
			if ct := h.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if tt.header != "" && h.header.Get(tt.header) == "" {
				t.Errorf("no %s header", tt.header)
			}
			if !sameJSON(t, h.body, tt.want) {
				t.Errorf("payload\n%s\nwant\n%s", h.body, tt.want)
			}
			waitFor(t, "the outbox to empty", 5*time.Second, func() bool {
				out, _ := db.Outbox()
				return len(out) == 0
			})
		})
	}
}

func TestSlackTitleLimits(t *testing.T) {
	t.Parallel()
	m := &message{Reason: store.ReasonNew, Title: strings.Repeat("a|", 100), ProjectName: "P", URL: "u"}
	p := slackPayload(m).(struct {
		Text   string       `json:"text"`
		Blocks []slackBlock `json:"blocks"`
	})
	h := p.Blocks[0].Text.Text
	if strings.Contains(h, "|") || len([]rune(h)) != 100 {
		t.Errorf("header = %q (%d chars), want 100 chars without |", h, len([]rune(h)))
	}
	m.Title = strings.Repeat("é", 200)
	h = slackPayload(m).(struct {
		Text   string       `json:"text"`
		Blocks []slackBlock `json:"blocks"`
	}).Blocks[0].Text.Text
	if n := len([]rune(h)); n != 150 || !strings.HasSuffix(h, "…") {
		t.Errorf("long header has %d chars: %q", n, h)
	}
}

func TestSlowAndFailingEndpointsDelayNoOther(t *testing.T) {
	t.Parallel()
	c := &clock{}
	db := newDB(t, c)
	p, iss := seed(t, db, "App")
	release := make(chan struct{})
	hang := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) int {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return 200
	})
	t.Cleanup(func() { close(release) }) // runs before hang.Close
	failing := newReceiver(t, reply(500, `{"error":"down"}`))
	healthy := newReceiver(t, nil)
	// The hanging and failing endpoints come first in the outbox.
	addBackend(t, db, p.ID, "webhook", map[string]string{"webhook_url": hang.URL + "/a"})
	addBackend(t, db, p.ID, "webhook", map[string]string{"webhook_url": failing.URL + "/b"})
	good := addBackend(t, db, p.ID, "webhook", map[string]string{"webhook_url": healthy.URL + "/c"})
	s := newSender(t, db, c, func(cfg *Config) {
		cfg.Retry = Retry{First: 10 * time.Millisecond, Max: 20 * time.Millisecond, Attempts: 50}
	})
	run(t, s)

	start := time.Now()
	enqueue(t, db, store.Alert{Project: p.ID, Issue: iss.ID, Reason: store.ReasonNew})
	s.Poke()
	waitFor(t, "the healthy endpoint", 3*time.Second, func() bool { return healthy.count(200) == 1 })
	if d := healthy.got()[0].at.Sub(start); d > time.Second {
		t.Errorf("healthy endpoint got its alert after %v", d)
	}
	// While the first request still hangs and the failing endpoint keeps
	// being retried, the next alert reaches the healthy one just as fast.
	waitFor(t, "retries of the failing endpoint", 3*time.Second, func() bool { return failing.count(0) >= 3 })
	if hang.count(0) != 1 {
		t.Fatalf("hanging endpoint has %d requests", hang.count(0))
	}
	start = time.Now()
	enqueue(t, db, store.Alert{Project: p.ID, Issue: iss.ID, Reason: store.ReasonRegressed})
	s.Poke()
	waitFor(t, "the second alert", 3*time.Second, func() bool { return healthy.count(200) == 2 })
	if d := healthy.got()[1].at.Sub(start); d > time.Second {
		t.Errorf("second alert reached the healthy endpoint after %v", d)
	}
	if b, _ := db.AlertBackend(good.ID); b.LastFailure != nil || b.LastSuccess.IsZero() {
		t.Errorf("healthy backend state: %+v", b)
	}
}

func TestRestartMidRetryDeliversOnce(t *testing.T) {
	t.Parallel()
	c := &clock{}
	dir := t.TempDir()
	db := openDB(t, dir, c)
	p, iss := seed(t, db, "App")
	long := `{"error":"` + strings.Repeat("x", 2500) + `"}`
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) int {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(503)
		fmt.Fprint(w, long)
		return 503
	})
	b := addBackend(t, db, p.ID, "webhook", map[string]string{"webhook_url": rc.URL + "/hook"})
	// A long first backoff: the retry is still pending when we stop.
	slow := func(cfg *Config) { cfg.Retry = Retry{First: 400 * time.Millisecond, Max: time.Second, Attempts: 5} }
	s := newSender(t, db, c, slow)
	stop := run(t, s)
	enqueue(t, db, store.Alert{Project: p.ID, Issue: iss.ID, Reason: store.ReasonNew})
	s.Poke()
	waitFor(t, "the failed attempt to be recorded", 5*time.Second, func() bool {
		out, _ := db.Outbox()
		return len(out) == 1 && out[0].Attempts == 1
	})
	stop()
	got, _ := db.AlertBackend(b.ID)
	if f := got.LastFailure; f == nil || f.Status != 503 || !f.IsJSON || len([]rune(f.Body)) != 2000 || !strings.HasPrefix(long, f.Body) {
		t.Errorf("last failure = %+v", f)
	}
	db.Close()

	// The endpoint recovers while tinysink is down.
	rc.setReply(nil)
	db = openDB(t, dir, c)
	s = newSender(t, db, c, slow)
	stop = run(t, s)
	waitFor(t, "the retried delivery", 5*time.Second, func() bool { return rc.count(200) == 1 })
	waitFor(t, "the outbox to empty", 5*time.Second, func() bool {
		out, _ := db.Outbox()
		return len(out) == 0
	})
	stop()
	got, _ = db.AlertBackend(b.ID)
	if got.LastFailure != nil || got.LastSuccess.IsZero() {
		t.Errorf("success did not clear the failure: %+v", got)
	}
	db.Close()

	// A third start sends nothing again: once its first pass over the
	// outbox has read the clock (after reading the outbox), it is stopped,
	// which waits for any delivery that pass started.
	db = openDB(t, dir, c)
	defer db.Close()
	passed := make(chan struct{})
	var once sync.Once
	stop = run(t, newSender(t, db, c, func(cfg *Config) {
		slow(cfg)
		now := cfg.Now
		cfg.Now = func() time.Time { once.Do(func() { close(passed) }); return now() }
	}))
	select {
	case <-passed:
	case <-time.After(10 * time.Second):
		t.Fatal("the sender did not read the outbox")
	}
	stop()
	hits := rc.got()
	if len(hits) != 2 || hits[0].status != 503 || hits[1].status != 200 {
		t.Fatalf("receiver got %d requests, want a 503 and a 200", len(hits))
	}
	if k0, k1 := hits[0].header.Get("Idempotency-Key"), hits[1].header.Get("Idempotency-Key"); k0 == "" || k0 != k1 {
		t.Errorf("Idempotency-Key %q then %q, want the same", k0, k1)
	}
}

func TestGivesUp(t *testing.T) {
	t.Parallel()
	c := &clock{}
	db := newDB(t, c)
	p, iss := seed(t, db, "App")
	gone := newReceiver(t, reply(404, "no such hook"))
	down := newReceiver(t, reply(500, "down"))
	b1 := addBackend(t, db, p.ID, "slack", map[string]string{"webhook_url": gone.URL + "/x"})
	b2 := addBackend(t, db, p.ID, "discord", map[string]string{"webhook_url": down.URL + "/y"})
	s := newSender(t, db, c, nil) // quickRetry: 4 attempts
	run(t, s)
	enqueue(t, db, store.Alert{Project: p.ID, Issue: iss.ID, Reason: store.ReasonNew})
	s.Poke()
	waitFor(t, "both to be given up", 5*time.Second, func() bool {
		out, _ := db.Outbox()
		return len(out) == 0
	})
	if n := gone.count(0); n != 1 {
		t.Errorf("404 endpoint tried %d times, want 1", n)
	}
	if n := down.count(0); n != quickRetry.Attempts {
		t.Errorf("500 endpoint tried %d times, want %d", n, quickRetry.Attempts)
	}
	for _, id := range []uint32{b1.ID, b2.ID} {
		if b, _ := db.AlertBackend(id); b.LastFailure == nil {
			t.Errorf("backend %d has no failure recorded", id)
		}
	}
}

func TestRetryAfterAndBackoff(t *testing.T) {
	t.Parallel()
	now := t0
	if d := parseRetryAfter("7", now); d != 7*time.Second {
		t.Errorf("Retry-After 7 = %v", d)
	}
	if d := parseRetryAfter(now.Add(time.Minute).Format(http.TimeFormat), now); d != time.Minute {
		t.Errorf("Retry-After date = %v", d)
	}
	r := Retry{}.withDefaults()
	for n, want := range map[int]time.Duration{1: 30 * time.Second, 2: time.Minute, 3: 2 * time.Minute, 10: 30 * time.Minute, 100: 30 * time.Minute} {
		for range 20 {
			if got := r.backoff(n); got < want/2 || got > want {
				t.Errorf("backoff(%d) = %v, want within [%v, %v]", n, got, want/2, want)
			}
		}
	}
}

func TestSecretsMasked(t *testing.T) {
	t.Parallel()
	c := &clock{}
	db := newDB(t, c)
	p, iss := seed(t, db, "App")
	const token = "987654:SECRETsecretSECRET"
	// A reply that echoes the request path, token included.
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) int {
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"ok":false,"description":"bad request for %s"}`, r.URL.Path)
		return 400
	})
	b := addBackend(t, db, p.ID, "telegram", map[string]string{"bot_token": token, "chat_id": "1"})
	// And an address that cannot be reached, whose error names the URL.
	hook := "http://127.0.0.1:1/services/T0000/B0000/XXXXXXXXXXXXXXXX"
	b2 := addBackend(t, db, p.ID, "slack", map[string]string{"webhook_url": hook})
	s := newSender(t, db, c, func(cfg *Config) {
		cfg.TelegramAPI = rc.URL
		cfg.Retry = Retry{Attempts: 1}
	})
	run(t, s)
	enqueue(t, db, store.Alert{Project: p.ID, Issue: iss.ID, Reason: store.ReasonNew})
	s.Poke()
	waitFor(t, "the failures", 10*time.Second, func() bool {
		out, _ := db.Outbox()
		return len(out) == 0
	})
	got, _ := db.AlertBackend(b.ID)
	if got.LastFailure == nil || got.LastFailure.Status != 400 || strings.Contains(got.LastFailure.Body, "SECRET") || !strings.Contains(got.LastFailure.Body, "987654:…") {
		t.Errorf("telegram failure = %+v", got.LastFailure)
	}
	got, _ = db.AlertBackend(b2.ID)
	if got.LastFailure == nil || got.LastFailure.Error == "" || strings.Contains(got.LastFailure.Error, "XXXXXXXX") {
		t.Errorf("slack failure = %+v", got.LastFailure)
	}
}
