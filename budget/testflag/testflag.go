// Package testflag holds what the TestMain functions of several packages
// share. Only tests import it.
package testflag

import (
	"flag"
	"runtime"
	"strconv"
)

// ParallelForFsync raises -test.parallel to n (unless it was given on the
// command line, GOMAXPROCS is larger, or the race detector is on) and
// parses the test flags; call it at the top of TestMain. The default, GOMAXPROCS (2 on our CI
// machine), suits tests that compute; the tests of packages that call this
// mostly wait for fsync (~10 ms each on a VM's disk) and their own
// subprocesses, so more of them at once overlap those waits.
func ParallelForFsync(n int) {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given && !race && n > runtime.GOMAXPROCS(0) {
		flag.Set("test.parallel", strconv.Itoa(n))
	}
}
