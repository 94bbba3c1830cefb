package profile

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tinysink/tinysink/digest"
	"github.com/tinysink/tinysink/store"
)

// OldSize is the shape of the "old installation" scenario's data
// directory.
type OldSize struct {
	Issues   int `json:"issues"`
	Events   int `json:"events"`
	Days     int `json:"days"`
	Projects int `json:"projects"`
}

// OldStats describes a populated data directory.
type OldStats struct {
	OldSize
	DiskBytes int64         `json:"disk_bytes"`
	Populate  time.Duration `json:"populate_ns"`
}

// Stage names of the old scenario; stageOldWarm is what the ceilings gate.
const (
	stageOldSetup  = "old installation: after setup (store open, listening)"
	stageOldWarm   = "old installation: fully warmed (everything loaded, all pages served)"
	stageOldWarmGC = "old installation: fully warmed (after a GC)"
)

// loadBatch is how many events go into one store batch while populating.
const loadBatch = 2000

// runOld builds a data directory of size (in keep, or a temporary
// directory), starts a server on it, warms it fully and measures it.
func (p *profiler) runOld(size OldSize, keep string) (*Report, error) {
	rep := &Report{Binary: p.bin, Scenario: "old", Events: size.Events, Gate: stageOldWarm}
	dir := keep
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "tinysink-budget-old-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	}
	st, err := populateOnce(dir, keep != "", size, p.progress)
	if err != nil {
		return nil, err
	}
	rep.Old = st

	s, err := p.startIn(dir, false)
	if err != nil {
		return nil, err
	}
	defer s.stop()
	// The events stored already count as sent, so that waitStored waits
	// for the ones the warm-up adds.
	if err := s.useProject1(); err != nil {
		return nil, err
	}
	r, err := s.measure(stageOldSetup)
	if err != nil {
		return nil, err
	}
	rep.Results = append(rep.Results, r)
	warm := []step{(*session).firstIngest}
	for _, enc := range []string{"gzip", "deflate", "br", "zstd"} {
		warm = append(warm, encoded(enc))
	}
	warm = append(warm, (*session).invalid, (*session).items, (*session).sourceMapped, (*session).minidump,
		(*session).uiFirst, func(s *session) error { return s.crawlFrom(oldPages(size.Projects)) })
	for _, fn := range warm {
		if err := fn(s); err != nil {
			return nil, fmt.Errorf("warming the old installation: %w", err)
		}
	}
	if r, err = s.measure(stageOldWarm); err != nil {
		return nil, err
	}
	rep.Results = append(rep.Results, r)
	if r, err = s.measureAfterGC(strings.TrimSuffix(stageOldWarmGC, " (after a GC)")); err != nil {
		return nil, err
	}
	rep.Results = append(rep.Results, r)
	// Timed last, so that its garbage is in no memory row.
	if rep.Latency, err = s.latencies(listPages(), 200); err != nil {
		return nil, err
	}
	return rep, nil
}

