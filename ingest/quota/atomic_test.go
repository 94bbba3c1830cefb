package quota

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Sixteen senders asking at once, one event short of the limit, while none
// of their events has been counted yet: exactly one is admitted.
func TestAdmitTakesItsPlace(t *testing.T) {
	c := &clock{time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	q := New(Config{Project: Limits{FiveMin: 1000}, Install: Limits{FiveMin: 5000}, Now: c.now})
	for range 999 {
		q.Count(1)
	}
	var admitted atomic.Int64
	var asked, wg sync.WaitGroup
	asked.Add(16)
	release := make(chan struct{})
	for range 16 {
		wg.Go(func() {
			ok, _, _ := q.Admit(1)
			asked.Done()
			<-release // every sender has asked before any event is counted
			if ok {
				admitted.Add(1)
				q.Count(1)
			}
		})
	}
	asked.Wait()
	close(release)
	wg.Wait()
	if got := admitted.Load(); got != 1 {
		t.Errorf("%d of 16 concurrent senders admitted at 999 of 1000, want 1", got)
	}
	if ok, _, reason := q.Admit(1); ok || reason != "project_quota" {
		t.Errorf("after the limit: ok=%v reason=%q", ok, reason)
	}
}

// A place that was held but not used is given back; Count and Release of
// events that were never admitted take nothing from others.
func TestReleaseGivesThePlaceBack(t *testing.T) {
	c := &clock{time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	q := New(Config{Project: Limits{FiveMin: 2}, Install: Limits{FiveMin: 3}, Now: c.now})
	if ok, _, _ := q.Admit(1); !ok {
		t.Fatal("first event refused")
	}
	if ok, _, _ := q.Admit(1); !ok {
		t.Fatal("second event refused")
	}
	if ok, _, _ := q.Admit(1); ok {
		t.Fatal("third event admitted over a limit of 2 with two places held")
	}
	q.Release(1)
	if ok, _, _ := q.Admit(1); !ok {
		t.Fatal("a released place was not given back")
	}
	q.Release(2) // never admitted: changes nothing
	if ok, _, reason := q.Admit(2); !ok {
		t.Fatalf("project 2: %s", reason)
	}
	if ok, _, reason := q.Admit(3); ok || reason != "org_quota" {
		t.Errorf("installation with three places held: ok=%v reason=%q, want org_quota", ok, reason)
	}
}
