package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// bench runs the floor server and tinysink side by side, interleaved, with
// the same load generator, and prints each run and the medians' ratios:
//
//   - fast: c=8 as fast as possible; processed events/s counts an event once
//     it is acknowledged and (tinysink) digested, so the drain after the load
//     is included; peak VmRSS and RssAnon;
//   - 1000/s: a steady 1,000 events/s; ack p50/p99;
//   - pinned: fast, with the server pinned to one core (taskset -c 0);
//   - long: fast for -long (60 s), once rather than every round: the
//     peak VmRSS of a longer run, which the short runs' peaks understate
//     (a peak is the highest of many swings of the heap, and a longer run
//     has more of them);
//
// and for fast, pinned and long the server's CPU time (user + system, from
// /proc/PID/stat) per acknowledged event, the drain included: the figure
// that moves least with the machine's other load.
//
// The loadgen is built from its own module (-loadgen, or $LOADGEN, or the
// nearest shared/tools/loadgen above the working directory).
func bench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	rounds := fs.Int("rounds", 3, "rounds; each runs every scenario on both servers")
	duration := fs.Duration("duration", 10*time.Second, "load duration of each run")
	dir := fs.String("dir", "", "directory for the data of each run (default: the system's temp dir; must be on the disk to measure, not tmpfs)")
	loadgenDir := fs.String("loadgen", os.Getenv("LOADGEN"), "the loadgen module's directory")
	only := fs.String("only", "fast,1000,pinned,long", "scenarios to run (comma list of fast, 1000, pinned, long)")
	long := fs.Duration("long", time.Minute, "load duration of the long scenario, run once after the rounds")
	memLimit := fs.String("memory-limit", "", "tinysink's -memory-limit (empty: its default)")
	binary := fs.String("tinysink", "", "a tinysink binary to measure (default: built from the working directory as make build does)")
	fs.Parse(args)

	tmp, err := os.MkdirTemp(*dir, "floorbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	b := &bencher{tmp: tmp, duration: *duration, long: *long, memLimit: *memLimit}
	if b.self, err = os.Executable(); err != nil {
		return err
	}
	if b.loadgen, err = buildLoadgen(*loadgenDir, tmp); err != nil {
		return err
	}
	b.tinysink = *binary
	if b.tinysink == "" {
		b.tinysink = filepath.Join(tmp, "tinysink")
		if err := buildTinysink(tmp, b.tinysink); err != nil {
			return fmt.Errorf("building tinysink (run from the repository's root): %w", err)
		}
	}
	var scen []scenario
	for _, s := range allScenarios {
		if slices.Contains(strings.Split(*only, ","), s.name) {
			scen = append(scen, s)
		}
	}
	fmt.Printf("load average at start: %s", loadavg())
	results := map[string][]result{}
	for r := 0; r <= *rounds; r++ {
		for _, s := range scen {
			if s.once != (r == *rounds) {
				continue // the long scenario runs once, after the rounds
			}
			servers := []string{"floor", "tinysink"}
			if r%2 == 1 {
				servers = []string{"tinysink", "floor"}
			}
			for _, srv := range servers {
				res, err := b.run(srv, s)
				if err != nil {
					return fmt.Errorf("round %d, %s, %s: %w", r+1, s.name, srv, err)
				}
				label := fmt.Sprintf("round %d", r+1)
				if s.once {
					label = "once   "
				}
				fmt.Printf("%s %-6s %-8s %s\n", label, s.name, srv, res)
				results[s.name+"/"+srv] = append(results[s.name+"/"+srv], res)
			}
		}
	}
	fmt.Printf("load average at end: %s", loadavg())
	fmt.Printf("\nmedians of %d rounds, long: one run of %s (ratio = tinysink / floor)\n", *rounds, *long)
	fmt.Printf("%-32s %10s %10s %7s\n", "", "floor", "tinysink", "ratio")
	// lineN prints a row with n decimals; line with one.
	lineN := func(label string, n int, f, t float64) {
		ratio := 0.0
		if f > 0 {
			ratio = t / f
		}
		fmt.Printf("%-32s %10.*f %10.*f %7.2f\n", label, n, f, n, t, ratio)
	}
	line := func(label string, f, t float64) { lineN(label, 1, f, t) }
	med := func(key string, get func(result) float64) float64 {
		var xs []float64
		for _, r := range results[key] {
			xs = append(xs, get(r))
		}
		return median(xs)
	}
	for _, s := range scen {
		f, t := s.name+"/floor", s.name+"/tinysink"
		switch s.name {
		case "fast", "pinned", "long":
			line(s.name+": processed events/s", med(f, result.processedEPS), med(t, result.processedEPS))
			line(s.name+": ack p99 ms", med(f, func(r result) float64 { return r.p99 }), med(t, func(r result) float64 { return r.p99 }))
			line(s.name+": peak VmRSS MiB", med(f, func(r result) float64 { return r.rssMiB }), med(t, func(r result) float64 { return r.rssMiB }))
			line(s.name+": peak RssAnon MiB", med(f, func(r result) float64 { return r.anonMiB }), med(t, func(r result) float64 { return r.anonMiB }))
			line(s.name+": refused (429)", med(f, func(r result) float64 { return r.refused }), med(t, func(r result) float64 { return r.refused }))
			lineN(s.name+": server CPU ms per event", 3, med(f, result.cpuPerEvent), med(t, result.cpuPerEvent))
			lineN(s.name+": of which system (kernel)", 3, med(f, result.sysPerEvent), med(t, result.sysPerEvent))
		case "1000":
			line("1000/s: ack p50 ms", med(f, func(r result) float64 { return r.p50 }), med(t, func(r result) float64 { return r.p50 }))
			line("1000/s: ack p99 ms", med(f, func(r result) float64 { return r.p99 }), med(t, func(r result) float64 { return r.p99 }))
			line("1000/s: refused (429)", med(f, func(r result) float64 { return r.refused }), med(t, func(r result) float64 { return r.refused }))
		}
	}
	return nil
}

