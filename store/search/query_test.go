package search

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

func TestParseTerms(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     []Term
	}{
		{"tag", "release:1.2.3", []Term{{Key: "release", Value: "1.2.3"}}},
		{"level lowercased", "level:ERROR", []Term{{Key: "level", Value: "error"}}},
		{"environment is a prefix", "environment:prod", []Term{{Key: "environment", Value: "prod", Prefix: true}}},
		{"env alias", "env:prod", []Term{{Key: "environment", Value: "prod", Prefix: true}}},
		{"trace.id alias", "trace.id:abc", []Term{{Key: "trace", Value: "abc"}}},
		{"star is a prefix", "release:1.2*", []Term{{Key: "release", Value: "1.2", Prefix: true}}},
		{"quoted value", `browser:"Chrome 120"`, []Term{{Key: "browser", Value: "chrome 120"}}},
		{"bang negates", "!user.email:a@b.c", []Term{{Key: "user.email", Value: "a@b.c", Not: true}}},
		{"dash negates", "-os:linux", []Term{{Key: "os", Value: "linux", Not: true}}},
		{"words", "Connection refused", []Term{{Value: "connection", Prefix: true}, {Value: "refused", Prefix: true}}},
		{"pasted title keeps its colon words", "TypeError: x is 127.0.0.1:80",
			[]Term{{Value: "typeerror", Prefix: true}, {Value: "x", Prefix: true}, {Value: "is", Prefix: true},
				{Value: "127", Prefix: true}, {Value: "0", Prefix: true}, {Value: "0", Prefix: true}, {Value: "1", Prefix: true}, {Value: "80", Prefix: true}}},
		{"url stays text", "http://x.io", []Term{{Value: "http", Prefix: true}, {Value: "x", Prefix: true}, {Value: "io", Prefix: true}}},
		{"negated word", "-timeout", []Term{{Value: "timeout", Prefix: true, Not: true}}},
		{"quoted phrase", `"a b"`, []Term{{Value: "a", Prefix: true}, {Value: "b", Prefix: true}}},
		{"file path", "app/models/user.py", []Term{{Value: "app", Prefix: true}, {Value: "models", Prefix: true}, {Value: "user", Prefix: true}, {Value: "py", Prefix: true}}},
		{"empty", "   ", nil},
	} {
		q, err := Parse(tt.in, now)
		if err != nil {
			t.Errorf("%s: Parse(%q): %v", tt.name, tt.in, err)
			continue
		}
		if !reflect.DeepEqual(q.Terms, tt.want) {
			t.Errorf("%s: Parse(%q).Terms = %+v, want %+v", tt.name, tt.in, q.Terms, tt.want)
		}
	}
}

func TestParseStates(t *testing.T) {
	q, err := Parse("is:unresolved -is:muted", now)
	if err != nil {
		t.Fatal(err)
	}
	want := []State{{Name: "unresolved"}, {Name: "muted", Not: true}}
	if !reflect.DeepEqual(q.States, want) {
		t.Errorf("States = %+v, want %+v", q.States, want)
	}
	for _, tt := range []struct {
		resolved, muted, want bool
	}{{false, false, true}, {false, true, false}, {true, false, false}} {
		if got := q.MatchState(tt.resolved, tt.muted); got != tt.want {
			t.Errorf("MatchState(%v, %v) = %v, want %v", tt.resolved, tt.muted, got, tt.want)
		}
	}
}

func TestParseRanges(t *testing.T) {
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		want Range
	}{
		{"first_seen:>2026-11-01", Range{After: day.AddDate(0, 0, 1)}},
		{"first_seen:>=2026-11-01", Range{After: day}},
		{"first_seen:<2026-11-01", Range{Before: day}},
		{"first_seen:<=2026-11-01", Range{Before: day.AddDate(0, 0, 1)}},
		{"first_seen:2026-11-01", Range{After: day, Before: day.AddDate(0, 0, 1)}},
		{"first_seen:-7d", Range{After: now.Add(-7 * 24 * time.Hour)}},
		{"first_seen:<24h", Range{After: now.Add(-24 * time.Hour)}},
		{"first_seen:>24h", Range{Before: now.Add(-24 * time.Hour)}},
		{"first_seen:+2w", Range{Before: now.Add(-14 * 24 * time.Hour)}},
		{"first_seen:>2026-11-01T10:00:00Z", Range{After: day.Add(10*time.Hour + time.Nanosecond)}},
		{"first_seen:>2026-11-01 first_seen:<2026-11-03", Range{After: day.AddDate(0, 0, 1), Before: day.AddDate(0, 0, 2)}},
	} {
		q, err := Parse(tt.in, now)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if q.FirstSeen != tt.want {
			t.Errorf("Parse(%q).FirstSeen = %+v, want %+v", tt.in, q.FirstSeen, tt.want)
		}
	}
	q, _ := Parse("last_seen:-1h", now)
	if q.LastSeen.After != now.Add(-time.Hour) || !q.FirstSeen.IsZero() {
		t.Errorf("last_seen:-1h = %+v / %+v", q.LastSeen, q.FirstSeen)
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{"is:sleeping", "first_seen:yesterday", "last_seen:-soon", "-first_seen:-1d",
		strings.Repeat("a:b ", MaxTerms+1)} {
		if _, err := Parse(in, now); !errors.Is(err, ErrBadQuery) {
			t.Errorf("Parse(%q) = %v, want ErrBadQuery", in, err)
		}
	}
}

func TestTokens(t *testing.T) {
	var got []string
	Tokens("Ünïcode_Straße getById  "+strings.Repeat("x", 60), func(w string) bool { got = append(got, w); return true })
	want := []string{"ünïcode", "straße", "getbyid", strings.Repeat("x", MaxToken)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Tokens = %q, want %q", got, want)
	}
}

func TestMatch(t *testing.T) {
	q, _ := Parse("level:error -environment:staging crash", now)
	has := map[string]bool{"tlevel\x00error": true, "wcrashed": true}
	fn := func(tm Term) bool {
		for k := range has {
			if k == tm.IndexKey() || tm.Prefix && strings.HasPrefix(k, tm.IndexKey()) {
				return true
			}
		}
		return false
	}
	if !q.Match(fn) {
		t.Error("Match = false, want true")
	}
	has["tenvironment\x00staging-2"] = true
	if q.Match(fn) {
		t.Error("Match with staging-2 = true, want false")
	}
}
