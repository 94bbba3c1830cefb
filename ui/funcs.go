package ui

import (
	"fmt"
	"html/template"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tinysink/tinysink/store"
)

// funcs are the template helpers: small pure functions. None of them turns
// event data into template.HTML.
//
// Templates call no methods, only these functions and fields: the release
// builds compile text/template without its method lookup by name (see
// ui/cmd/tmploverlay), which would make the linker keep every exported
// method of every type in the binary. The functions below the first block
// stand in for the methods the templates need.
var funcs = template.FuncMap{
	"ago":          ago,
	"when":         when,
	"truncate":     truncate,
	"plural":       plural,
	"safeURL":      safeURL,
	"percent":      percent,
	"count":        count,
	"add":          func(a, b int) int { return a + b },
	"historyLabel": historyLabel,
	"bytes":        bytesText,
	"ms":           ms,
	"indent":       indent,
	"tagsearch":    tagSearchURL,

	"format":      time.Time.Format,
	"isZero":      time.Time.IsZero,
	"hasDetail":   frameView.hasDetail,
	"canManage":   func(u *store.User, pid int) bool { return u != nil && u.CanManage(pid) },
	"managesAny":  func(u *store.User) bool { return u != nil && u.ManagesAny() },
	"summaryDays": func(p store.Project) int { return p.SummaryRetention() },
	"commentRef":  store.HistoryEntry.Ref,
}

// tagSearchURL links to the project's issues (all states) whose events
// carried tag key=value: the search key:"value", or key:prefix* for a
// value with a double quote, which the language cannot quote.
func tagSearchURL(pid int, key, value string) string {
	term := key + ":" + value
	switch {
	case strings.Contains(value, `"`):
		v, _, _ := strings.Cut(value, `"`)
		term = key + ":" + v + "*"
		if strings.ContainsAny(v, " \t") {
			term = key + `:"` + v + `*"`
		}
	case strings.ContainsFunc(value, unicode.IsSpace) || value == "":
		term = key + `:"` + value + `"`
	}
	return "/projects/" + strconv.Itoa(pid) + "/?tab=all&q=" + url.QueryEscape(term)
}

// ms formats a duration in milliseconds (a float64, or a *float64 that
// may be nil): "0.42 ms", "12.3 ms", "1 204 ms" (count's separator).
func ms(x any) string {
	var v float64
	switch x := x.(type) {
	case float64:
		v = x
	case *float64:
		if x == nil {
			return "—"
		}
		v = *x
	default:
		return "—"
	}
	switch {
	case v < 1:
		return strconv.FormatFloat(v, 'f', 2, 64) + " ms"
	case v < 100:
		return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
	}
	return count(int64(v+0.5)) + " ms"
}

// indent is the prefix of a span at depth d of a span tree.
func indent(d int) string {
	return strings.Repeat(" ", min(max(d, 0), 32)) + "└ "
}

// when formats t as an absolute UTC time to the second, or "—" for the
// zero time.
func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// ago formats how long before now t was, coarsely: "just now", "5 min ago",
// "3 h ago", "12 days ago".
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + " h ago"
	case d < 60*24*time.Hour:
		return strconv.Itoa(int(d/(24*time.Hour))) + " days ago"
	}
	return t.UTC().Format("2006-01-02")
}

// truncate cuts s to at most n characters, marking a cut with "…".
func truncate(n int, s string) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for j := range s {
		if i == n-1 {
			return s[:j] + "…"
		}
		i++
	}
	return s
}

// plural returns "1 event", "2 events": the word with an "s" unless n is 1.
func plural(n int64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return count(n) + " " + word + "s"
}

// count formats n with thin thousands separators: 12 345.
func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString("\u202f")
		}
		b.WriteRune(c)
	}
	return b.String()
}

// percent returns part as a whole-number percentage of total.
func percent(part, total int64) string {
	if total <= 0 {
		return "0%"
	}
	p := float64(part) * 100 / float64(total)
	if p > 0 && p < 1 {
		return "<1%"
	}
	return fmt.Sprintf("%.0f%%", p)
}

// safeURL returns s when it is an absolute http or https URL, and "" for
// anything else (javascript:, data:, relative or malformed), so that a URL
// from an event is made a link only when following it is harmless.
func safeURL(s string) string {
	if len(s) > 2000 {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return ""
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		return s
	}
	return ""
}

// bytesText formats a byte count (any integer type) in B, KiB or MiB, with
// its sign: "512 B", "3.2 KiB", "-1.5 MiB".
func bytesText(v any) string {
	var n float64
	switch v := v.(type) {
	case int:
		n = float64(v)
	case int64:
		n = float64(v)
	case uint64:
		n = float64(v)
	default:
		return fmt.Sprint(v)
	}
	a := n
	if a < 0 {
		a = -a
	}
	switch {
	case a < 1024:
		return fmt.Sprintf("%.0f B", n)
	case a < 1<<20:
		return fmt.Sprintf("%.1f KiB", n/1024)
	}
	return fmt.Sprintf("%.1f MiB", n/(1<<20))
}
