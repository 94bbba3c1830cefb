package quota

import (
	"errors"
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
			err := q.Admit(1)
			asked.Done()
			<-release // every sender has asked before any event is counted
			if err == nil {
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
	if err := q.Admit(1); !errors.Is(err, ErrProjectQuota) {
		t.Errorf("after the limit: %v, want project_quota", err)
	}
}

// A place that was held but not used is given back; Count and Release of
// events that were never admitted take nothing from others.
func TestReleaseGivesThePlaceBack(t *testing.T) {
	c := &clock{time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	q := New(Config{Project: Limits{FiveMin: 2}, Install: Limits{FiveMin: 3}, Now: c.now})
	if err := q.Admit(1); err != nil {
		t.Fatal("first event refused")
	}
	if err := q.Admit(1); err != nil {
		t.Fatal("second event refused")
	}
	if err := q.Admit(1); err == nil {
		t.Fatal("third event admitted over a limit of 2 with two places held")
	}
	q.Release(1)
	if err := q.Admit(1); err != nil {
		t.Fatal("a released place was not given back")
	}
	q.Release(2) // never admitted: changes nothing
	if err := q.Admit(2); err != nil {
		t.Fatalf("project 2: %v", err)
	}
	if err := q.Admit(3); !errors.Is(err, ErrOrgQuota) {
		t.Errorf("installation with three places held: %v, want org_quota", err)
	}
}
