// Package event turns the raw bytes of one Sentry event (a /store/ body or an
// envelope's event item, in every shape real SDKs send) into the fields digest
// needs and a normalised JSON document to store.
//
// Everything is computed from a single fastjson parse. The grouping key,
// calculated type/value, title, crash frame and tags follow Bugsink's
// behaviour as written up in reference/bugsink-behaviour.md §4, §5 and §9.6;
// the default grouper is the "bugsink-v2" one. Nothing here is translated from
// Bugsink's or Sentry's code, except the message-parameterisation regexes in
// parameterize.go, which carry their own attribution.
//
// The normalised JSON is the received document, in its key order, with these
// changes, so readers only ever see one shape:
//
//   - exception, breadcrumbs and threads are {"values": [...]} (a bare list
//     is wrapped, a bare item becomes a one-element list; a falsy exception
//     is dropped);
//   - event_id is Event.EventID; timestamp is epoch seconds (microsecond
//     precision) of Event.Timestamp; received is Meta.IngestedAt the same way;
//     level and platform are Event.Level and Event.Platform;
//   - message is a string or absent and logentry an object or absent (an
//     object message becomes logentry when there is none);
//   - user.ip_address "{{auto}}" is Meta.RemoteAddr, or removed;
//   - an array or object nested too deep to parse back (jtree.MaxDepth,
//     counting the levels that wrapping adds) is the string rawevent.DepthMarker;
//   - every string and key is valid UTF-8 (U+FFFD for invalid bytes) without
//     NUL bytes, and numbers fastjson accepts but JSON does not (NaN, 01)
//     are rewritten or null.
//
// Normalising the normalised JSON again gives the same Event and the same
// bytes.
package event

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tinysink/tinysink/digest/rawevent"
	"github.com/tinysink/tinysink/digest/scrub"
	"github.com/tinysink/tinysink/internal/jtree"
)

// ErrInvalid is wrapped by every error Normalize returns: the payload cannot
// be an event at all (not JSON, not a JSON object, or nested too deeply).
var ErrInvalid = errors.New("event: invalid")

// Meta is what ingest knew about the event.
type Meta struct {
	// EventID is the 32 lowercase hex id chosen by ingest (the envelope
	// header wins over the payload). It may be "" for old data.
	EventID    string
	IngestedAt time.Time
	// RemoteAddr is the client address; it replaces "{{auto}}" in
	// user.ip_address.
	RemoteAddr string
}

// Tag is one key/value pair deduced from an event (reference §9.6).
type Tag struct{ Key, Value string }

// Event is what digest needs from one event. All strings are valid UTF-8
// without NUL bytes and do not alias parser memory.
type Event struct {
	// EventID is 32 lowercase hex: Meta.EventID, else the payload's
	// event_id (dashes removed, lowercased), else a new random UUID4.
	EventID string
	// Timestamp is the event's own timestamp at microsecond precision, or
	// Meta.IngestedAt when the payload has none or an unreadable one.
	Timestamp time.Time

	// Platform defaults to "other", Level to "error"; the other scalars are
	// "" when absent. All are cut to the lengths of reference §4 step 10.
	Platform, Level, Logger, ServerName, Release, Dist, Environment, Transaction string
	SDKName, SDKVersion                                                          string

	// CalculatedType and CalculatedValue follow reference §5.4, except
	// for RuleSyntheticMessage (a log message) and unreadable synthetic
	// function names (see Rule*).
	CalculatedType, CalculatedValue string
	// Title is the display title of §5.4.
	Title string
	// Rule is the Rule* constant that made the calculated type and value.
	Rule string
	// MessageSource is the Source* field the message came from, for
	// RuleLogMessage and RuleSyntheticMessage ("" when there was none).
	MessageSource string
	// SyntheticFunction is the crash frame's function that names a
	// synthetic exception (RuleSynthetic, RuleSyntheticMessage), or
	// "<unknown>".
	SyntheticFunction string

	// GroupingKey is the key of §5.1 with the bugsink-v2 default grouper
	// of §5.3, or for RuleSyntheticMessage the message grouper
	// ("Log Message: <normalised message> ⋄ in <function>").
	// GroupingMechanism is MechanismV2 or MechanismMessage for the
	// default grouper, or MechanismNone when a custom fingerprint without
	// "{{ default }}" made the key.
	GroupingKey       string
	GroupingMechanism string
	// PreviousGroupingKey is the key this event had before
	// RuleSyntheticMessage (bugsink-v2's: the function alone), when that
	// differs from GroupingKey; digest looks it up during a project's
	// transition window so that existing issues do not split.
	PreviousGroupingKey string
	// fingerprinted says that the event's fingerprint made the key (with
	// or without the default key in it).
	fingerprinted bool

	// LastFrame* describe the crash frame (§5.4); Function is trimmed
	// (see trimFunction).
	LastFrameFilename, LastFrameModule, LastFrameFunction string
	// LastFramePackage is the file name of the crash frame's package, the
	// binary of a native frame ("libc.so"), which has no module.
	LastFramePackage string

	// Handled is "true" or "false" from the main exception's
	// mechanism.handled, or "" when absent.
	Handled string

	// Tags are deduced as in §9.6: in source order, one per key (a later
	// source overwrites the value of an earlier one), at most MaxTags,
	// values cut to MaxTagValue characters.
	Tags []Tag

	// SearchText is what an issue search finds the event by beyond its
	// title and tags (see searchText). A Normalizer with DeferSearchText
	// leaves it empty and sets searchDeferred: SearchTextOf computes it
	// from the stored body when it is needed.
	SearchText     string
	searchDeferred bool
}

