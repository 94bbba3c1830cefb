package ui

import (
	"slices"
	"testing"
)

func frameNames(s stackView) []string {
	var out []string
	for _, f := range s.Frames {
		out = append(out, f.Function)
	}
	return out
}

func badgesOf(s stackView) map[string][]string {
	out := map[string][]string{}
	for _, f := range s.Frames {
		if len(f.Badges) > 0 {
			out[f.Function] = f.Badges
		}
	}
	return out
}

// Python reads chronologically; other platforms as a stack of plates; the
// raise and begin badges mark each exception's newest and oldest frames.
func TestStackOrderAndBadges(t *testing.T) {
	t.Parallel()
	const chain = `"exception":{"values":[
		{"type":"IOError","value":"disk","stacktrace":{"frames":[{"function":"open_a","context_line":"x"},{"function":"read_a","context_line":"x"}]}},
		{"type":"AppError","value":"save failed","stacktrace":{"frames":[{"function":"main","context_line":"x"},{"function":"save","context_line":"x"}]}}]}`
	js := parseEvent([]byte(`{"platform":"javascript",`+chain+`}`), frameOptions{frame: -1, bodies: 30})
	if len(js.Exceptions) != 2 || js.Exceptions[0].Type != "AppError" {
		t.Fatalf("javascript: outermost exception first, got %+v", js.Exceptions)
	}
	if got := frameNames(js.Exceptions[0]); !slices.Equal(got, []string{"save", "main"}) {
		t.Errorf("javascript frames %v, want most recent first", got)
	}
	if got := badgesOf(js.Exceptions[0]); !slices.Equal(got["save"], []string{"raise AppError"}) || !slices.Equal(got["main"], []string{"→ begin"}) {
		t.Errorf("main exception badges %v", got)
	}
	if got := badgesOf(js.Exceptions[1]); !slices.Equal(got["read_a"], []string{"raise IOError (handled)"}) || !slices.Equal(got["open_a"], []string{"try…"}) {
		t.Errorf("inner exception badges %v", got)
	}
	if !js.Exceptions[0].Frames[0].Open || js.Exceptions[1].Frames[0].Open {
		t.Error("javascript: only the main raise frame starts expanded")
	}

	py := parseEvent([]byte(`{"platform":"python",`+chain+`}`), frameOptions{frame: -1, bodies: 30})
	if py.Exceptions[0].Type != "IOError" || py.Exceptions[1].Type != "AppError" {
		t.Fatalf("python: innermost exception first")
	}
	if got := frameNames(py.Exceptions[1]); !slices.Equal(got, []string{"main", "save"}) {
		t.Errorf("python frames %v, want most recent last", got)
	}
	last := py.Exceptions[1].Frames[1]
	if !last.Open || !slices.Equal(last.Badges, []string{"raise AppError"}) {
		t.Errorf("python raise frame: open %v, badges %v", last.Open, last.Badges)
	}
}