type scenario struct {
	name   string
	rate   int
	pinned bool
	once   bool // run once, after the rounds, for -long
}

var allScenarios = []scenario{
	{name: "fast"},
	{name: "1000", rate: 1000},
	{name: "pinned", pinned: true},
	{name: "long", once: true},
}

type result struct {
	acked, refused, other float64
	elapsed, drain        time.Duration
	p50, p99              float64
	rssMiB, anonMiB       float64
	cpuMs                 float64 // the server's CPU time from the load's start to the drain's end
	sysMs                 float64 // the part of cpuMs spent in the kernel (stime)
}

// cpuPerEvent is the server's CPU time per acknowledged event, in ms.
func (r result) cpuPerEvent() float64 {
	if r.acked == 0 {
		return 0
	}
	return r.cpuMs / r.acked
}

// sysPerEvent is the kernel's part of cpuPerEvent (system calls, the
// network stack, page faults), in ms.
func (r result) sysPerEvent() float64 {
	if r.acked == 0 {
		return 0
	}
	return r.sysMs / r.acked
}

// processedEPS counts an event once it is acknowledged and digested.
func (r result) processedEPS() float64 {
	return r.acked / (r.elapsed + r.drain).Seconds()
}

func (r result) String() string {
	return fmt.Sprintf("acked %6.0f  refused %3.0f  other %3.0f  processed %7.1f/s (drain %5.2fs)  p50 %6.2f p99 %6.2f ms  VmRSS %5.1f RssAnon %5.1f MiB  CPU %.3f ms/event (system %.3f)",
		r.acked, r.refused, r.other, r.processedEPS(), r.drain.Seconds(), r.p50, r.p99, r.rssMiB, r.anonMiB, r.cpuPerEvent(), r.sysPerEvent())
}

type bencher struct {
	tmp, self, loadgen, tinysink string
	duration, long               time.Duration
	memLimit                     string
}

