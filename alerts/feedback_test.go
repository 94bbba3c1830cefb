package alerts

import (
	"strings"
	"testing"

	"github.com/tinysink/tinysink/store"
)

func TestFeedbackMessage(t *testing.T) {
	t.Parallel()
	s := newSender(t, nil, &clock{}, nil)
	p := &store.Project{ID: 1, Name: "shop", Slug: "SHOP"}
	iss := &store.Issue{ID: 7, ProjectID: 1, CalculatedType: "KeyError", CalculatedValue: "cart"}
	m := s.newMessage(p, iss, &store.Alert{Reason: store.ReasonFeedback,
		Feedback: &store.Feedback{Name: "Jane", Email: "jane@example.com", Message: "It froze\nafter paying"}})
	if m.State() != "User feedback" {
		t.Errorf("State = %q", m.State())
	}
	if want := `Jane <jane@example.com>: "It froze after paying"`; m.UnmuteReason != want {
		t.Errorf("detail = %q, want %q", m.UnmuteReason, want)
	}
	m = s.newMessage(p, iss, &store.Alert{Reason: store.ReasonFeedback, Feedback: &store.Feedback{Message: strings.Repeat("x", 2000)}})
	if !strings.HasPrefix(m.UnmuteReason, "A user: \"xxx") || len([]rune(m.UnmuteReason)) > 920 {
		t.Errorf("long anonymous feedback = %.40q… (%d runes)", m.UnmuteReason, len([]rune(m.UnmuteReason)))
	}
}
