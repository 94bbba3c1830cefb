package main

import (
	"os"
	"testing"
)

func TestStatTicks(t *testing.T) {
	// A command name with a space and a parenthesis of its own; utime 1234,
	// stime 56.
	line := "4242 (tiny sink) x) S 1 4242 4242 0 -1 4194560 2195 0 0 0 1234 56 0 0 20 0 5 0 123456 1250000000 6400 18446744073709551615\n"
	if n, err := statTicks(line); err != nil || n != 1290 {
		t.Errorf("statTicks = %d, %v; want 1290", n, err)
	}
	for _, bad := range []string{"", "4242 (x) S 1 2 3", "4242 (x) S 1 4242 4242 0 -1 4194560 2195 0 0 0 a 56 0"} {
		if _, err := statTicks(bad); err == nil {
			t.Errorf("statTicks(%q) read a time", bad)
		}
	}
	if _, err := cpuTicks(os.Getpid()); err != nil {
		t.Errorf("cpuTicks(self): %v", err)
	}
}
