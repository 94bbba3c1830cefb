package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tinysink/tinysink/store"
)

// The messaging backends. Each turns a message into the JSON its service
// expects (reference §8.3) and posts it through the vetted client.

// outcome is the result of one delivery attempt.
type outcome struct {
	failure    *store.Failure // nil: delivered
	permanent  bool           // retrying cannot help (4xx, refused address, bad config)
	retryAfter time.Duration  // the receiver asked to wait this long
	drop       bool           // nothing to deliver any more (backend, issue or SMTP gone)
}

// maxReply is how much of a failed reply is kept, in characters.
const maxReply = 2000

// Discord embed colours.
const (
	colorRed    = 0xE74C3C // new issue
	colorOrange = 0xE67E22 // regression (Bugsink's map misses it and falls back to gray)
	colorBlue   = 0x3498DB // unmuted
	colorGray   = 0x95A5A6 // test
)

func (s *Sender) sendBackend(ctx context.Context, b *store.AlertBackend, m *message, key string) outcome {
	var target string
	var payload any
	switch b.Kind {
	case store.BackendSlack:
		target, payload = b.Config["webhook_url"], slackPayload(m)
	case store.BackendMattermost:
		target, payload = b.Config["webhook_url"], mattermostPayload(m, b.Config["channel"])
	case store.BackendDiscord:
		target, payload = b.Config["webhook_url"], discordPayload(m)
	case store.BackendTelegram:
		target = s.telegramAPI + "/bot" + b.Config["bot_token"] + "/sendMessage"
		payload = telegramPayload(m, b.Config["chat_id"], b.Config["message_thread_id"])
	case store.BackendWebhook:
		target, payload = b.Config["webhook_url"], webhookPayload(m)
	default:
		return outcome{failure: &store.Failure{At: s.now(), Error: "unknown backend kind " + strconv.Quote(b.Kind)}, permanent: true}
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return outcome{failure: &store.Failure{At: s.now(), Error: err.Error()}, permanent: true}
	}
	out := s.post(ctx, target, body, key)
	out.failure = b.Scrubbed(out.failure)
	return out
}

// post sends body as JSON to target. A 2xx reply is a delivery. 408, 425,
// 429 and 5xx replies and network errors are worth retrying; other replies
// (a redirect, which is not followed, or a 4xx) and refused addresses are
// not.
func (s *Sender) post(ctx context.Context, target string, body []byte, key string) outcome {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return outcome{failure: &store.Failure{At: s.now(), Error: err.Error()}, permanent: true}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tinysink-alerts")
	if key != "" {
		// Lets a receiver that cares drop the rare second copy (see the
		// package doc).
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		var refused *RefusedError
		return outcome{failure: &store.Failure{At: s.now(), Error: err.Error()}, permanent: errors.As(err, &refused)}
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
		return outcome{}
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4*maxReply))
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	f := &store.Failure{
		At: s.now(), Status: resp.StatusCode, Body: firstChars(string(raw), maxReply),
		IsJSON: ct == "application/json" || strings.HasSuffix(ct, "+json"),
	}
	switch code := resp.StatusCode; {
	case code == 408 || code == 425 || code == 429 || code >= 500:
		return outcome{failure: f, retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), s.now())}
	case code >= 300 && code < 400:
		f.Error = "redirect to " + resp.Header.Get("Location") + " not followed"
	}
	return outcome{failure: f, permanent: true}
}

// firstChars returns the first n characters of s, dropping invalid UTF-8.
func firstChars(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// reasonLine is "<REASON> issue", as the chat backends show it.
func reasonLine(m *message) string { return m.Reason + " issue" }

// escapeSlack escapes the characters Slack's mrkdwn treats as markup.
func escapeSlack(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type slackBlock struct {
	Type   string      `json:"type"`
	Text   *slackText  `json:"text,omitempty"`
	Fields []slackText `json:"fields,omitempty"`
}

// slackPayload is a Block Kit message: the title as header, the reason,
// the unmute reason if any, the project, and a link. Mattermost accepts it
// too.
func slackPayload(m *message) any {
	title := truncate(strings.ReplaceAll(m.Title, "|", ""), 150)
	blocks := []slackBlock{
		{Type: "header", Text: &slackText{Type: "plain_text", Text: title}},
		{Type: "section", Text: &slackText{Type: "mrkdwn", Text: reasonLine(m)}},
	}
	if m.UnmuteReason != "" {
		blocks = append(blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: escapeSlack(m.UnmuteReason)}})
	}
	blocks = append(blocks,
		slackBlock{Type: "section", Fields: []slackText{{Type: "mrkdwn", Text: "*project*: " + escapeSlack(m.ProjectName)}}},
		slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: "<" + m.URL + "|view on tinysink>"}},
	)
	return struct {
		Text   string       `json:"text"`
		Blocks []slackBlock `json:"blocks"`
	}{m.Title, blocks}
}

