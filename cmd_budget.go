package main

import "time"

// cmdIdle implements `tinysink idle`, a process that only sleeps: the
// "bare binary" row of the RAM profile (budget/cmd/budget, a command of
// its own so that the profiler is not in the binary it measures).
func cmdIdle() {
	for {
		time.Sleep(time.Hour)
	}
}
