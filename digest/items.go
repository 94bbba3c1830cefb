package digest

import (
	"math"
	"strconv"
	"time"

	"github.com/valyala/fastjson"

	"github.com/tinysink/tinysink/store"
)

// Spool records that are not events carry their envelope item type
// (ingest/items.go). Each type is summarised by its own code: one case per
// type below. An item that cannot be read is dropped, not set aside: it is
// not an event, and the summaries do not depend on it.

// digestTyped digests the item of a typed spool record.
func digestTyped(tx *store.Tx, it *item) error {
	if _, err := tx.Project(it.project); err != nil {
		it.dropped = "unknown_project"
		return nil
	}
	var p fastjson.Parser
	v, err := p.ParseBytes(it.raw)
	if err != nil {
		it.dropped = "invalid_" + it.typ
		return nil
	}
	switch it.typ {
	case "transaction":
		return digestTransaction(tx, it, v)
	case "span":
		return digestSpans(tx, it, v)
	case "check_in":
		return digestCheckIn(tx, it, v)
	case "feedback", "user_report":
		return digestFeedback(tx, it, v)
	case "session": // health.go
		return digestSession(tx, it, v)
	case "sessions":
		return digestSessionAggregates(tx, it, v)
	case "client_report":
		return digestClientReport(tx, it, v)
	case droppedItemsType:
		return digestDroppedItems(tx, it, v)
	}
	it.dropped = "unknown_type"
	return nil
}

// timestamp reads a Sentry timestamp: seconds since the epoch as a
// number, or an RFC 3339 string.
func timestamp(v *fastjson.Value) (time.Time, bool) {
	if v == nil {
		return time.Time{}, false
	}
	switch v.Type() {
	case fastjson.TypeNumber:
		f := v.GetFloat64()
		if f <= 0 || f > 1e11 || math.IsNaN(f) {
			return time.Time{}, false
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
	case fastjson.TypeString:
		s := string(v.GetStringBytes())
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC(), true
			}
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return timestamp(fastjson.MustParse(strconv.FormatFloat(f, 'f', -1, 64)))
		}
	}
	return time.Time{}, false
}

// str returns the string at keys, "" when absent or not a string.
func str(v *fastjson.Value, keys ...string) string {
	return string(v.GetStringBytes(keys...))
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