// SearchTextDeferred reports that the Normalizer left SearchText to be
// computed later (Normalizer.DeferSearchText).
func (ev *Event) SearchTextDeferred() bool { return ev.searchDeferred }

// Grouping mechanisms a key can be tagged with.
const (
	MechanismV2   = "bugsink-v2"
	MechanismNone = "none"
	// MechanismMessage tags keys made by RuleSyntheticMessage: bugsink-v2
	// but for messages sent with a synthetic exception.
	MechanismMessage = "tinysink-message-v1"
)

// Limits applied while normalising.
const (
	// MaxTags is the most tags an event gets; later new keys are dropped.
	MaxTags = 100
	// MaxTagValue is the length, in characters, tag values and keys are
	// cut to.
	MaxTagValue = 200
	// bigEvent is the payload size above which Normalize parses with a
	// throwaway parser, so a Normalizer does not keep a huge high-water
	// mark (fastjson keeps ~13 MB after a 1 MB event) for the rest of its
	// life.
	bigEvent = 256 << 10
	// maxKeepBuf is the largest output buffer a Normalizer keeps between
	// calls.
	maxKeepBuf = 1 << 20
)

// Normalizer holds reusable parser state. It is not safe for concurrent use.
type Normalizer struct {
	p    jtree.Parser
	buf  []byte // output scratch, copied out at the end of every call
	tags []Tag  // deduceTags' scratch; an event's tags are copied out at their size
	sc   scrub.Walker

	// DeferSearchText leaves Event.SearchText empty (and
	// SearchTextDeferred true). The digest indexes an issue's stack words
	// from only a few of its events (the first four, then every
	// power-of-two'th), so it computes the text for those alone, with
	// SearchTextOf, instead of building and holding ~3 KB per event of a
	// batch that is then dropped.
	DeferSearchText bool
}

// NewNormalizer returns a Normalizer ready for use.
func NewNormalizer() *Normalizer {
	return &Normalizer{}
}

// Shed lets the GC have the parser's values and the output buffer, which
// keep the size of the largest event parsed; the next call grows them
// again.
func (n *Normalizer) Shed() {
	n.p = jtree.Parser{}
	n.buf = nil
	n.tags = nil
	n.sc.Release()
}

// Normalize parses raw and returns the event's fields and the normalised JSON
// to store. The returned slice is freshly allocated (it does not alias parser
// memory). It returns an error wrapping ErrInvalid only when raw cannot be an
// event at all; anything else is tolerated and normalised.
func (n *Normalizer) Normalize(raw []byte, m Meta) (*Event, []byte, error) {
	ev, out, err := n.NormalizeTemp(raw, m)
	if err != nil {
		return nil, nil, err
	}
	return ev, bytes.Clone(out), nil
}

// NormalizeTemp is Normalize, but the JSON it returns is the Normalizer's
// scratch buffer: valid only until the next call, so the caller copies what
// it keeps.
func (n *Normalizer) NormalizeTemp(raw []byte, m Meta) (*Event, []byte, error) {
	return n.normalizeTemp(raw, m, nil)
}

