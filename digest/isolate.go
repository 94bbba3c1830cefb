package digest

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"syscall"

	"github.com/tinysink/tinysink/ingest/spool"
	"github.com/tinysink/tinysink/store"
)

// Failure isolation. One event must not stop the digest: the spool is
// read in order, and a batch that failed forever (or a panic, which
// restarts the process at the same record) would hold every project's
// events behind it.
//
//   - Each event is prepared (normalised, scrubbed, compressed) and
//     digested under recover: a panic or an error becomes an eventFailure
//     that names the event.
//   - A batch commits in spool order. An event that failed is set aside:
//     its spool bytes go to the store's quarantine (store/quarantine.go),
//     and the spool position moves past it in a commit of its own. The
//     events before and after it commit as usual.
//   - A commit that fails without naming an event is bisected: each half
//     is committed on its own, down to single events, so the good events
//     commit and the bad one is found.
//   - A failure that is not the event's (disk full, an I/O error, a store
//     that does not commit even without the event) sets nothing aside:
//     the batch stops there, the worker retries it with backoff, and
//     readiness reports the stalled digest.

// eventFailure is a failure that lies with one event: preparing or
// digesting it returned an error or panicked.
type eventFailure struct {
	stage string // normalize, scrub, compress, digest or commit
	err   error
	stack string // set when a panic caused it
}

func (f *eventFailure) Error() string { return f.stage + ": " + f.err.Error() }
func (f *eventFailure) Unwrap() error { return f.err }

// itemError is returned from inside a batch's transaction when digestOne
// failed for items[index].
type itemError struct {
	index int
	fail  *eventFailure
}

func (e *itemError) Error() string { return e.fail.Error() }

// maxStack bounds the panic stack kept with a failure.
const maxStack = 8 << 10

// recoverEvent, deferred, turns a panic into an eventFailure in *fail that
// names the stage *stage was at.
func recoverEvent(fail **eventFailure, stage *string) {
	v := recover()
	if v == nil {
		return
	}
	st := debug.Stack()
	if len(st) > maxStack {
		st = st[:maxStack]
	}
	*fail = &eventFailure{stage: *stage, err: fmt.Errorf("panic: %v", v), stack: string(st)}
}

// Test hooks: nil except in tests, which use them to make one event fail.
var (
	testHookNormalize func(payload []byte)                     // before Normalize
	testHookDigest    func(it *item)                           // before digestOne
	testHookCommit    func(items []*item, treePages int) error // after a batch's digestOne calls
	testHookSetAside  func(it *item, fail *eventFailure)       // before quarantining
)

// outcome is what committing a batch did, for the worker's bookkeeping.
type outcome struct {
	moved   bool         // the spool position advanced
	touched map[int]bool // projects that stored events
}

// commitAll commits items in spool order, setting aside the ones that
// fail. It returns the first failure that is not an event's; w.pos is then
// just after the last event committed or set aside.
func (w *Worker) commitAll(items []*item, res *outcome) error {
	start := 0
	for i, it := range items {
		if it.fail == nil {
			continue
		}
		if err := w.settle(items[start:i], res); err != nil {
			return err
		}
		if err := w.setAside(it, it.fail, res); err != nil {
			return err
		}
		start = i + 1
	}
	return w.settle(items[start:], res)
}

// settle commits items, or, when that fails, finds the event at fault:
// named by digestOne, or by bisecting.
func (w *Worker) settle(items []*item, res *outcome) error {
	var err error
	for len(items) > 0 {
		var n int
		if n, err = w.commit(items, res); err != nil {
			break
		}
		items = items[n:] // the rest of a batch that reached maxTreePages
	}
	if err == nil {
		return nil
	}
	var ie *itemError
	if errors.As(err, &ie) {
		i := ie.index
		if err := w.settle(items[:i], res); err != nil {
			return err
		}
		if err := w.judge(items[i], ie.fail, res); err != nil {
			return err
		}
		return w.settle(items[i+1:], res)
	}
	if systemic(err) {
		return err
	}
	if len(items) == 1 {
		return w.judge(items[0], &eventFailure{stage: "commit", err: err}, res)
	}
	h := len(items) / 2
	if err := w.settle(items[:h], res); err != nil {
		return err
	}
	return w.settle(items[h:], res)
}

// judge decides whether the failure of a single event is the event's
// fault, and sets it aside if so. A panic is the event's (code that
// panics on some input). An I/O error is not. Otherwise the store must
// commit without the event, and the event must fail again on its own.
func (w *Worker) judge(it *item, fail *eventFailure, res *outcome) error {
	if fail.stack == "" {
		if systemic(fail.err) {
			return fail.err
		}
		if err := w.db.Digest(func(tx *store.Tx) error { return tx.SetSpoolPos(w.pos.String()) }); err != nil {
			return fmt.Errorf("%w (the store fails without the event too: %v)", fail, err)
		}
		_, err := w.commit([]*item{it}, res)
		if err == nil {
			return nil
		}
		if systemic(err) {
			return err
		}
	}
	return w.setAside(it, fail, res)
}

