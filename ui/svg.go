package ui

import (
	"html/template"
	"strconv"
	"strings"
	"time"
)

// Sparklines and histograms are inline SVG built here from counts alone:
// the markup contains only numbers we format and fixed text, never event
// data, which is why returning template.HTML is safe.

// sparkline draws counts (oldest first) as bars in a w×h box, with total
// as its accessible label.
func sparkline(counts []int64, w, h int, label string) template.HTML {
	var max int64
	var total int64
	for _, c := range counts {
		max = max2(max, c)
		total += c
	}
	var b strings.Builder
	b.WriteString(`<svg class="spark" viewBox="0 0 `)
	b.WriteString(strconv.Itoa(w))
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(h))
	b.WriteString(`" width="`)
	b.WriteString(strconv.Itoa(w))
	b.WriteString(`" height="`)
	b.WriteString(strconv.Itoa(h))
	b.WriteString(`" role="img" aria-label="`)
	b.WriteString(strconv.FormatInt(total, 10))
	b.WriteByte(' ')
	b.WriteString(template.HTMLEscapeString(label))
	b.WriteString(`"><path d="`)
	if n := len(counts); n > 0 && max > 0 {
		bw := float64(w) / float64(n)
		for i, c := range counts {
			if c == 0 {
				continue
			}
			bh := float64(h) * float64(c) / float64(max)
			if bh < 1 {
				bh = 1
			}
			b.WriteByte('M')
			b.WriteString(fmtF(float64(i) * bw))
			b.WriteByte(' ')
			b.WriteString(strconv.Itoa(h))
			b.WriteByte('v')
			b.WriteString(fmtF(-bh))
			b.WriteByte('h')
			b.WriteString(fmtF(bw * 0.8))
			b.WriteByte('v')
			b.WriteString(fmtF(bh))
			b.WriteByte('z')
		}
	}
	b.WriteString(`"/></svg>`)
	return template.HTML(b.String())
}

func max2(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

func fmtF(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

// last24Hours is the span of a 24-hour sparkline: the 24 whole hours up to
// and including now's.
func last24Hours(now time.Time) (from, to time.Time) {
	to = now.Add(time.Hour)
	return to.Add(-24 * time.Hour), to
}

// hourly24 returns subject's counts for the 24 hours up to now.
func (u *UI) hourly24(subject string) []int64 {
	from, to := last24Hours(u.now())
	c, err := u.db.Hourly(subject, from, to)
	if err != nil {
		return nil
	}
	return c
}

// histogram90 returns subject's counts per day for the 90 days up to
// today, oldest first (the store keeps daily counts that long).
func (u *UI) histogram90(subject string) []int64 {
	today := u.now().UTC().Truncate(24 * time.Hour)
	c, err := u.db.Daily(subject, today.AddDate(0, 0, -89), today.AddDate(0, 0, 1))
	if err != nil {
		return nil
	}
	return c
}
