package quota

import (
	"errors"
	"testing"
	"time"

	"github.com/tinysink/tinysink/budget"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestFiveMinuteLimit(t *testing.T) {
	c := &clock{time.Date(2026, 6, 1, 12, 0, 30, 0, time.UTC)}
	q := New(Config{Project: Limits{FiveMin: 3}, Now: c.now})
	for i := range 3 {
		if err := q.Admit(1); err != nil {
			t.Fatalf("event %d refused", i)
		}
		q.Count(1)
		c.t = c.t.Add(time.Minute)
	}
	err := q.Admit(1)
	ae, ok := errors.AsType[*budget.AdmitError](err)
	if !ok || !errors.Is(err, ErrProjectQuota) || ae.Error() != "event refused (project_quota); retry after 1m30s" {
		t.Fatalf("4th event: %v, want a project_quota refusal", err)
	}
	retry := ae.RetryAfter
	// The first event (12:00) leaves the 5-minute window at 12:05; now is 12:03:30.
	if want := 90 * time.Second; retry != want {
		t.Errorf("retry after %v, want %v", retry, want)
	}
	if err := q.Admit(2); err != nil {
		t.Error("another project was refused")
	}
	c.t = c.t.Add(retry)
	if err := q.Admit(1); err != nil {
		t.Error("still refused after Retry-After")
	}
}

func TestInstallLimitAndOverride(t *testing.T) {
	c := &clock{time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	q := New(Config{
		Project: Limits{Hour: 2}, Install: Limits{Hour: 5}, Now: c.now,
		Override: func(p int) (Limits, bool) { return Limits{}, p == 9 }, // project 9: no limit
	})
	for range 4 {
		q.Count(9)
	}
	if err := q.Admit(9); err != nil {
		t.Error("project with no limit refused below the installation limit")
	}
	q.Count(1)
	q.Count(1)
	if err := q.Admit(1); !errors.Is(err, ErrOrgQuota) {
		t.Errorf("installation over its hour limit: %v, want org_quota", err)
	}
}

func TestMonthAndSeed(t *testing.T) {
	c := &clock{time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)}
	q := New(Config{
		Project: Limits{Month: 100, Hour: 50}, Now: c.now,
		Seed: func(p int, install bool, now time.Time) (int64, []int64) {
			if install {
				return 0, nil
			}
			days := make([]int64, 32)
			days[31] = 40 // today
			days[10] = 60 // 21 days ago
			return 49, days
		},
	})
	ae, ok := errors.AsType[*budget.AdmitError](q.Admit(1))
	if !ok {
		t.Fatal("seeded month total of 100 admitted")
	}
	retry := ae.RetryAfter
	// 21 days ago (May 25) leaves the window a month after it, on June 26.
	if got := c.t.Add(retry); got.Before(time.Date(2026, 6, 25, 0, 0, 0, 0, time.UTC)) || got.After(time.Date(2026, 6, 27, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("month quota lifts at %v", got)
	}
	q2 := New(Config{Project: Limits{Hour: 50}, Now: c.now, Seed: func(int, bool, time.Time) (int64, []int64) { return 49, nil }})
	if err := q2.Admit(1); err != nil {
		t.Fatal("49 of 50 refused")
	}
	q2.Count(1)
	if ae, ok := errors.AsType[*budget.AdmitError](q2.Admit(1)); !ok || ae.RetryAfter != 48*time.Hour/48 {
		t.Errorf("seeded hour: %v (want a refusal until 13:00)", ae)
	}
}

func TestAdmitters(t *testing.T) {
	c := &clock{time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	q := New(Config{Project: Limits{FiveMin: 1}, Now: c.now})
	q.Count(1)
	as := Admitters{q}
	if err := as.Admit(1); err == nil {
		t.Error("combined admit passed a refusal")
	}
	if err := (Admitters{}).Admit(1); err != nil {
		t.Error("empty Admitters refused")
	}
}

// Item categories are counted apart: from events, from each other and per
// project; a category without limits is not counted at all.
func TestItemCategories(t *testing.T) {
	c := &clock{time.Date(2026, 6, 1, 12, 0, 30, 0, time.UTC)}
	q := New(Config{Project: Limits{FiveMin: 1}, Now: c.now, Items: map[string]Limits{
		CatTransaction: {FiveMin: 2}, CatSession: {Hour: 1},
	}})
	if err := q.Admit(1); err != nil {
		t.Fatal(err)
	}
	q.Count(1) // the project's one event
	for i := range 2 {
		if err := q.TakeItem(1, CatTransaction); err != nil {
			t.Fatalf("transaction %d refused: %v", i, err)
		}
	}
	err := q.TakeItem(1, CatTransaction)
	ae, ok := errors.AsType[*budget.AdmitError](err)
	if !ok || !errors.Is(err, ErrProjectQuota) || ae.RetryAfter != 270*time.Second {
		t.Fatalf("3rd transaction: %v, want a project_quota refusal for 4m30s", err)
	}
	if err := q.TakeItem(2, CatTransaction); err != nil {
		t.Errorf("another project's transaction refused: %v", err)
	}
	if err := q.TakeItem(1, CatSession); err != nil {
		t.Errorf("the first session refused: %v", err)
	}
	if err := q.TakeItem(1, CatSession); err == nil {
		t.Error("a second session in the hour taken")
	}
	for range 100 {
		if err := q.TakeItem(1, CatMonitor); err != nil {
			t.Fatalf("a check-in refused without a limit: %v", err)
		}
	}
	if err := q.Admit(1); err == nil {
		t.Error("the event quota forgot its event")
	}
	c.t = c.t.Add(5 * time.Minute)
	if err := q.TakeItem(1, CatTransaction); err != nil {
		t.Errorf("a transaction refused after the window: %v", err)
	}
}
