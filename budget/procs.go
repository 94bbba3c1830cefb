package budget

import (
	"os"
	"runtime"
	"sync/atomic"
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
		n := runtime.GOMAXPROCS(0)
		cpus.Store(int32(n))
		return n
	}
	runtime.SetDefaultGOMAXPROCS()
	n := runtime.GOMAXPROCS(0)
	cpus.Store(int32(n))
	runtime.GOMAXPROCS(n + 1)
	return n + 1
}

// cpus is what SetProcs found: the CPUs the process may use (affinity and
// cgroup limit), or GOMAXPROCS when the environment sets it.
var cpus atomic.Int32

// CPUs returns the CPUs the server may use, for work that is worth
// spreading over goroutines only when there is more than one (the
// digest's normalisers): what SetProcs found, or before it ran the
// runtime's GOMAXPROCS. Unlike runtime.NumCPU it follows a cgroup's CPU
// limit (a container started with --cpus=1), and unlike GOMAXPROCS after
// SetProcs it does not count the extra processor.
func CPUs() int {
	if n := cpus.Load(); n > 0 {
		return int(n)
	}
	return runtime.GOMAXPROCS(0)
}