// NormalizeScrubbed is NormalizeTemp with the document scrubbed with opts
// as it is written: the JSON is what scrub.Scrub makes of NormalizeTemp's,
// in one walk instead of two. When scrubbing changed anything, scrubbed is
// true and the event's fields are read from the scrubbed document
// (Reindex), so that no title, tag or other field holds what was
// filtered.
func (n *Normalizer) NormalizeScrubbed(raw []byte, m Meta, opts scrub.Options) (ev *Event, body []byte, scrubbed bool, err error) {
	n.sc.Reset(opts)
	if ev, body, err = n.normalizeTemp(raw, m, &n.sc); err != nil || !n.sc.Changed() {
		return ev, body, false, err
	}
	// Reindex parses a copy of body (fastjson copies its input), which
	// stays the Normalizer's until the next call.
	ev, err = n.Reindex(body, m)
	return ev, body, true, err
}

func (n *Normalizer) normalizeTemp(raw []byte, m Meta, sc *scrub.Walker) (*Event, []byte, error) {
	raw, root, m, err := n.parse(raw, m, true)
	if err != nil {
		return nil, nil, err
	}
	d := doc{deferSearch: n.DeferSearchText, tagBuf: &n.tags}
	d.index(root)
	ev := d.extract(m)

	w := writer{buf: n.buf[:0], meta: invalidUTF8Meta(raw, root), sc: sc}
	if err := w.document(&d, ev, m); err != nil {
		return nil, nil, err
	}
	if cap(w.buf) <= maxKeepBuf {
		n.buf = w.buf[:0]
	} else {
		n.buf = nil
	}
	return ev, w.buf, nil
}

// Reindex returns the fields of an event Normalize already wrote, without
// writing it again: Normalize(body) would return body itself (normalising
// is idempotent), so only the fields are new. The digest uses it after
// scrubbing changed a normalised body.
func (n *Normalizer) Reindex(body []byte, m Meta) (*Event, error) {
	_, root, m, err := n.parse(body, m, false)
	if err != nil {
		return nil, err
	}
	d := doc{deferSearch: n.DeferSearchText, tagBuf: &n.tags}
	d.index(root)
	return d.extract(m), nil
}

// SearchTextOf returns the SearchText of the event Normalize stored as
// body, for an Event whose text was deferred (DeferSearchText). It is the
// text Reindex(body) gives, which is what the UI's search within an issue
// finds the event by.
func (n *Normalizer) SearchTextOf(body []byte) (string, error) {
	_, root, _, err := n.parse(body, Meta{}, false)
	if err != nil {
		return "", err
	}
	var d doc
	d.index(root)
	d.excVals, d.excPresent = exceptionValues(d.exception)
	return d.searchText(), nil
}

// parse parses raw with the Normalizer's parser (a throwaway one for a big
// event), with trim first trimming it as Normalize does; a body Normalize
// wrote needs no trimming.
func (n *Normalizer) parse(raw []byte, m Meta, trim bool) ([]byte, *jtree.Value, Meta, error) {
	// A value-dense event is trimmed first (see dense.go); counting is a
	// byte scan, and small events cannot be dense enough to matter.
	if trim && len(raw) > 64<<10 && rawevent.CountValues(raw, rawevent.MaxValues) > rawevent.MaxValues {
		raw, _ = rawevent.TrimDense(raw)
	}
	p := &n.p
	if len(raw) > bigEvent {
		p = new(jtree.Parser)
	}
	root, err := p.ParseBytes(raw)
	// So is one nested deeper than the parser takes (see depth.go). Real
	// events never are, so the bracket scan runs only when the parser
	// refused the event for its depth, not on every event.
	if err != nil && trim && strings.Contains(err.Error(), "too big depth") && rawevent.TooDeep(raw) {
		raw = rawevent.TrimDepth(raw)
		root, err = p.ParseBytes(raw)
	}
	if err != nil {
		msg := err.Error()
		if strings.Contains(msg, "too big depth") {
			return nil, nil, m, fmt.Errorf("%w: nesting deeper than %d levels", ErrInvalid, jtree.MaxDepth)
		}
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		return nil, nil, m, fmt.Errorf("%w: invalid JSON: %s", ErrInvalid, msg)
	}
	if root.Type() != jtree.TypeObject {
		return nil, nil, m, fmt.Errorf("%w: payload is not a JSON object", ErrInvalid)
	}
	if m.IngestedAt.IsZero() {
		m.IngestedAt = time.Now()
	}
	return raw, root, m, nil
}

// GroupingHash returns the lowercase hex SHA-256 of a grouping key, the form
// in which keys are indexed.
func GroupingHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}
