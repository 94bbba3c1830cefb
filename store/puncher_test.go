package store

import (
	"testing"
)

// TestPuncherBurstThenTrickle queues holes while the puncher's goroutine
// punches others, in the order that once made the queue and the batch
// being punched share an array: a small batch (four holes), then a burst's
// (more than 1024 holes, whose array is not kept), then two more small
// ones. Every hole queued must be punched exactly once, with its event
// log. (Before the fix, the last two shared the first batch's array, and
// the puncher crashed on a hole it had cleared.)
func TestPuncherBurstThenTrickle(t *testing.T) {
	el := &eventLog{dir: t.TempDir()} // no segment files: each punch is skipped, the hole still counted
	mk := func(n int, seg uint32) []hole {
		hs := make([]hole, n)
		for i := range hs {
			hs[i] = hole{el: el, seg: seg, off: int64(i) * punchBlock, n: punchBlock, release: punchBlock}
		}
		return hs
	}
	var p puncher
	punched := map[[2]int64]int{}
	count := 0
	// Runs in the puncher's goroutine, so what it queues arrives while a
	// batch is being punched, always at the same points.
	testHookPunched = func(h hole) {
		if h.el == nil {
			t.Errorf("punched a hole with no event log (a cleared entry): %+v", h)
			return
		}
		punched[[2]int64{int64(h.seg), h.off}]++
		count++
		switch count {
		case 1: // during the first batch: a burst
			if !p.add(mk(1100, 2)) {
				t.Error("burst refused")
			}
		case 5: // during the burst's batch
			if !p.add(mk(1, 3)) {
				t.Error("hole refused")
			}
		case 1105: // during the next batch
			if !p.add(mk(2, 4)) {
				t.Error("holes refused")
			}
		}
	}
	t.Cleanup(func() { testHookPunched = nil })

	if !p.add(mk(4, 1)) {
		t.Fatal("first holes refused")
	}
	p.wait()
	if want := 4 + 1100 + 1 + 2; count != want {
		t.Errorf("punched %d holes, want %d", count, want)
	}
	if len(punched) != count {
		t.Errorf("%d distinct holes punched of %d punches", len(punched), count)
	}
	for _, k := range [][2]int64{{1, 0}, {1, 3 * punchBlock}, {2, 0}, {2, 1099 * punchBlock}, {3, 0}, {4, 0}, {4, punchBlock}} {
		if punched[k] != 1 {
			t.Errorf("hole seg %d off %d punched %d times, want once", k[0], k[1], punched[k])
		}
	}
	if u := el.unpunched.Load(); u != 0 {
		t.Errorf("%d bytes still counted as queued", u)
	}
}