// populateOnce is Populate, except that a kept directory populated before
// with the same size (recorded in budget-old.json) is used as it is, so
// that repeated measurements need not build it again. (Each run's warm-up
// adds a few events to it.)
func populateOnce(dir string, keep bool, size OldSize, progress io.Writer) (*OldStats, error) {
	mark := filepath.Join(dir, "budget-old.json")
	if keep {
		var st OldStats
		if b, err := os.ReadFile(mark); err == nil && json.Unmarshal(b, &st) == nil && st.OldSize == size {
			fmt.Fprintf(progress, "using the directory populated before in %s\n", dir)
			return &st, nil
		}
	}
	st, err := Populate(dir, size, progress)
	if err != nil {
		return nil, err
	}
	if keep {
		b, _ := json.Marshal(st)
		if err := os.WriteFile(mark, b, 0o600); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// oldPages are the pages the old scenario's warm-up asks for before it
// crawls: each project's issue list in both sort orders, a later page and
// a search, and the first issue with its tabs.
func oldPages(projects int) []string {
	var out []string
	for pid := 1; pid <= projects; pid++ {
		base := fmt.Sprintf("/projects/%d/", pid)
		out = append(out, base, base+"?sort=events", base+"?sort=last_seen&page=3", base+"?sort=events&page=2", base+"?q=Error")
	}
	for _, tab := range []string{"", "events/", "tags/", "history/", "grouping/"} {
		out = append(out, "/issues/1/"+tab)
	}
	return out
}

// Populate builds a data directory in dir (empty or missing) with size's
// projects, issues and events, through the store's digest batches and the
// digest package's normalisation and grouping, as the server stores
// events. The events' ingest times and the store's clock advance evenly
// across size.Days days that end now, so the hourly and daily counters
// span them. It creates the admin user (password adminPassword) and
// raises each project's retention so that every event stays stored. A
// line goes to progress at every tenth of the events.
func Populate(dir string, size OldSize, progress io.Writer) (*OldStats, error) {
	size.Projects = max(size.Projects, 1)
	size.Issues = max(size.Issues, 1)
	size.Events = max(size.Events, size.Issues)
	size.Days = max(size.Days, 1)
	if progress == nil {
		progress = io.Discard
	}
	start := time.Now()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	db, err := store.Open(dir)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	end := time.Now().Truncate(time.Second)
	first := end.AddDate(0, 0, -size.Days)
	var now atomic.Int64
	now.Store(first.UnixNano())
	db.Now = func() time.Time { return time.Unix(0, now.Load()) }

	if _, err := db.CreateUser("admin", adminPassword, true); err != nil {
		return nil, err
	}
	names := []string{"web", "api", "worker", "mobile", "cron", "billing", "search", "admin"}
	for i := range size.Projects {
		name := names[i%len(names)]
		if i >= len(names) {
			name += fmt.Sprint(i / len(names))
		}
		pr, err := db.CreateProject(name)
		if err != nil {
			return nil, err
		}
		retain := min(store.MaxRetention, size.Events)
		if err := db.SetProjectSettings(pr.ID, store.ProjectSettings{Name: pr.Name, RetentionMax: retain,
			AlertOnNewIssue: pr.AlertOnNewIssue, AlertOnRegression: pr.AlertOnRegression, AlertOnUnmute: pr.AlertOnUnmute}); err != nil {
			return nil, err
		}
	}

	// One goroutine makes the events of a batch, prepareWorkers parse and
	// compress them, and this one digests the batch before.
	type batch struct {
		evs  []*digest.Prepared
		last time.Time
		err  error
	}
	batches := make(chan batch, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer close(batches)
		g := newOldGen(size, first, end)
		per := max(min(loadBatch, size.Events/10), 1)
		workers := max(min(runtime.GOMAXPROCS(0), 4), 1)
		loaders := make([]*digest.Loader, workers)
		for w := range loaders {
			loaders[w] = digest.NewLoader()
		}
		type raw struct {
			project int
			at      time.Time
			b       []byte
		}
		raws := make([]raw, 0, per)
		for i := 0; i < size.Events; {
			raws = raws[:0]
			for ; i < size.Events && len(raws) < per; i++ {
				project, at, b := g.next(i)
				raws = append(raws, raw{project, at, b})
			}
			b := batch{evs: make([]*digest.Prepared, len(raws)), last: raws[len(raws)-1].at}
			errs := make([]error, workers)
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for k := w; k < len(raws); k += workers {
						if b.evs[k], errs[w] = loaders[w].Prepare(raws[k].project, raws[k].b, raws[k].at); errs[w] != nil {
							errs[w] = fmt.Errorf("event %d: %w", i-len(raws)+k, errs[w])
							return
						}
					}
				})
			}
			wg.Wait()
			b.err = errors.Join(errs...)
			select {
			case batches <- b:
			case <-stop:
				return
			}
			if b.err != nil {
				return
			}
		}
	}()
	done, nextReport := 0, 1
	for b := range batches {
		if b.err != nil {
			return nil, b.err
		}
		err := db.Digest(func(tx *store.Tx) error {
			for _, ev := range b.evs {
				now.Store(ev.IngestedAt().UnixNano())
				if _, err := ev.Add(tx); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("populate: %w", err)
		}
		done += len(b.evs)
		for nextReport <= 10 && done*10 >= nextReport*size.Events {
			fmt.Fprintf(progress, "populating: %3d%% (%d of %d events, simulated %s, %s)\n",
				nextReport*10, done, size.Events, b.last.Format("2006-01-02"), time.Since(start).Round(time.Second))
			nextReport++
		}
	}
	if done != size.Events {
		return nil, errors.New("populate: the event generator stopped early")
	}
	if err := db.Close(); err != nil {
		return nil, err
	}
	st := &OldStats{OldSize: size, Populate: time.Since(start)}
	st.DiskBytes, err = diskUsage(dir)
	return st, err
}

// oldGen makes the old scenario's events: realistic, small Python error
// events, each of one of size.Issues issues (an exception type of its own),
// issue k in project k mod size.Projects. Issue k first appears at the
// k-th of size.Issues evenly spaced points of the event sequence; the other
// events go half to the few "hot" issues (the first 1 % of those seen so
// far) and half to any issue seen so far, as real installations are
// dominated by a few noisy issues. It is deterministic.
type oldGen struct {
	size    OldSize
	first   time.Time
	step    time.Duration // between two events' ingest times
	rnd     *rand.Rand
	seen    int // issues that appeared so far
	idBuf   [16]byte
	tiers   []string
	regions []string
	servers []string
}

func newOldGen(size OldSize, first, end time.Time) *oldGen {
	return &oldGen{
		size: size, first: first, step: end.Sub(first) / time.Duration(size.Events),
		rnd:     rand.New(rand.NewPCG(1, uint64(size.Events))),
		tiers:   []string{"free", "silver", "gold"},
		regions: []string{"eu-west", "eu-central", "us-east", "ap-south"},
		servers: []string{"web-1", "web-2", "web-3", "worker-1", "worker-2"},
	}
}

// next returns event i (0-based): its project, ingest time and JSON.
func (g *oldGen) next(i int) (project int, at time.Time, raw []byte) {
	at = g.first.Add(time.Duration(i) * g.step)
	var issue int
	switch {
	case g.seen < g.size.Issues && i*g.size.Issues >= g.seen*g.size.Events:
		issue = g.seen
		g.seen++
	case g.rnd.IntN(2) == 0:
		issue = g.rnd.IntN(max(g.seen/100, 1))
	default:
		issue = g.rnd.IntN(g.seen)
	}
	project = issue%g.size.Projects + 1
	day := int(at.Sub(g.first) / (24 * time.Hour))
	for j := range g.idBuf {
		g.idBuf[j] = byte(g.rnd.Uint32())
	}
	b := make([]byte, 0, 3<<10) // the digest may keep parts of it
	b = fmt.Appendf(b, `{"event_id":"%s","timestamp":%d,"platform":"python","level":"error",`, hex.EncodeToString(g.idBuf[:]), at.Unix())
	b = fmt.Appendf(b, `"server_name":"%s","release":"app%d@1.%d.0","environment":"production","logger":"app.handlers",`,
		g.servers[g.rnd.IntN(len(g.servers))], project, day/30)
	b = fmt.Appendf(b, `"transaction":"/api/v1/items/{id}/part%d","exception":{"values":[{"type":"%sError","value":"could not process item %d for user %d",`,
		issue%50, letters(issue), g.rnd.IntN(100000), g.rnd.IntN(1000))
	b = append(b, `"module":"app.handlers","mechanism":{"type":"generic","handled":false},"stacktrace":{"frames":[`...)
	for f := range 6 {
		if f > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"filename":"app/handlers/step_%d.py","abs_path":"/srv/app/handlers/step_%d.py","function":"handle_%s_%d","module":"app.handlers.step_%d","lineno":%d,"in_app":%t,`,
			f, f, letters(issue), f, f, 20+f, f > 2)
		b = append(b, `"context_line":"        result = self.process(item, request.user)","vars":{"item_id":"'42'","retries":"3"}}`...)
	}
	b = append(b, `]}}]},"breadcrumbs":{"values":[`...)
	for c := range 4 {
		if c > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"timestamp":%d,"type":"http","category":"httplib","data":{"method":"GET","url":"https://api.example.com/v1/items/%d","status_code":200}}`, at.Unix()-int64(4-c), c)
	}
	b = fmt.Appendf(b, `]},"request":{"url":"https://app.example.com/items/%d","method":"POST","headers":{"User-Agent":"Mozilla/5.0 (X11; Linux x86_64) Firefox/131.0"}},`, g.rnd.IntN(1000))
	b = fmt.Appendf(b, `"user":{"id":"%d","ip_address":"203.0.113.%d"},"tags":{"customer_tier":"%s","region":"%s"},`,
		g.rnd.IntN(5000), g.rnd.IntN(250), g.tiers[g.rnd.IntN(len(g.tiers))], g.regions[g.rnd.IntN(len(g.regions))])
	b = append(b, `"contexts":{"runtime":{"name":"CPython","version":"3.12.3"},"os":{"name":"Linux"}},"sdk":{"name":"sentry.python","version":"2.18.0"}}`...)
	return project, at, b
}

// letters spells n in base 26 with capital letters, so that grouping (which
// replaces digits in values by placeholders) tells issues apart by type.
func letters(n int) string {
	var b [16]byte
	i := len(b)
	for {
		i--
		b[i] = byte('A' + n%26)
		n /= 26
		if n == 0 {
			return string(b[i:])
		}
	}
}

// diskUsage returns the bytes of the files under dir.
func diskUsage(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n += info.Size()
		return nil
	})
	return n, err
}
