package alerts

import (
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tinysink/tinysink/store"
)

// reasonTest marks the fixed test message of a backend.
const reasonTest = "TEST"

// message is one alert as every backend renders it.
type message struct {
	Reason string // store.ReasonNew, ReasonRegressed, ReasonUnmuted, ReasonFeedback or reasonTest
	// UnmuteReason says why an unmuted issue was unmuted; for user
	// feedback it is the feedback, with who gave it.
	UnmuteReason string
	Title        string // the issue's title, control characters replaced
	ProjectName  string
	URL          string // the issue's page (the project's for a test)
	SettingsURL  string // the project's settings page
	project      *store.Project
	issue        *store.Issue
}

// State is the label of the reason: "New issue", "Regression", "Unmuted
// issue" or "Test message".
func (m *message) State() string {
	switch m.Reason {
	case store.ReasonNew:
		return "New issue"
	case store.ReasonRegressed:
		return "Regression"
	case store.ReasonUnmuted:
		return "Unmuted issue"
	case store.ReasonFeedback:
		return "User feedback"
	}
	return "Test message"
}

// FriendlyID is the issue's "SLUG-N" name.
func (m *message) FriendlyID() string { return store.FriendlyID(m.project, m.issue) }

// EventCount is how many events the issue has had.
func (m *message) EventCount() int64 { return m.issue.DigestedEventCount }

// FirstSeen is when the issue was first seen, in UTC.
func (m *message) FirstSeen() time.Time { return m.issue.FirstSeen.UTC() }

func (s *Sender) newMessage(p *store.Project, iss *store.Issue, a *store.Alert) *message {
	detail := a.UnmuteReason
	if f := a.Feedback; f != nil {
		detail = feedbackLine(f)
	}
	return &message{
		Reason:       a.Reason,
		UnmuteReason: oneLine(detail),
		Title:        oneLine(iss.Title()),
		ProjectName:  oneLine(p.Name),
		URL:          s.baseURL + "/issues/" + strconv.FormatUint(uint64(iss.ID), 10) + "/",
		SettingsURL:  s.baseURL + "/projects/" + strconv.Itoa(p.ID) + "/settings/",
		project:      p,
		issue:        iss,
	}
}

// testMessage is the fixed message a backend's test sends.
func (s *Sender) testMessage(p *store.Project) *message {
	iss := &store.Issue{
		ProjectID: p.ID, CalculatedType: "TestMessage",
		CalculatedValue: "This is a test message from tinysink; your alert configuration works.",
		FirstSeen:       s.now().UTC(), LastSeen: s.now().UTC(),
	}
	return &message{
		Reason:      reasonTest,
		Title:       iss.Title(),
		ProjectName: oneLine(p.Name),
		URL:         s.baseURL + "/projects/" + strconv.Itoa(p.ID) + "/",
		SettingsURL: s.baseURL + "/projects/" + strconv.Itoa(p.ID) + "/settings/",
		project:     p,
		issue:       iss,
	}
}

// oneLine replaces control characters (newlines included) with spaces,
// so that a title cannot break a header or a chat message's layout.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// truncate cuts s to at most n characters, ending a cut string with "…".
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// feedbackLine is user feedback as one line: `Jane <jane@x>: "It broke"`.
func feedbackLine(f *store.Feedback) string {
	who := f.Name
	if f.Email != "" {
		who = strings.TrimSpace(who + " <" + f.Email + ">")
	}
	if who == "" {
		who = "A user"
	}
	return who + ": \"" + truncate(f.Message, 900) + "\""
}
