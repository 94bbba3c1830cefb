package main

import (
	"reflect"
	"testing"

	"github.com/tinysink/tinysink/ingest/quota"
)

// The item quotas: empty takes the event quota's numbers (ten times for
// sessions), 0 turns a category's limit off, and a bad value is an error.
func TestItemQuotaSettings(t *testing.T) {
	events := quota.Limits{FiveMin: 1000, Hour: 5000, Month: 1000000}
	var c config
	got, err := c.itemQuotas(events)
	want := map[string]quota.Limits{
		quota.CatTransaction: events,
		quota.CatSession:     {FiveMin: 10000, Hour: 50000, Month: 10000000},
		quota.CatMonitor:     events,
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("defaults: %v, %v; want %v", got, err, want)
	}
	c.ItemQuota.Transaction, c.ItemQuota.Session, c.ItemQuota.CheckIn = "10/0/300", "0", " 1 / 2 / 3 "
	got, err = c.itemQuotas(events)
	want = map[string]quota.Limits{quota.CatTransaction: {FiveMin: 10, Month: 300}, quota.CatMonitor: {FiveMin: 1, Hour: 2, Month: 3}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("set: %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"10", "1/2", "a/b/c", "-1/2/3", "1/2/3/4"} {
		c.ItemQuota.Transaction = bad
		if _, err := c.itemQuotas(events); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