// run starts one server in a fresh directory, loads it and stops it.
func (b *bencher) run(server string, s scenario) (res result, err error) {
	dir, err := os.MkdirTemp(b.tmp, server+"-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	var argv []string
	var metrics string
	if server == "floor" {
		argv = []string{b.self, "serve", "-addr", "127.0.0.1:0", "-file", filepath.Join(dir, "floor.log")}
	} else {
		if argv, metrics, err = tinysinkCommand(b.tinysink, dir); err != nil {
			return res, err
		}
		if b.memLimit != "" {
			argv = append(argv, "-memory-limit", b.memLimit)
		}
	}
	srv, err := startServer(server, argv, s.pinned)
	if err != nil {
		return res, err
	}
	defer srv.stop()
	dsn := srv.dsn

	pid := srv.cmd.Process.Pid
	user0, sys0, err := cpuTicks(pid)
	if err != nil {
		return res, err
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sampleMemory(ctx, pid, &res)
	}()
	d := b.duration
	if s.once {
		d = b.long
	}
	kv, err := runLoadgen(b.loadgen, dsn, "-duration", d.String(), "-rate", strconv.Itoa(s.rate))
	loadEnd := time.Now()
	if err != nil {
		stop()
		return res, err
	}
	res.fill(kv)
	if kv["eps_2xx"] > 0 {
		res.elapsed = time.Duration(res.acked / kv["eps_2xx"] * float64(time.Second))
	}
	if metrics != "" {
		if err := waitDrained(metrics, res.acked); err != nil {
			stop()
			return res, err
		}
		res.drain = time.Since(loadEnd)
	}
	user1, sys1, err := cpuTicks(pid)
	if err != nil {
		stop()
		return res, err
	}
	res.cpuMs = float64(user1+sys1-user0-sys0) * 1000 / userHZ
	res.sysMs = float64(sys1-sys0) * 1000 / userHZ
	stop()
	wg.Wait()
	if hwm := statusKB(pid, "VmHWM:"); hwm/1024 > res.rssMiB {
		res.rssMiB = hwm / 1024
	}
	return res, nil
}

// buildTinysink builds tinysink from the working directory into bin as
// make build does: without cgo (a static binary, as released; with cgo the
// process also maps libc, ~1 MiB more VmRSS), without net/http's HTTP/2,
// stripped, and through ui/cmd/tmploverlay's overlay, written under tmp.
func buildTinysink(tmp, bin string) error {
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return err
	}
	ovCmd := exec.Command("go", "run", "./ui/cmd/tmploverlay", "-goroot", strings.TrimSpace(string(goroot)), "-dir", filepath.Join(tmp, "overlay"))
	ovCmd.Stderr = os.Stderr // its warning for a toolchain it does not know
	ov, err := ovCmd.Output()
	if err != nil {
		return err
	}
	args := []string{"build", "-trimpath", "-tags", "nethttpomithttp2", "-ldflags", "-s -w"}
	if o := strings.TrimSpace(string(ov)); o != "" {
		args = append(args, o)
	}
	cmd := exec.Command("go", append(args, "-o", bin, ".")...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// buildLoadgen builds the loadgen module in dir (empty: the nearest
// shared/tools/loadgen above the working directory) into tmp.
func buildLoadgen(dir, tmp string) (string, error) {
	if dir == "" {
		if dir = findUp(filepath.Join("shared", "tools", "loadgen")); dir == "" {
			return "", errors.New("loadgen not found: pass -loadgen DIR or set LOADGEN")
		}
	}
	bin := filepath.Join(tmp, "loadgen")
	if err := run(dir, "go", "build", "-o", bin, "."); err != nil {
		return "", fmt.Errorf("building loadgen: %w", err)
	}
	return bin, nil
}

// tinysinkCommand is the command line the benchmarks start tinysink with,
// on data directory dir: its defaults, with quotas off, serving on a free
// port and its metrics on another (the address returned).
func tinysinkCommand(bin, dir string) (argv []string, metrics string, err error) {
	addr, err := freePort()
	if err != nil {
		return nil, "", err
	}
	if metrics, err = freePort(); err != nil {
		return nil, "", err
	}
	argv = []string{bin, "serve", "-addr", addr, "-base-url", "http://" + addr, "-data", dir, "-metrics-addr", metrics, "-log-level", "warn"}
	for _, q := range []string{"project-5m", "project-hour", "project-month", "install-5m", "install-hour", "install-month"} {
		argv = append(argv, "-quota-"+q, "0")
	}
	return argv, metrics, nil
}

// benchServer is a benchmarked server's process.
type benchServer struct {
	cmd *exec.Cmd
	dsn string
}

// startServer starts argv, the floor or tinysink (name), pinned to one
// core (taskset -c 0) when asked, and reads its DSN from its start-up
// lines.
func startServer(name string, argv []string, pinned bool) (*benchServer, error) {
	if pinned {
		argv = append([]string{"taskset", "-c", "0"}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "TINYSINK_ADMIN_PASSWORD=bench-password")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &benchServer{cmd: cmd}
	if s.dsn, err = readDSN(out, name); err != nil {
		s.stop()
		return nil, err
	}
	go io.Copy(io.Discard, out)
	return s, nil
}

// stop kills the server.
func (s *benchServer) stop() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
}

// readDSN reads the server's start-up lines up to the one that names its
// address.
func readDSN(out io.Reader, server string) (string, error) {
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if server == "floor" {
			if addr, ok := strings.CutPrefix(line, "listening on "); ok {
				return "http://floorkey@" + addr + "/1", nil
			}
		} else if dsn, ok := strings.CutPrefix(line, "DSN:"); ok {
			return strings.TrimSpace(dsn), nil
		}
	}
	return "", fmt.Errorf("%s exited before printing its address", server)
}

// waitDrained polls tinysink's metrics until the digest has dealt with every
// acknowledged event.
func waitDrained(addr string, acked float64) error {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var done float64
		for _, l := range strings.Split(string(body), "\n") {
			for _, name := range []string{"tinysink_events_digested_total", "tinysink_events_duplicate_total",
				"tinysink_events_invalid_total", "tinysink_events_quarantined_total"} {
				if v, ok := strings.CutPrefix(l, name+" "); ok {
					f, _ := strconv.ParseFloat(v, 64)
					done += f
				}
			}
		}
		if done >= acked {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("the digest did not catch up within 5 minutes")
}

// sampleMemory records the peak VmRSS and RssAnon of pid every 50 ms.
func sampleMemory(ctx context.Context, pid int, res *result) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		res.rssMiB = max(res.rssMiB, statusKB(pid, "VmRSS:")/1024)
		res.anonMiB = max(res.anonMiB, statusKB(pid, "RssAnon:")/1024)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// userHZ is the unit of the CPU times in /proc/PID/stat (USER_HZ, 100 on
// every Linux architecture).
const userHZ = 100

// cpuTicks returns pid's user and system CPU time, in USER_HZ ticks.
func cpuTicks(pid int) (user, sys int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	return statTicks(string(b))
}

// statTicks reads utime and stime (fields 14 and 15) from a /proc/PID/stat
// line. The command name (field 2) is in parentheses and may hold spaces
// and parentheses itself, so fields are counted after the last ')'.
func statTicks(stat string) (user, sys int64, err error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("unreadable /proc stat line %q", stat)
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3, the state
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("short /proc stat line %q", stat)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, fmt.Errorf("/proc stat line %q: %w", stat, err)
	}
	return utime, stime, nil
}

func statusKB(pid int, field string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			f, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return f
		}
	}
	return 0
}

