package store

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/tidwall/buntdb"
)

// Issue indexes. Issues live in the tree (kvtx.go) as JSON under
// issue:<iid>; lists read pages of small index keys in the order asked for
// and decode only the issues they show, so a page costs the same at 100 as
// at 100,000 issues. putIssue is the one place that writes an issue, and it
// keeps these keys in step:
//
//	pissue:<pid 6>:<digest order 10>               iid (written at creation)
//	ils:<pid 6>:<state>:<last seen ms 20>:<iid 10>  ""   by last seen
//	iec:<pid 6>:<state>:<event count 20>:<iid 10>  ""   by digested event count
//	inext:<pid 6>:<iid 10>                          ""   resolved "in the next release"
//	iasg:<pid 6>:<user>\x00<iid 10>                 ""   assigned to the user
//	icnt:<pid 6>:<state>                            number of issues in the state
//	igrp:<iid 10>:<sha256 hex>                      ""   the issue's grouping keys
//
// An issue is indexed under several states: StateAll, StateUnresolved when
// it is not resolved, and exactly one of StateOpen, StateMuted and
// StateResolved.

// IssueState selects issues by state for a list (the issue list's tabs).
type IssueState string

// The states an issue list can select.
const (
	StateAll        IssueState = "a"
	StateOpen       IssueState = "o" // neither resolved nor muted
	StateUnresolved IssueState = "u" // open or muted
	StateMuted      IssueState = "m"
	StateResolved   IssueState = "r"
)

func (i *Issue) states() []IssueState {
	switch {
	case i.IsResolved:
		return []IssueState{StateAll, StateResolved}
	case i.IsMuted:
		return []IssueState{StateAll, StateUnresolved, StateMuted}
	}
	return []IssueState{StateAll, StateUnresolved, StateOpen}
}

func pad20(n int64) string {
	if n < 0 {
		n = 0
	}
	s := strconv.FormatInt(n, 10)
	const zeros = "00000000000000000000"
	return zeros[:20-len(s)] + s
}

// indexKeys returns the list-index keys of iss (not pissue, icnt, igrp).
func (i *Issue) indexKeys() []string {
	id := pad10(i.ID)
	var out []string
	for _, s := range i.states() {
		out = append(out,
			lastSeenPrefix(i.ProjectID, s)+pad20(i.LastSeen.UnixMilli())+":"+id,
			eventCountPrefix(i.ProjectID, s)+pad20(i.DigestedEventCount)+":"+id)
	}
	if i.IsResolvedByNextRelease {
		out = append(out, nextReleasePrefix(i.ProjectID)+id)
	}
	if i.AssignedTo != "" {
		out = append(out, assignedPrefix(i.ProjectID, i.AssignedTo)+id)
	}
	return out
}

// putIssue writes iss and brings its index keys and state counts in step
// with what was stored before.
func putIssue(tx *kvTx, iss *Issue) error {
	var old Issue
	if err := getJSON(tx, issueKey(iss.ID), &old); errors.Is(err, ErrNotFound) {
		return writeIssue(tx, iss, issueIndex{})
	} else if err != nil {
		return err
	}
	return writeIssue(tx, iss, issueIndex{keys: old.indexKeys(), states: old.states()})
}

// issueIndex is where a stored issue is indexed: its index keys and the
// states it is counted in. The zero value is an issue not stored.
type issueIndex struct {
	keys   []string
	states []IssueState
}

// writeIssue is putIssue for a caller that knows where the stored issue
// is indexed (old).
func writeIssue(tx *kvTx, iss *Issue, old issueIndex) error {
	b, err := json.Marshal(iss)
	if err != nil {
		return err
	}
	if _, _, err := tx.Set(issueKey(iss.ID), string(b), nil); err != nil {
		return err
	}
	if _, _, err := tx.Set(issueFactsKey(iss.ID), iss.factsValue(), nil); err != nil {
		return err
	}
	return reindex(tx, iss.ProjectID, old.keys, iss.indexKeys(), old.states, iss.states())
}

// dropIssue deletes iss with its index keys (not its groupings, tags,
// counters or history: see deleteIssueLocked).
func dropIssue(tx *kvTx, iss *Issue) error {
	if _, err := tx.Delete(issueKey(iss.ID)); err != nil && !errors.Is(err, buntdb.ErrNotFound) {
		return err
	}
	if _, err := tx.Delete(projectIssueKey(iss.ProjectID, iss.DigestOrder)); err != nil && !errors.Is(err, buntdb.ErrNotFound) {
		return err
	}
	if _, err := tx.Delete(issueFactsKey(iss.ID)); err != nil && !errors.Is(err, buntdb.ErrNotFound) {
		return err
	}
	return reindex(tx, iss.ProjectID, iss.indexKeys(), nil, iss.states(), nil)
}

// reindex replaces the index keys from with to and moves the state counts.
func reindex(tx *kvTx, pid int, from, to []string, fromStates, toStates []IssueState) error {
	for _, k := range from {
		if !contains(to, k) {
			if _, err := tx.Delete(k); err != nil && !errors.Is(err, buntdb.ErrNotFound) {
				return err
			}
		}
	}
	for _, k := range to {
		if !contains(from, k) {
			if _, _, err := tx.Set(k, "", nil); err != nil {
				return err
			}
		}
	}
	for _, s := range fromStates {
		if !contains(toStates, s) {
			if err := addIssueCount(tx, pid, s, -1); err != nil {
				return err
			}
		}
	}
	for _, s := range toStates {
		if !contains(fromStates, s) {
			if err := addIssueCount(tx, pid, s, 1); err != nil {
				return err
			}
		}
	}
	return nil
}

func contains[T comparable](xs []T, x T) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func addIssueCount(tx *kvTx, pid int, s IssueState, d int64) error {
	k := issueCountKey(pid, s)
	v, err := tx.Get(k)
	if err != nil && !errors.Is(err, buntdb.ErrNotFound) {
		return err
	}
	n, _ := strconv.ParseInt(v, 10, 64)
	n = max(0, n+d)
	_, _, err = tx.Set(k, strconv.FormatInt(n, 10), nil)
	return err
}

// IssueCount returns how many of the project's issues are in state s.
func (db *DB) IssueCount(pid int, s IssueState) (int64, error) {
	var n int64
	err := db.view(func(tx *kvTx) error {
		v, err := tx.Get(issueCountKey(pid, s))
		if errors.Is(err, buntdb.ErrNotFound) {
			return nil
		}
		n, _ = strconv.ParseInt(v, 10, 64)
		return err
	})
	return n, err
}

// issueIDOfIndexKey returns the issue id at the end of an ils/iec/inext key.
func issueIDOfIndexKey(k string) uint32 {
	return parseID(k[strings.LastIndexByte(k, ':')+1:])
}
