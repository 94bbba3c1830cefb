package ingest

import (
	"bytes"
	"encoding/binary"
	"math/bits"

	"github.com/tinysink/tinysink/internal/jsonscan"
)

// validJSON checks JSON text b in one pass: it reports whether b is one
// JSON value (RFC 8259 grammar, with white space around it) nested at most
// maxDepth deep, and if not, a reason and the byte offset it was found at.
// It accepts what fastjson.ValidateBytes accepts, which is what the
// digest's parser reads: UTF-8 is not checked (digest repairs it), control
// characters in strings are refused where fastjson refuses them. It keeps an explicit stack of at most
// maxDepth bytes instead of recursing, and allocates nothing.
//
// Before it, the ingest checked depth with a bracket scan and then ran
// fastjson's recursive validator: two passes over every event, ~44 % of
// the envelope handler's CPU.
func validJSON(b []byte, maxDepth int) (ok bool, tooDeep bool, reason string, at int) {
	return validJSONScan(b, maxDepth, nil)
}

// eventScan is what prepareEvent needs of an event, gathered by
// validJSONScan in its pass: the number of JSON values (as
// objectScanner counts them) and where the top-level event_id's value
// starts, picked among duplicates as field does.
type eventScan struct {
	values int
	id     int  // index of the event_id member's value; -1: none
	exact  bool // id's key was written exactly as "event_id"
}

// root returns sc for keys at depth 1 (members of the top-level object),
// else nil; sc may be nil.
func (sc *eventScan) root(depth int) *eventScan {
	if depth == 1 {
		return sc
	}
	return nil
}

// rootKey notes a member of the top-level object, with key the text of
// its key and vi the index of its value.
func (sc *eventScan) rootKey(key []byte, vi int) {
	switch {
	case sc.exact:
	case string(key) == "event_id":
		sc.id, sc.exact = vi, true
	case sc.id < 0 && bytes.IndexByte(key, '\\') >= 0 && unescapedIs(key, "event_id"):
		sc.id = vi
	}
}

// validJSONScan is validJSON that, when sc is set, also fills sc in.
func validJSONScan(b []byte, maxDepth int, sc *eventScan) (ok bool, tooDeep bool, reason string, at int) {
	var stackBuf [maxJSONDepth]byte
	stack := stackBuf[:0]
	if maxDepth > len(stackBuf) {
		stack = make([]byte, 0, maxDepth)
	}
	i := skipWS(b, 0)
	for {
		// A value starts at b[i].
		if i >= len(b) {
			return false, false, "unexpected end of input", i
		}
		if sc != nil {
			sc.values++
		}
		switch c := b[i]; c {
		case '{', '[':
			if len(stack) >= maxDepth {
				return false, true, "nested too deep", i
			}
			stack = append(stack, c)
			i = skipWS(b, i+1)
			if i < len(b) && b[i] == c+2 { // '}' or ']': empty
				stack = stack[:len(stack)-1]
				i++
				break
			}
			if c == '{' {
				var r string
				if i, r = objectKey(b, i, sc.root(len(stack))); r != "" {
					return false, false, r, i
				}
			}
			continue
		case '"':
			end, r := stringEndValid(b, i+1)
			if r != "" {
				return false, false, r, end
			}
			i = end + 1
		case 't':
			if !hasPrefix(b[i:], "true") {
				return false, false, "unexpected value", i
			}
			i += 4
		case 'f':
			if !hasPrefix(b[i:], "false") {
				return false, false, "unexpected value", i
			}
			i += 5
		case 'n':
			if !hasPrefix(b[i:], "null") {
				return false, false, "unexpected value", i
			}
			i += 4
		default:
			end := numberEnd(b, i)
			if end < 0 {
				return false, false, "bad number", i
			}
			i = end
		}
		// A value ended at b[i]: close containers, or go on to the next
		// member or element.
		for {
			i = skipWS(b, i)
			if len(stack) == 0 {
				if i != len(b) {
					return false, false, "unexpected data after the value", i
				}
				return true, false, "", 0
			}
			if i >= len(b) {
				return false, false, "unexpected end of input", i
			}
			top := stack[len(stack)-1]
			if b[i] == top+2 {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			if b[i] != ',' {
				return false, false, "missing ',' or closing bracket", i
			}
			i = skipWS(b, i+1)
			if top == '{' {
				var r string
				if i, r = objectKey(b, i, sc.root(len(stack))); r != "" {
					return false, false, r, i
				}
			}
			break
		}
	}
}

// objectKey reads an object key and its colon at b[i] and returns the
// index of the value after them, or the error's index and a reason. When
// root is set (a member of the top-level object), it notes the key there.
func objectKey(b []byte, i int, root *eventScan) (int, string) {
	if i >= len(b) || b[i] != '"' {
		return i, "missing object key"
	}
	k := i + 1
	end, r := stringEndValid(b, k)
	if r != "" {
		return end, r
	}
	i = skipWS(b, end+1)
	if i >= len(b) || b[i] != ':' {
		return i, "missing ':' after object key"
	}
	i = skipWS(b, i+1)
	if root != nil {
		root.rootKey(b[k:end], i)
	}
	return i, ""
}

// stringEndValid returns the index of the quote closing the JSON string
// whose text starts at b[i], checking its escapes, or the error's index
// and a reason. A control character is refused as fastjson refuses it:
// only after the string's last escape sequence (fastjson checks what
// follows that escape; the digest's parser accepts them anywhere).
func stringEndValid(b []byte, i int) (int, string) {
	ctl := -1 // a control character since the last escape
	for {
		// Whole words here, the tail in jsonscan: most strings are short,
		// and the call per string cost as much as its words.
		for i+8 <= len(b) {
			if m := jsonscan.WordSpecial(binary.LittleEndian.Uint64(b[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				goto found
			}
			i += 8
		}
		if i = jsonscan.Special(b, i); i >= len(b) {
			break
		}
	found:
		c := b[i]
		switch {
		case c == '"':
			if ctl >= 0 {
				return ctl, "control character in string"
			}
			return i, ""
		case c < 0x20:
			if ctl < 0 {
				ctl = i
			}
			i++
		case c == '\\':
			ctl = -1
			if i+1 >= len(b) {
				return i, "unterminated string"
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if _, ok := jsonscan.Hex4(b[i+2:]); !ok {
					return i, "bad \\u escape"
				}
				i += 6
			default:
				return i, "unknown escape"
			}
		}
	}
	return i, "unterminated string"
}

// numberEnd returns the index after the JSON number at b[i], or -1.
func numberEnd(b []byte, i int) int {
	if i < len(b) && b[i] == '-' {
		i++
	}
	start := i
	i = digitsEnd(b, i)
	switch {
	case i == start:
		return -1
	case b[start] == '0' && i-start > 1:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		j := digitsEnd(b, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digitsEnd(b, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func digitsEnd(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

func skipWS(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

func hasPrefix(b []byte, s string) bool {
	return len(b) >= len(s) && string(b[:len(s)]) == s
}
