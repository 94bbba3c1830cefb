package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// ab compares two tinysink builds by running them at the same time, each
// fed by a loadgen of its own, so that both see the same machine: on a
// shared VM whose speed drifts within minutes, runs in turns (bench) differ
// by more than a change of a few percent, while two servers side by side
// meet the same neighbours. Each round starts both in fresh directories,
// warms each past the default retention (12,000 events: the measured load
// evicts all along, as an old installation does), then loads both for the
// duration at -rate events/s each (0: as fast as each can, which makes
// them compete for the cores) and waits for both digests to drain. It
// reports each build's CPU time per acknowledged event (user + system
// from /proc/PID/stat, the drain included) and processed events/s, and
// the ratios B/A; the builds swap ports and start order every round. The
// median ratio is the figure to quote.
func ab(args []string) error {
	fs := flag.NewFlagSet("ab", flag.ExitOnError)
	binA := fs.String("a", "", "the first tinysink binary (the baseline)")
	binB := fs.String("b", "", "the second tinysink binary")
	rounds := fs.Int("rounds", 4, "rounds")
	duration := fs.Duration("duration", 20*time.Second, "load duration of each round")
	rate := fs.Int("rate", 1000, "events/s sent to each server (0: as fast as possible)")
	pinned := fs.Bool("pinned", false, "pin both servers to one core (taskset -c 0)")
	dir := fs.String("dir", "", "directory for the data of each run (default: the system's temp dir)")
	loadgenDir := fs.String("loadgen", os.Getenv("LOADGEN"), "the loadgen module's directory")
	fs.Parse(args)
	if *binA == "" || *binB == "" {
		return errors.New("ab needs -a and -b, two tinysink binaries")
	}
	tmp, err := os.MkdirTemp(*dir, "floorab-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	loadgen, err := buildLoadgen(*loadgenDir, tmp)
	if err != nil {
		return err
	}
	fmt.Printf("load average at start: %s", loadavg())
	var cpuRatios, epsRatios []float64
	for r := 0; r < *rounds; r++ {
		bins := [2]string{*binA, *binB}
		if r%2 == 1 {
			bins = [2]string{*binB, *binA}
		}
		var res [2]abResult
		if err := abRound(tmp, loadgen, bins, *duration, *rate, *pinned, &res); err != nil {
			return fmt.Errorf("round %d: %w", r+1, err)
		}
		a, b := res[0], res[1]
		if r%2 == 1 {
			a, b = b, a
		}
		cpuRatios = append(cpuRatios, b.cpuPerEvent()/a.cpuPerEvent())
		epsRatios = append(epsRatios, b.processedEPS()/a.processedEPS())
		fmt.Printf("round %d  A %s  B %s  B/A CPU %.3f processed %.3f\n", r+1, a, b, cpuRatios[r], epsRatios[r])
	}
	fmt.Printf("load average at end: %s", loadavg())
	fmt.Printf("median of %d rounds, B/A: CPU per event %.3f, processed events/s %.3f\n", *rounds, median(cpuRatios), median(epsRatios))
	return nil
}

// abResult is one server's part of a round.
type abResult struct {
	result
	elapsedAll time.Duration // from the load's start to the drain's end
}

func (r abResult) processedEPS() float64 { return r.acked / r.elapsedAll.Seconds() }

func (r abResult) String() string {
	return fmt.Sprintf("%.4f ms/event %7.1f processed/s p99 %5.1f ms peak VmRSS %4.1f RssAnon %4.1f MiB",
		r.cpuPerEvent(), r.processedEPS(), r.p99, r.rssMiB, r.anonMiB)
}

// abServer is a tinysink started for a round, in data directory dir.
type abServer struct {
	*benchServer
	dir, metrics string
}

func startTinysink(tmp, bin string, pinned bool) (*abServer, error) {
	dir, err := os.MkdirTemp(tmp, "tinysink-")
	if err != nil {
		return nil, err
	}
	argv, metrics, err := tinysinkCommand(bin, dir)
	var srv *benchServer
	if err == nil {
		srv, err = startServer("tinysink", argv, pinned)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &abServer{benchServer: srv, dir: dir, metrics: metrics}, nil
}

// stop kills the server and removes its data directory.
func (s *abServer) stop() {
	s.benchServer.stop()
	os.RemoveAll(s.dir)
}

// abRound runs one round of the two binaries side by side.
func abRound(tmp, loadgen string, bins [2]string, load time.Duration, rate int, pinned bool, res *[2]abResult) error {
	var srv [2]*abServer
	defer func() {
		for _, s := range srv {
			if s != nil {
				s.stop()
			}
		}
	}()
	for i, bin := range bins {
		var err error
		if srv[i], err = startTinysink(tmp, bin, pinned); err != nil {
			return err
		}
	}
	each := func(f func(i int) error) error {
		var wg sync.WaitGroup
		var errs [2]error
		for i := range srv {
			wg.Go(func() { errs[i] = f(i) })
		}
		wg.Wait()
		return errors.Join(errs[:]...)
	}
	// Warm both past the default retention of 10,000 events.
	var warmed [2]float64
	err := each(func(i int) error {
		kv, err := runLoadgen(loadgen, srv[i].dsn, "-n", "12000")
		if err != nil {
			return err
		}
		warmed[i] = kv["ok_2xx"]
		return waitDrained(srv[i].metrics, warmed[i])
	})
	if err != nil {
		return err
	}
	var ticks [2]int64
	for i, s := range srv {
		u, sy, err := cpuTicks(s.cmd.Process.Pid)
		if err != nil {
			return err
		}
		ticks[i] = u + sy
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var mem sync.WaitGroup
	for i, s := range srv {
		mem.Go(func() { sampleMemory(ctx, s.cmd.Process.Pid, &res[i].result) })
	}
	start := time.Now()
	err = each(func(i int) error {
		kv, err := runLoadgen(loadgen, srv[i].dsn, "-duration", load.String(), "-rate", strconv.Itoa(rate))
		if err != nil {
			return err
		}
		res[i].fill(kv)
		if err := waitDrained(srv[i].metrics, warmed[i]+res[i].acked); err != nil {
			return err
		}
		res[i].elapsedAll = time.Since(start)
		u, sy, err := cpuTicks(srv[i].cmd.Process.Pid)
		if err != nil {
			return err
		}
		res[i].cpuMs = float64(u+sy-ticks[i]) * 1000 / userHZ
		return nil
	})
	stop()
	mem.Wait()
	return err
}