type mattermostField struct {
	Title string `json:"title"`
	Value string `json:"value"`
	Short bool   `json:"short"`
}

type mattermostAttachment struct {
	Fallback  string            `json:"fallback"`
	Color     string            `json:"color"`
	Title     string            `json:"title"`
	TitleLink string            `json:"title_link"`
	Text      string            `json:"text"`
	Fields    []mattermostField `json:"fields"`
}

// mattermostPayload is the title as a heading with one attachment: the
// reason linking to the issue, a link, the unmute reason, the project.
func mattermostPayload(m *message, channel string) any {
	text := "[View on tinysink](" + m.URL + ")"
	if m.UnmuteReason != "" {
		text += "\n\n" + m.UnmuteReason
	}
	return struct {
		Text        string                 `json:"text"`
		Channel     string                 `json:"channel,omitempty"`
		Attachments []mattermostAttachment `json:"attachments"`
	}{
		Text:    "### " + truncate(m.Title, 200),
		Channel: channel,
		Attachments: []mattermostAttachment{{
			Fallback: reasonLine(m) + ": " + truncate(m.Title, 200), Color: fmt.Sprintf("#%06X", discordColor(m.Reason)),
			Title: reasonLine(m), TitleLink: m.URL, Text: text,
			Fields: []mattermostField{{Title: "Project", Value: m.ProjectName, Short: true}},
		}},
	}
}

func discordColor(reason string) int {
	switch reason {
	case store.ReasonNew:
		return colorRed
	case store.ReasonRegressed:
		return colorOrange
	case store.ReasonUnmuted:
		return colorBlue
	}
	return colorGray
}

type discordField struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline"`
}

type discordEmbed struct {
	Title       string         `json:"title"`
	Description string         `json:"description"`
	URL         string         `json:"url,omitempty"`
	Color       int            `json:"color"`
	Fields      []discordField `json:"fields"`
}

// discordPayload is one embed: title, reason, colour by reason, the
// project and the unmute reason as fields, linking to the issue.
func discordPayload(m *message) any {
	e := discordEmbed{
		Title: truncate(m.Title, 256), Description: reasonLine(m), URL: m.URL, Color: discordColor(m.Reason),
		Fields: []discordField{{Name: "Project", Value: truncate(m.ProjectName, 1024), Inline: true}},
	}
	if m.UnmuteReason != "" {
		name := "Unmute reason"
		if m.Reason == store.ReasonFeedback {
			name = "Feedback"
		}
		e.Fields = append(e.Fields, discordField{Name: name, Value: truncate(m.UnmuteReason, 1024)})
	}
	return struct {
		Embeds []discordEmbed `json:"embeds"`
	}{[]discordEmbed{e}}
}

// telegramPayload is a sendMessage call with an HTML-formatted text.
func telegramPayload(m *message, chatID, threadID string) any {
	var b strings.Builder
	b.WriteString("<b>" + html.EscapeString(truncate(m.Title, 300)) + "</b>\n")
	b.WriteString(html.EscapeString(reasonLine(m)) + "\n")
	b.WriteString("Project: " + html.EscapeString(truncate(m.ProjectName, 200)) + "\n")
	if m.UnmuteReason != "" {
		b.WriteString(html.EscapeString(truncate(m.UnmuteReason, 1000)) + "\n")
	}
	b.WriteString(`<a href="` + html.EscapeString(m.URL) + `">View on tinysink</a>`)
	var chat any = chatID
	if n, err := strconv.ParseInt(chatID, 10, 64); err == nil {
		chat = n
	}
	var thread *int64
	if n, err := strconv.ParseInt(threadID, 10, 64); err == nil {
		thread = &n
	}
	return struct {
		ChatID      any    `json:"chat_id"`
		Thread      *int64 `json:"message_thread_id,omitempty"`
		Text        string `json:"text"`
		ParseMode   string `json:"parse_mode"`
		LinkPreview struct {
			Disabled bool `json:"is_disabled"`
		} `json:"link_preview_options"`
	}{ChatID: chat, Thread: thread, Text: b.String(), ParseMode: "HTML", LinkPreview: struct {
		Disabled bool `json:"is_disabled"`
	}{true}}
}

// webhookIssue is the generic webhook's payload: the issue as the JSON API
// shows it, plus what the alert is about.
type webhookIssue struct {
	store.IssueView
	ProjectName  string `json:"project_name"`
	URL          string `json:"url"`
	AlertReason  string `json:"alert_reason"`
	UnmuteReason string `json:"unmute_reason,omitempty"`
}

func webhookPayload(m *message) any {
	return webhookIssue{
		IssueView: m.issue.View(m.project), ProjectName: m.project.Name, URL: m.URL,
		AlertReason: m.Reason, UnmuteReason: m.UnmuteReason,
	}
}
