package main

import (
	"os"
	"testing"
)

func TestStatTicks(t *testing.T) {
	// A command name with a space and a parenthesis of its own; utime 1234,
	// stime 56.
	line := "4242 (tiny sink) x) S 1 4242 4242 0 -1 4194560 2195 0 0 0 1234 56 0 0 20 0 5 0 123456 1250000000 6400 18446744073709551615\n"
	if user, sys, err := statTicks(line); err != nil || user != 1234 || sys != 56 {
		t.Errorf("statTicks = %d, %d, %v; want 1234, 56", user, sys, err)
	}
	for _, bad := range []string{"", "4242 (x) S 1 2 3", "4242 (x) S 1 4242 4242 0 -1 4194560 2195 0 0 0 a 56 0"} {
		if _, _, err := statTicks(bad); err == nil {
			t.Errorf("statTicks(%q) read a time", bad)
		}
	}
	if _, _, err := cpuTicks(os.Getpid()); err != nil {
		t.Errorf("cpuTicks(self): %v", err)
	}
}