// systemic reports whether err comes from the file system or the kernel
// (disk full, read-only, I/O error): not an event's fault.
func systemic(err error) bool {
	var (
		pe *fs.PathError
		le *os.LinkError
		se *os.SyscallError
		en syscall.Errno
	)
	return errors.As(err, &pe) || errors.As(err, &le) || errors.As(err, &se) || errors.As(err, &en)
}

// maxTreePages bounds the tree pages a store batch's events change before
// it commits, and so the page images it holds (4 KiB each): 4 MiB. Most
// are the search postings of new issues' words, one key per word and
// issue, spread over the whole term index, so without a bound a batch of
// new issues holds more the more issues are stored: 200 new issues of 40
// random words each changed 872 pages (3.4 MiB) with 1,000 issues stored
// and 4,453 (17.4 MiB) with 8,000, on the way to one page per word. At
// full speed with 1 % new issues a batch changes ~85 (at most 265 in a
// 240 s run), and a burst of loadgen's new issues, whose words most
// issues share, 700–1,020. Past the bound, commit stops and commits the
// events so far, and settle commits the rest of the prepared batch in the
// next store batch: each event is still parsed once. A lower bound costs
// a burst its speed: each split writes again the pages its postings share
// with the next part (with 256, a burst of loadgen's new issues was
// digested at 0.45 of the rate, in one run).
var maxTreePages = 1024 // a variable for the tests

// commit digests items in one store batch that moves the spool position
// to just after the last event it committed, and returns how many of
// items it committed: all of them, or, once the batch has changed
// maxTreePages pages of the tree, the ones before (at least one).
func (w *Worker) commit(items []*item, res *outcome) (int, error) {
	var stored, dups int64
	touched := map[int]bool{}
	n := len(items)
	err := w.db.Digest(func(tx *store.Tx) error {
		stored, dups = 0, 0
		n = len(items)
		clear(touched)
		y := newYielder()
		for i, it := range items {
			if i > 0 && tx.TreePages() >= maxTreePages {
				n = i // the rest commit next (settle)
				break
			}
			y.maybe()
			it.alerted = false
			ok, fail := digestItem(tx, it)
			if fail != nil {
				return &itemError{index: i, fail: fail}
			}
			if it.typ != "" {
				continue // not an event (items.go)
			}
			if ok {
				stored++
				touched[it.project] = true
			} else {
				dups++
			}
		}
		if testHookCommit != nil {
			if err := testHookCommit(items[:n], tx.TreePages()); err != nil {
				return err
			}
		}
		return tx.SetSpoolPos(items[n-1].next.String())
	})
	if err != nil {
		for _, it := range items {
			it.alerted = false
		}
		return 0, err
	}
	w.pos = items[n-1].next
	w.digested.Add(stored)
	w.duplicates.Add(dups)
	res.moved = true
	for pid := range touched {
		res.touched[pid] = true
	}
	return n, nil
}

// digestItem is digestOne with a panic turned into an eventFailure.
func digestItem(tx *store.Tx, it *item) (ok bool, fail *eventFailure) {
	stage := "digest"
	defer recoverEvent(&fail, &stage)
	if testHookDigest != nil {
		testHookDigest(it)
	}
	if it.typ != "" {
		if err := digestTyped(tx, it); err != nil {
			return false, &eventFailure{stage: stage, err: err}
		}
		return false, nil
	}
	ok, err := digestOne(tx, it)
	if err != nil {
		return false, &eventFailure{stage: stage, err: err}
	}
	return ok, nil
}

// setAside quarantines the event of it, with its spool bytes, and commits
// the spool position past it. Until both are done nothing moves: a
// quarantine that cannot be written is a failure of the data directory,
// retried like any other.
func (w *Worker) setAside(it *item, fail *eventFailure, res *outcome) error {
	if testHookSetAside != nil {
		testHookSetAside(it, fail)
	}
	raw, err := w.record(it)
	if err != nil {
		return fmt.Errorf("set event aside: %w", err)
	}
	e := &store.QuarantineEntry{Project: it.project, EventID: it.eventID, IngestedAt: it.ingestedAt, Error: fail.Error(), Stack: fail.stack}
	if err := w.db.QuarantineAdd(e, raw); err != nil {
		return fmt.Errorf("set event aside: %w", err)
	}
	if err := w.db.Digest(func(tx *store.Tx) error { return tx.SetSpoolPos(it.next.String()) }); err != nil {
		return fmt.Errorf("set event aside: %w", err)
	}
	w.pos = it.next
	w.quarantined.Add(1)
	res.moved = true
	w.log.Error("event set aside", "project_id", it.project, "event_id", it.eventID, "quarantine_id", e.ID, "err", fail)
	return nil
}

// record reads the spool payload of it again.
func (w *Worker) record(it *item) ([]byte, error) {
	var raw []byte
	found := false
	_, err := w.spool.ReadFrom(it.at, 1, 0, func(r *spool.Record, next spool.Pos) error {
		if next != it.next || r.EventID != it.eventID {
			return fmt.Errorf("spool record at %s moved", it.at)
		}
		raw, found = bytes.Clone(r.Payload), true
		return nil
	})
	if err == nil && !found {
		err = fmt.Errorf("spool record at %s is gone", it.at)
	}
	return raw, err
}