// runLoadgen runs loadgen against dsn with the benchmarks' load (c=8, 1 %
// of events opening new issues) and the extra flags given, and returns
// the fields of its RESULT line.
func runLoadgen(loadgen, dsn string, extra ...string) (map[string]float64, error) {
	args := append([]string{"-dsn", dsn, "-c", "8", "-new-issue-ratio", "0.01", "-q", "-progress", "0"}, extra...)
	out, err := exec.Command(loadgen, args...).Output()
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w\n%s", err, out)
	}
	return parseResult(string(out)), nil
}

// fill sets r's acknowledged, refused and failed counts and its ack
// latencies from loadgen's RESULT fields.
func (r *result) fill(kv map[string]float64) {
	r.acked, r.refused, r.other = kv["ok_2xx"], kv["r429"], kv["other"]+kv["errors"]
	r.p50, r.p99 = kv["p50_ms"], kv["p99_ms"]
}

// parseResult reads loadgen's last line, "RESULT k=v k=v ...".
func parseResult(out string) map[string]float64 {
	kv := map[string]float64{}
	for _, l := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(l, "RESULT ")
		if !ok {
			continue
		}
		for _, f := range strings.Fields(rest) {
			k, v, _ := strings.Cut(f, "=")
			kv[k], _ = strconv.ParseFloat(v, 64)
		}
	}
	return kv
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func run(dir string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, os.Stderr, os.Stderr
	return cmd.Run()
}

// findUp returns the first dir/rel above the working directory, or "".
func findUp(rel string) string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if st, err := os.Stat(filepath.Join(dir, rel)); err == nil && st.IsDir() {
			return filepath.Join(dir, rel)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return string(b)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}
