package store

import (
	"slices"
	"testing"
	"time"
)

func TestHourlyCounts(t *testing.T) {
	db := openTest(t, t.TempDir())
	base := time.Date(2026, 3, 1, 22, 30, 0, 0, time.UTC)
	err := db.Digest(func(tx *Tx) error {
		for _, at := range []time.Time{base, base, base.Add(time.Hour), base.Add(3 * time.Hour)} {
			if err := tx.CountHour("i7", at, 1); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.Hourly("i7", base.Add(-time.Hour), base.Add(4*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// 21:00, 22:00, 23:00, 00:00 (next day), 01:00
	if want := []int64{0, 2, 1, 0, 1}; !slices.Equal(got, want) {
		t.Errorf("Hourly = %v, want %v", got, want)
	}
	days, _ := db.Daily("i7", base, base.Add(48*time.Hour))
	if want := []int64{3, 1}; !slices.Equal(days, want) {
		t.Errorf("Daily = %v, want %v", days, want)
	}
}
