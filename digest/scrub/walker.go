package scrub

import "bytes"

// A Walker scrubs a document while something else writes it: the event
// normaliser, so that the document is walked once rather than written and
// then walked again by Scrub. The writer follows the document's modes (where
// in the event each value is) with Child and Elem, and hands each value
// that scrubbing can change (Scans) to Value, or String, as the JSON it
// wrote. They run the very code Scrub runs on that value, so what a
// Walker-guided writer produces is what Scrub would make of the writer's
// plain output (TestNormalizeScrubbedIsScrub and FuzzNormalizeScrubbed in
// digest/event).
type Walker struct {
	s       scrubber
	changed bool
}

// Mode is where in the event a value is. The zero Mode is outside every
// scrubbed part.
type Mode = mode

// ModeRoot is the mode of the event document itself.
const ModeRoot = mRoot

// Reset readies w for a new document scrubbed with opts.
func (w *Walker) Reset(opts Options) {
	s := &w.s
	s.reset(nil)
	s.dropBig()
	s.setOptions(opts)
	w.changed = false
}

// Changed reports whether Value or String changed anything since Reset.
func (w *Walker) Changed() bool { return w.changed }

// Release lets the GC have everything w keeps between documents: its
// buffers and the verdicts it remembers for key names (up to
// secretCacheSize of them). Reset makes it usable again.
func (w *Walker) Release() { w.s = scrubber{} }

// Child returns the mode of the value of a member of an object in mode m,
// given the member's name as written: a JSON string literal, quotes
// included.
func (w *Walker) Child(m Mode, name []byte) Mode {
	if len(name) < 2 {
		return mSkip
	}
	key := name[1 : len(name)-1]
	if bytes.IndexByte(key, '\\') >= 0 {
		w.s.key = decodeString(w.s.key[:0], key)
		key = w.s.key
	}
	return w.ChildName(m, key)
}

// ChildName is Child given the name decoded: what the string literal
// Child takes decodes to, so that the writer, which has it, need not have
// it read back.
func (w *Walker) ChildName(m Mode, name []byte) Mode {
	if m == mSkip || m == mFilter {
		return mSkip
	}
	return w.s.child(m, name)
}

// Elem returns the mode of the elements of an array in mode m. With pairs,
// an element that is an array is a [name, value...] pair: its first
// element, when a string, is written in the zero mode and names the rest,
// which are in Child(m, name); a first element that is not a string is in
// PairName's mode and so are the rest. Other elements are in m itself.
func (w *Walker) Elem(m Mode) (em Mode, pairs bool) {
	if em = elem[m]; em == mPair {
		return m, true
	}
	return em, false
}

// PairName is the mode of the first element of a pair that is not a
// string, and of the elements after it.
const PairName = mArea

// Scans reports whether Value can change a value in mode m other than an
// object or an array: a secret key's value, or a string or number in the
// parts that are scanned. An object or an array can change only in
// ModeFilter's place, which Scans also reports.
func (w *Walker) Scans(m Mode) bool { return m == mFilter || strKind[m] != kNone }

// Filters reports whether a value in mode m is a secret key's, replaced
// whatever it is.
func (w *Walker) Filters(m Mode) bool { return m == mFilter }

// String is Value for a string in mode m that is not ModeFilter's, given
// also what the writer knows of it: content, its decoded contents, and
// whether lit holds escapes, so that it is not read and decoded again.
func (w *Walker) String(m Mode, content, lit []byte, escaped bool) ([]byte, bool) {
	kind := strKind[m]
	if kind == kNone || m == mFilter {
		return w.Value(m, lit)
	}
	s := &w.s
	s.src, s.out, s.last = lit, nil, 0
	s.scanString(kind, content, escaped, 0, len(lit))
	out := s.out
	if out != nil {
		out = append(out, lit[s.last:]...)
	}
	s.src, s.out = nil, nil
	if out == nil {
		return nil, false
	}
	w.changed = true
	return out, true
}

// Value returns what Scrub makes of the value lit (well-formed JSON, as
// written) in mode m, and whether that differs from lit. The result does
// not alias lit.
func (w *Walker) Value(m Mode, lit []byte) ([]byte, bool) {
	s := &w.s
	s.src, s.pos, s.depth = lit, 0, 0
	s.out, s.last = nil, 0
	out, changed, ok := s.run(m)
	s.src, s.out = nil, nil
	if !ok || !changed {
		return nil, false
	}
	w.changed = true
	return out, true
}
