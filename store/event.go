package store

import (
	"encoding/hex"
	"time"
)

// Event is the index entry of one stored event.
type Event struct {
	ID          string    `json:"event_id"` // 32 lowercase hex
	ProjectID   int       `json:"project"`
	IssueID     uint32    `json:"issue"`
	DigestOrder int       `json:"digest_order"`
	IngestedAt  time.Time `json:"ingested_at"`
	DigestedAt  time.Time `json:"digested_at"`
	Timestamp   time.Time `json:"timestamp"`
	NeverEvict  bool      `json:"never_evict"`

	rec record
	pos uint32 // record number in the project's log
}

func eventFrom(pid int, n uint32, r record) Event {
	return Event{
		ID: hex.EncodeToString(r.EventID[:]), ProjectID: pid, IssueID: r.Issue, DigestOrder: int(r.Order),
		IngestedAt: msTime(r.Ingested), DigestedAt: msTime(r.Digested), Timestamp: msTime(r.Timestamp),
		NeverEvict: r.Flags&flagNeverEvict != 0, rec: r, pos: n,
	}
}

// EventPage is one page of an issue's events.
type EventPage struct {
	Events []Event
	// Next is the cursor of the following page, 0 when there is none.
	Next uint32
}

// Events returns up to limit events of the issue, newest first (or oldest
// first with asc), starting at cursor (0 = the first page; otherwise a
// Next from an earlier page).
func (db *DB) Events(iss *Issue, asc bool, cursor uint32, limit int) (EventPage, error) {
	if limit <= 0 {
		limit = 250
	}
	el := db.eventLog(iss.ProjectID)
	if el == nil {
		return EventPage{Events: []Event{}}, nil
	}
	el.mu.RLock()
	defer el.mu.RUnlock()
	if asc {
		return el.eventsAsc(iss, cursor, limit)
	}
	page := EventPage{Events: []Event{}}
	next := iss.LastRec
	if cursor != 0 {
		next = cursor
	}
	for next != 0 && next <= el.n {
		r, err := el.readRecord(next - 1)
		if err != nil {
			return page, err
		}
		if len(page.Events) == limit {
			page.Next = next
			break
		}
		if r.Flags&flagDeleted == 0 {
			page.Events = append(page.Events, eventFrom(iss.ProjectID, next-1, r))
		}
		next = r.Prev
	}
	return page, nil
}

// eventsAsc walks the issue's chain (newest to oldest) and returns the page
// in ascending order; cursor is the position (1-based, in ascending order)
// to start at.
func (el *eventLog) eventsAsc(iss *Issue, cursor uint32, limit int) (EventPage, error) {
	var chain []uint32
	for next := iss.LastRec; next != 0 && next <= el.n; {
		r, err := el.readRecord(next - 1)
		if err != nil {
			return EventPage{}, err
		}
		if r.Flags&flagDeleted == 0 {
			chain = append(chain, next-1)
		}
		next = r.Prev
	}
	// For ascending pages the cursor is the offset of the page + 1.
	page := EventPage{Events: []Event{}}
	offset := 0
	if cursor > 0 {
		offset = int(cursor) - 1
	}
	for i := len(chain) - 1 - offset; i >= 0; i-- {
		if len(page.Events) == limit {
			page.Next = uint32(offset+limit) + 1
			break
		}
		r, err := el.readRecord(chain[i])
		if err != nil {
			return page, err
		}
		page.Events = append(page.Events, eventFrom(iss.ProjectID, chain[i], r))
	}
	return page, nil
}

// Event returns the stored event with the given id (see
// digest/rawevent.ParseID) in any project, and its normalised JSON body.
func (db *DB) Event(eid [16]byte) (*Event, []byte, error) {
	db.mu.RLock()
	ids := make([]int, 0, len(db.logs))
	for pid := range db.logs {
		ids = append(ids, pid)
	}
	db.mu.RUnlock()
	for _, pid := range ids {
		ev, body, err := db.ProjectEvent(pid, eid)
		if err == ErrNotFound {
			continue
		}
		return ev, body, err
	}
	return nil, nil, ErrNotFound
}

// ProjectEvent returns the stored event of project pid with the given id,
// and its normalised JSON body.
func (db *DB) ProjectEvent(pid int, id [16]byte) (*Event, []byte, error) {
	el := db.eventLog(pid)
	if el == nil {
		return nil, nil, ErrNotFound
	}
	el.mu.RLock()
	n, ok := el.find(id)
	if !ok {
		el.mu.RUnlock()
		return nil, nil, ErrNotFound
	}
	r, err := el.readRecord(n)
	if err != nil {
		el.mu.RUnlock()
		return nil, nil, err
	}
	raw, err := el.readBody(r)
	el.mu.RUnlock()
	if err != nil {
		return nil, nil, err
	}
	body, err := decompressBlob(raw)
	if err != nil {
		return nil, nil, err
	}
	ev := eventFrom(pid, n, r)
	return &ev, body, nil
}

// EventBody returns the normalised JSON of an event returned by Events.
func (db *DB) EventBody(ev *Event) ([]byte, error) {
	el := db.eventLog(ev.ProjectID)
	if el == nil {
		return nil, ErrNotFound
	}
	el.mu.RLock()
	// A cleaning may have moved the body since Events read the record
	// (clean.go): the record, still the event's, names the copy.
	r := ev.rec
	if now, err := el.readRecord(ev.pos); err == nil && now.EventID == r.EventID && now.Flags&flagDeleted == 0 {
		r = now
	}
	raw, err := el.readBody(r)
	el.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	return decompressBlob(raw)
}
