// Package rawevent holds the rules on an event's raw JSON that hold before
// any parser sees it, shared by ingest and digest: the event id (ParseID,
// NormalizeID, NewID), the trim of value-dense events (TrimDense,
// MaxValues) and of too deeply nested ones (TooDeep, TrimDepth), and the
// scan to a JSON string's end (StringEnd). It is a leaf: the relay binary
// links it without digest's parsers.
package rawevent
