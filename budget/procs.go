package budget

import (
	"os"
	"runtime"
)

// SetProcs runs the server with one more processor (GOMAXPROCS) than the
// CPUs it may use, unless GOMAXPROCS is set in the environment, and
// returns the count it set.
//
// Every acknowledged event waits for an fsync, and a goroutine in a
// system call keeps its processor until the runtime's monitor takes it
// back, which it does only after it has noticed the call: up to 10 ms
// later when the monitor is idle, and on a busy server it mostly is. The
// spool's committer spends much of its time in fsync. With one CPU, and so
// one processor, nothing else ran meanwhile: under load the digest got a
// batch done every second or two while the core sat in I/O wait 40 % of
// the time, and the events piled up in the spool (measured: 150 events a
// second digested during the load and the rest after it). An extra
// processor lets the digest and the ingest handlers run while the
// committer waits on the disk; the kernel shares the CPUs between them.
//
// It is idempotent: it starts again from the runtime's default, which
// follows the CPU affinity and cgroup limit at the time of the call.
func SetProcs() int {
	if os.Getenv("GOMAXPROCS") != "" {
		return runtime.GOMAXPROCS(0)
	}
	runtime.SetDefaultGOMAXPROCS()
	n := runtime.GOMAXPROCS(0) + 1
	runtime.GOMAXPROCS(n)
	return n
}
