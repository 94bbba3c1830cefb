package rawevent

import (
	"bytes"

	"github.com/valyala/fastjson"
)

// Deep events. Ingest accepts an event whose brackets nest up to
// fastjson.MaxDepth (300) levels, but fastjson's parser counts every value,
// so a string inside the 300th level is one level too deep for it, and
// wrapping a bare exception, breadcrumbs or threads value in
// {"values": [...]} adds one or two levels more. Rather than drop such an
// event, Normalize keeps it and replaces each array or object that would
// nest too deep with the string DepthMarker: before parsing (trimDepth) for
// what the parser would refuse, and while writing (writer.value) for what
// wrapping pushes down. Real SDK events nest a few dozen levels at most.

// DepthMarker stands for an array or object that was nested too deeply to
// keep.
const DepthMarker = TrimMarker + "nested too deep, trimmed]"

// MaxContainerDepth is the 0-based depth (the top-level object is 0) from
// which TrimDepth replaces containers: their entries would lie deeper than
// fastjson.MaxDepth.
const MaxContainerDepth = fastjson.MaxDepth - 1

// TooDeep reports whether the brackets of JSON text raw nest more than
// MaxContainerDepth levels, the most fastjson can parse with values inside.
func TooDeep(raw []byte) bool {
	depth := 0
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '"':
			i = StringEnd(raw, i+1)
		case '{', '[':
			if depth++; depth > MaxContainerDepth {
				return true
			}
		case '}', ']':
			depth--
		}
	}
	return false
}

// TrimDepth returns raw with every array or object at MaxContainerDepth or
// deeper replaced by DepthMarker. Input that is not valid JSON is returned
// unchanged (the parser then says why).
func TrimDepth(raw []byte) []byte {
	t := trimmer{in: raw, out: make([]byte, 0, len(raw)), depthOnly: true}
	end, ok := t.value(t.skipSpace(0), 0)
	if !ok || t.skipSpace(end) != len(raw) {
		return raw
	}
	return t.out
}

// StringEnd returns the index of the quote that ends the JSON string whose
// contents start at raw[i], or len(raw). It jumps from quote to quote
// (bytes.IndexByte is vectorised), most of an event being strings.
func StringEnd(raw []byte, i int) int {
	for {
		j := bytes.IndexByte(raw[i:], '"')
		if j < 0 {
			return len(raw)
		}
		q := i + j
		// The quote is escaped when an odd number of backslashes precede it.
		b := 0
		for k := q - 1; k >= i && raw[k] == '\\'; k-- {
			b++
		}
		if b%2 == 0 {
			return q
		}
		i = q + 1
	}
}
