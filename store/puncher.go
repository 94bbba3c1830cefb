package store

import (
	"os"
	"sync"
)

// The holes of a retention round are punched in the background. On ext4 a
// punch costs ~0.1–0.3 ms (a journal handle, the extent tree, the page
// cache's range), and a round of 500 evictions punched ~300 holes while
// holding the digest: at full speed a third of the digest's time went to
// retention rounds, most of it waiting in fallocate. The digest now queues
// a round's holes and goes on; one goroutine punches them.
//
// That is safe because a queued hole never covers a byte anything will
// read or write again: it lies between bodies that were live when it was
// queued, in a segment that bodies are only appended to past its end, and
// segment numbers are never reused (new segments, compaction's included,
// are numbered after the last). A segment deleted meanwhile (compaction,
// an emptied segment) is skipped. Holes still queued at a crash are never
// punched: that space is wasted until the project's next compaction, which
// compactDue starts once the waste reaches half the live bodies' size.
//
// A full queue (a disk slower than the rounds) makes the digest punch the
// round's holes itself, as before, so the queue's memory is bounded.

// maxQueuedHoles bounds the queue (40 bytes a hole).
const maxQueuedHoles = 16384

// hole is a range of a segment to punch.
type hole struct {
	el      *eventLog
	seg     uint32
	off, n  int64
	release int64 // whole blocks it frees, counted in el.unpunched
}

// puncher punches queued holes, from a goroutine that runs while the
// queue is not empty.
type puncher struct {
	mu    sync.Mutex
	queue []hole
	done  chan struct{} // while the goroutine runs; closed when it stops
	limit int           // the queue's bound; 0: maxQueuedHoles (tests set it)
}

// add queues holes and reports whether it did; false (the queue is full)
// leaves them to the caller.
func (p *puncher) add(holes []hole) bool {
	if len(holes) == 0 {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	limit := p.limit
	if limit == 0 {
		limit = maxQueuedHoles
	}
	if len(p.queue)+len(holes) > limit {
		return false
	}
	for _, h := range holes {
		h.el.unpunched.Add(h.release)
	}
	p.queue = append(p.queue, holes...)
	if p.done == nil {
		p.done = make(chan struct{})
		go p.run(p.done)
	}
	return true
}

// run punches the queue until it is empty, then closes done. It swaps
// two arrays: the queue add appends to and the batch being punched. spare
// is the batch punched last, given back to the queue only once: after a
// burst's batch (not kept), a stale spare would make the queue share its
// array with the next batch, and add would write over holes that run then
// cleared (a crash on a nil event log, holes never punched).
func (p *puncher) run(done chan struct{}) {
	var spare []hole
	for {
		p.mu.Lock()
		if len(p.queue) == 0 {
			p.done = nil
			p.mu.Unlock()
			close(done)
			return
		}
		batch := p.queue
		p.queue, spare = spare[:0], nil
		p.mu.Unlock()
		punchHoles(batch, func(h hole) {
			h.el.unpunched.Add(-h.release)
			if testHookPunched != nil {
				testHookPunched(h)
			}
		})
		clear(batch) // drop the event logs they name
		if cap(batch) <= 1024 {
			spare = batch // a burst's queue is not kept
		}
	}
}

// testHookPunched, when set (tests only), runs in the puncher's goroutine
// after each hole it punched.
var testHookPunched func(hole)

// wait returns once every hole queued so far has been punched.
func (p *puncher) wait() {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done != nil {
		<-done
	}
}

// wholeBlocks returns the whole blocks in [from, to), as the range
// [start, end): end <= start when there are none.
func wholeBlocks(from, to int64) (start, end int64) {
	return (from + punchBlock - 1) &^ (punchBlock - 1), to &^ (punchBlock - 1)
}

// punchHoles punches holes, opening each segment once per run of holes in
// it, and calls punched (when set) after each. A segment that cannot be
// opened (deleted since: nothing to give back) is skipped.
func punchHoles(holes []hole, punched func(hole)) {
	var f *os.File
	for i, h := range holes {
		if i == 0 || h.el != holes[i-1].el || h.seg != holes[i-1].seg {
			if f != nil {
				f.Close()
			}
			var err error
			if f, err = os.OpenFile(h.el.segPath(h.seg), os.O_RDWR, 0); err != nil {
				f = nil
			}
		}
		if f != nil {
			punchHole(f, h.off, h.n)
		}
		if punched != nil {
			punched(h)
		}
	}
	if f != nil {
		f.Close()
	}
}
