// Package budget keeps tinysink under its memory ceiling. It sets the Go
// memory limit, reads the process's resident memory, decides whether ingest
// may admit another request, and keeps the registry of optional parts
// (decoders, parsers, templates) that are built only on first use.
//
// budget is a leaf: every other package may import it, it imports none of
// ours.
package budget

import (
	"errors"
	"fmt"
	"runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrExhausted is returned when the process is too close to its memory
// ceiling to accept more work.
var ErrExhausted = errors.New("budget: memory exhausted")

// Part describes one optional part in the registry.
type Part struct {
	Name     string    `json:"name"`
	Loaded   bool      `json:"loaded"`
	LoadedAt time.Time `json:"loaded_at,omitzero"`
	// BuildTime is how long the build function ran.
	BuildTime time.Duration `json:"build_ns"`
	// HeapDelta is the growth of live heap objects across the build, in bytes.
	// It is approximate: other goroutines allocate at the same time.
	HeapDelta int64 `json:"heap_delta"`
	// RSSDelta is the growth of VmRSS across the build, in bytes (0 where
	// /proc is not available).
	RSSDelta int64 `json:"rss_delta"`
}

var registry struct {
	mu    sync.Mutex // guards parts
	parts map[string]*Part
}

func register(name string) *Part {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.parts == nil {
		registry.parts = make(map[string]*Part)
	}
	if p, ok := registry.parts[name]; ok {
		return p
	}
	p := &Part{Name: name}
	registry.parts[name] = p
	return p
}

// Lazy registers an optional part under name and returns a function that
// builds it on its first call and returns the same value on every call.
// Nothing is built by Lazy itself, so a package-level
//
//	var uaParser = budget.Lazy("useragent", newParser)
//
// costs nothing until uaParser() is first called. Names must be unique.
func Lazy[T any](name string, build func() T) func() T {
	p := register(name)
	return sync.OnceValue(func() T {
		heap0 := liveHeap()
		rss0 := rssBytes()
		start := time.Now()
		v := build()
		d := time.Since(start)
		heap1 := liveHeap()
		rss1 := rssBytes()
		registry.mu.Lock()
		p.Loaded = true
		p.LoadedAt = time.Now()
		p.BuildTime = d
		p.HeapDelta = int64(heap1) - int64(heap0)
		if rss0 > 0 && rss1 > 0 {
			p.RSSDelta = int64(rss1) - int64(rss0)
		}
		registry.mu.Unlock()
		return v
	})
}

// FirstUse registers an optional part that is made anew for each use (a
// decoder per request), or built again after it was dropped, rather than
// built once, and returns the function that marks it loaded; only its
// first call does anything. Its deltas stay 0: what it costs is per use,
// bounded by the caller (e.g. a semaphore).
func FirstUse(name string) func() {
	p := register(name)
	var once sync.Once
	return func() {
		once.Do(func() {
			registry.mu.Lock()
			p.Loaded = true
			p.LoadedAt = time.Now()
			registry.mu.Unlock()
		})
	}
}

// Parts returns a snapshot of the registry, sorted by name.
func Parts() []Part {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	out := make([]Part, 0, len(registry.parts))
	for _, p := range registry.parts {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Loaded returns the names of the parts built so far, sorted.
func Loaded() []string {
	var names []string
	for _, p := range Parts() {
		if p.Loaded {
			names = append(names, p.Name)
		}
	}
	return names
}

var heapSample = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
var heapMu sync.Mutex // guards heapSample

func liveHeap() uint64 {
	heapMu.Lock()
	defer heapMu.Unlock()
	metrics.Read(heapSample)
	if heapSample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return heapSample[0].Value.Uint64()
}

// ParseSize parses a byte size such as "24MiB", "16MB", "512k", "1g" or a
// plain number of bytes. Units are binary (K = KiB = 1024).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("budget: empty size")
	}
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("budget: bad size %q", s)
	}
	mult := float64(1)
	switch strings.TrimSuffix(strings.TrimSuffix(unit, "ib"), "b") {
	case "":
	case "k":
		mult = 1 << 10
	case "m":
		mult = 1 << 20
	case "g":
		mult = 1 << 30
	case "t":
		mult = 1 << 40
	default:
		return 0, fmt.Errorf("budget: bad size unit in %q", s)
	}
	return int64(f * mult), nil
}

// FormatSize formats n bytes as a short binary size such as "24.0MiB".
func FormatSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fGiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fKiB", float64(n)/(1<<10))
	}
	return strconv.FormatInt(n, 10) + "B"
}
