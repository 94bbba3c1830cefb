package forward

import (
	"strconv"
	"time"
)

// AppendEnvelope appends to dst an envelope of one item: its header carries
// eventID (when it is one: 32 hex digits, so the upstream deduplicates by
// it) and sentAt, the item header itemType ("" is "event") and the length
// of payload.
func AppendEnvelope(dst []byte, eventID, itemType string, payload []byte, sentAt time.Time) []byte {
	dst = append(dst, '{')
	if isHexID(eventID) {
		dst = append(dst, `"event_id":"`...)
		dst = append(dst, eventID...)
		dst = append(dst, `",`...)
	}
	dst = append(dst, `"sent_at":"`...)
	dst = sentAt.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z")
	dst = append(dst, `"}`+"\n"...)
	return appendItem(dst, itemType, payload)
}

// appendItem appends an envelope item of itemType ("" is "event").
func appendItem(dst []byte, itemType string, payload []byte) []byte {
	dst = append(dst, `{"type":"`...)
	if itemType == "" {
		itemType = "event"
	}
	dst = appendJSONString(dst, itemType)
	dst = append(dst, `","length":`...)
	dst = strconv.AppendInt(dst, int64(len(payload)), 10)
	dst = append(dst, "}\n"...)
	dst = append(dst, payload...)
	return append(dst, '\n')
}

// isHexID reports whether s is 32 lowercase hex digits.
func isHexID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// appendJSONString appends s with the characters a JSON string may not hold
// raw dropped (item types are short ASCII names).
func appendJSONString(dst []byte, s string) []byte {
	for i := range len(s) {
		if c := s[i]; c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			dst = append(dst, c)
		}
	}
	return dst
}
