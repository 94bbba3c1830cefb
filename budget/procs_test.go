package budget

import (
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestSetProcs runs the test binary again pinned to one CPU, as a
// single-core box or `taskset -c 0` runs the server, and reads what
// SetProcs set there: two processors, so the digest can run while the
// spool's committer waits in fsync; and the count GOMAXPROCS asks for when
// it is set.
func TestSetProcs(t *testing.T) {
	if os.Getenv("TINYSINK_PROCS_CHILD") != "" {
		n := SetProcs()
		m := SetProcs() // idempotent
		os.Stdout.WriteString("procs " + strconv.Itoa(n) + " " + strconv.Itoa(m) + " " + strconv.Itoa(runtime.GOMAXPROCS(0)) + " cpus " + strconv.Itoa(CPUs()) + "\n")
		return
	}
	if runtime.GOOS != "linux" {
		t.Skip("CPU affinity via taskset is Linux only")
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		t.Fatalf("taskset (util-linux) is needed to pin the child to one CPU: %v", err)
	}
	for _, c := range []struct{ env, want string }{
		{"", "procs 2 2 2 cpus 1"},
		{"GOMAXPROCS=1", "procs 1 1 1 cpus 1"},
		{"GOMAXPROCS=3", "procs 3 3 3 cpus 3"},
	} {
		cmd := exec.Command(taskset, "-c", "0", os.Args[0], "-test.run=^TestSetProcs$", "-test.count=1")
		cmd.Env = slices.DeleteFunc(append(os.Environ(), "TINYSINK_PROCS_CHILD=1"),
			func(e string) bool { return strings.HasPrefix(e, "GOMAXPROCS=") })
		if c.env != "" {
			cmd.Env = append(cmd.Env, c.env)
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", c.env, err, out)
		}
		var got string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "procs ") {
				got = l
			}
		}
		if got != c.want {
			t.Errorf("pinned to one CPU, env %q: got %q, want %q\n%s", c.env, got, c.want, out)
		}
	}
}
