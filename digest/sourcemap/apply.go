package sourcemap

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fastjson"

	"github.com/tinysink/tinysink/budget"
	"github.com/tinysink/tinysink/store"
)

// Why a frame is not mapped; each frame's data.sourcemap.reason_code.
const (
	ReasonNoDebugID   = "no_debug_id"   // the event names no debug id for the file (and no release files match)
	ReasonNoMap       = "no_map"        // nothing was uploaded for the frame's debug id
	ReasonNotInBundle = "not_in_bundle" // uploads exist, but not this file or not its map
	ReasonOutside     = "outside_map"   // the map has no mapping at the position
	ReasonBroken      = "broken_map"    // the map cannot be decoded (or is too large)
)

// Maps are applied when an event is shown (UI, API, Markdown), not when it
// is digested: the decoder and its cache are loaded only when someone
// looks at a minified event, and maps uploaded after an event apply to it
// too. The one use in the digest is the title of a synthetic exception
// whose crash frame is minified (digest.Worker.mapTitle), in projects
// with uploads; the stored event stays minified.

// Store is what the mapper reads: the project's uploaded artifacts.
type Store interface {
	ArtifactByDebugID(pid int, debugID, typ string) (*store.ArtifactFile, error)
	HasDebugID(pid int, debugID string) bool
	ArtifactByURL(pid int, release, dist, url string) (*store.ArtifactFile, error)
	HasReleaseArtifacts(pid int, release, dist string) bool
	HasArtifacts(pid int) bool
	ArtifactBody(f *store.ArtifactFile, max int64) ([]byte, error)
	ArtifactTail(f *store.ArtifactFile, n int64) ([]byte, error)
	TouchArtifact(f *store.ArtifactFile) error
	Dir() string
}

var _ Store = (*store.DB)(nil)

// bigEvent is the size above which an event is parsed with a throwaway
// parser.
const bigEvent = 256 << 10

// DefaultCacheBytes bounds the decoded maps' index files on disk.
const DefaultCacheBytes = 256 << 20

// maxOpen bounds the index files a process keeps mapped.
const maxOpen = 16

// Mapper applies uploaded source maps to events. It is safe for concurrent
// use; one event is mapped at a time.
type Mapper struct {
	db         Store
	cacheBytes int64
	mu         sync.Mutex // serialises Apply (the parser and arena below)
	p          fastjson.Parser
	a          fastjson.Arena
}

// NewMapper returns a mapper over db's uploads. It costs nothing until the
// first event that needs a map.
func NewMapper(db Store) *Mapper { return &Mapper{db: db, cacheBytes: DefaultCacheBytes} }

// cacheDir is where the decoded maps' index files live, by the SHA1 of
// the map file: <data>/sourcemaps/<sha1>.smx. It is a cache: backups
// leave it out, and any file of it may go.
func (mp *Mapper) cacheDir() string { return filepath.Join(mp.db.Dir(), "sourcemaps") }

// opened holds the index files mapped by this process, and the maps that
// would not decode, by the SHA1 of the map file; at most maxOpen of them.
// It is the lazily built part: nothing of a map is on the heap.
type opened struct {
	mu      sync.Mutex
	entries map[string]*openEntry
	tick    uint64
}

type openEntry struct {
	ix   *Index
	err  error
	used uint64
}

var openIndexes = budget.Lazy("sourcemap", func() *opened { return &opened{entries: map[string]*openEntry{}} })

func (o *opened) get(sum string) *openEntry {
	o.mu.Lock()
	defer o.mu.Unlock()
	e := o.entries[sum]
	if e != nil {
		o.tick++
		e.used = o.tick
	}
	return e
}

func (o *opened) put(sum string, e *openEntry) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for len(o.entries) >= maxOpen {
		var oldest string
		for k, x := range o.entries {
			if oldest == "" || x.used < o.entries[oldest].used {
				oldest = k
			}
		}
		// A lookup in progress keeps its Index alive; the mapping goes
		// when the last reference does.
		delete(o.entries, oldest)
	}
	o.tick++
	e.used = o.tick
	o.entries[sum] = e
}

// frameRef is a frame of a stack trace being mapped.
type frameRef struct {
	o      *fastjson.Object
	pos    Position
	mapped bool
}

// resolution is how a file of the event finds its map.
type resolution struct {
	file   *store.ArtifactFile // the map file
	via    string              // "debug_id" or "release"
	id     string              // the debug id, or the URL matched
	reason string
	note   string
}

// Apply returns body (an event's stored JSON) with the JavaScript frames
// of its exceptions and threads mapped through the project's uploaded
// source maps, each frame annotated in data.sourcemap (mapped, with the
// minified position kept, or why not). It returns body itself when the
// event has no JavaScript frames.
func (mp *Mapper) Apply(pid int, body []byte) []byte {
	if mp == nil || !mayHaveJSFrames(body) {
		return body
	}
	mp.mu.Lock()
	defer mp.mu.Unlock()
	// The parser and arena are reused, except for a big event, whose
	// parse would leave a large high-water mark behind (fastjson keeps
	// ~13 MB after a 1 MB document); the result is a fresh slice.
	p, a := &mp.p, &mp.a
	if len(body) > bigEvent {
		p, a = new(fastjson.Parser), new(fastjson.Arena)
	}
	root, err := p.ParseBytes(body)
	if err != nil || root.Type() != fastjson.TypeObject {
		return body
	}
	platform := string(root.GetStringBytes("platform"))
	ev := &eventCtx{
		pid:     pid,
		release: string(root.GetStringBytes("release")),
		dist:    string(root.GetStringBytes("dist")),
		images:  map[string]string{},
		res:     map[string]*resolution{},
		js:      platform == "javascript" || platform == "node",
	}
	for _, img := range root.GetArray("debug_meta", "images") {
		if string(img.GetStringBytes("type")) != "sourcemap" {
			continue
		}
		if f, id := string(img.GetStringBytes("code_file")), string(img.GetStringBytes("debug_id")); f != "" && id != "" {
			ev.images[f] = id
		}
	}
	// An event that names no debug id, of a project nobody uploaded maps
	// to, is left alone: its frames are not minified as far as we know,
	// and a note on each would be noise.
	if len(ev.images) == 0 && !mp.db.HasArtifacts(pid) {
		return body
	}
	var stacks []*fastjson.Value
	for _, exc := range containerValues(root.Get("exception")) {
		stacks = append(stacks, exc.Get("stacktrace"))
	}
	for _, th := range containerValues(root.Get("threads")) {
		stacks = append(stacks, th.Get("stacktrace"))
	}
	a.Reset()
	changed := false
	for _, st := range stacks {
		if st == nil {
			continue
		}
		frames := st.GetArray("frames")
		refs := make([]frameRef, len(frames))
		for i, f := range frames {
			o, err := f.Object()
			if err != nil {
				continue
			}
			refs[i].o = o
			if mp.mapFrame(ev, a, &refs[i]) {
				changed = true
			}
		}
		// A frame's function is the name of the token its caller (the
		// frame before it) called it through.
		for i := 1; i < len(refs); i++ {
			if refs[i].mapped && refs[i-1].mapped && refs[i-1].pos.Name != "" {
				refs[i].o.Set("function", a.NewString(refs[i-1].pos.Name))
			}
		}
	}
	if !changed {
		return body
	}
	return marshal(make([]byte, 0, len(body)+len(body)/2), root)
}

// mayHaveJSFrames is a cheap test that keeps events of other platforms off
// the parser.
func mayHaveJSFrames(body []byte) bool {
	return bytes.Contains(body, []byte(`"frames"`)) &&
		(bytes.Contains(body, []byte(".js")) || bytes.Contains(body, []byte(`"javascript"`)) || bytes.Contains(body, []byte(`"node"`)))
}

type eventCtx struct {
	pid           int
	release, dist string
	images        map[string]string // code_file → debug id
	res           map[string]*resolution
	js            bool
}

// jsFile reports whether a frame's file is one a source map may cover.
func jsFile(ev *eventCtx, file string) bool {
	if file == "" || strings.HasPrefix(file, "node:") || strings.HasPrefix(file, "<") || file == "native" || file == "[native code]" {
		return false
	}
	base := file
	if i := strings.IndexAny(base, "?#"); i >= 0 {
		base = base[:i]
	}
	switch path.Ext(base) {
	case ".js", ".mjs", ".cjs", ".jsx":
		return true
	}
	return ev.js && (strings.HasPrefix(file, "http://") || strings.HasPrefix(file, "https://") || strings.HasPrefix(file, "app://"))
}

// mapFrame maps one frame, or notes why not; it reports whether it wrote
// anything.
func (mp *Mapper) mapFrame(ev *eventCtx, a *fastjson.Arena, r *frameRef) bool {
	o := r.o
	if o.Get("data") != nil && o.Get("data").Get("sourcemap") != nil {
		return false // mapped already (by the SDK or an earlier pass)
	}
	abs := str(o.Get("abs_path"))
	file := str(o.Get("filename"))
	key := abs
	if key == "" {
		key = file
	}
	if !jsFile(ev, key) {
		return false
	}
	line, okLine := num(o.Get("lineno"))
	col, okCol := num(o.Get("colno"))
	if !okLine || line < 1 {
		return false
	}
	if !okCol || col < 1 {
		col = 1
	}
	res := ev.res[key]
	if res == nil {
		res = mp.resolve(ev, abs, file)
		ev.res[key] = res
	}
	note := a.NewObject()
	minified := a.NewObject()
	for _, k := range []string{"filename", "abs_path", "lineno", "colno", "function"} {
		if v := o.Get(k); v != nil {
			minified.Set(k, v)
		}
	}
	defer func() {
		data := o.Get("data")
		if data == nil || data.Type() != fastjson.TypeObject {
			data = a.NewObject()
			o.Set("data", data)
		}
		data.Set("sourcemap", note)
	}()
	if res.reason != "" {
		notMapped(a, note, res.reason, res.note)
		return true
	}
	m, err := mp.load(res.file)
	if err != nil {
		notMapped(a, note, ReasonBroken, fmt.Sprintf("the source map %s (%s %s) cannot be used: %v", res.file.URL, viaName(res.via), res.id, err))
		return true
	}
	pos, err := m.Lookup(line-1, col-1)
	if err != nil {
		notMapped(a, note, ReasonOutside, fmt.Sprintf("line %d, column %d is outside the source map %s (%s %s)", line, col, res.file.URL, viaName(res.via), res.id))
		return true
	}
	r.pos, r.mapped = pos, true
	mp.db.TouchArtifact(res.file)
	note.Set("status", a.NewString("mapped"))
	note.Set("via", a.NewString(res.via))
	if res.via == "debug_id" {
		note.Set("debug_id", a.NewString(res.id))
	}
	note.Set("map", a.NewString(res.file.URL))
	note.Set("minified", minified)
	o.Set("filename", a.NewString(pos.Source))
	o.Set("abs_path", a.NewString(pos.Source))
	o.Set("lineno", a.NewNumberInt(pos.Line))
	o.Set("colno", a.NewNumberInt(pos.Column))
	o.Del("pre_context")
	o.Del("context_line")
	o.Del("post_context")
	if pre, cur, post, ok := m.Context(pos, 5, 4); ok {
		o.Set("pre_context", strArray(a, pre))
		o.Set("context_line", a.NewString(cur))
		o.Set("post_context", strArray(a, post))
	}
	return true
}

func viaName(via string) string {
	if via == "release" {
		return "release file"
	}
	return "debug id"
}

func notMapped(a *fastjson.Arena, note *fastjson.Value, code, text string) {
	note.Set("status", a.NewString("not_mapped"))
	note.Set("reason_code", a.NewString(code))
	note.Set("reason", a.NewString(text))
}

// resolve finds the map of a frame's file: by the debug id the event's
// debug_meta names for it, else by the event's release and the file's URL.
func (mp *Mapper) resolve(ev *eventCtx, abs, file string) *resolution {
	id := ev.images[abs]
	if id == "" {
		id = ev.images[file]
	}
	name := abs
	if name == "" {
		name = file
	}
	if id != "" {
		id = store.NormalizeDebugID(id)
		f, err := mp.db.ArtifactByDebugID(ev.pid, id, "source_map")
		if err == nil {
			return &resolution{file: f, via: "debug_id", id: id}
		}
		if mp.db.HasDebugID(ev.pid, id) {
			return &resolution{reason: ReasonNotInBundle, note: fmt.Sprintf("the upload for debug id %s has no source map (upload the .map file beside %s)", id, path.Base(name))}
		}
		return &resolution{reason: ReasonNoMap, note: fmt.Sprintf("no source map was uploaded for debug id %s (%s): run sentry-cli sourcemaps upload on the build output", id, path.Base(name))}
	}
	if ev.release != "" && mp.db.HasReleaseArtifacts(ev.pid, ev.release, ev.dist) {
		for _, u := range urlCandidates(name) {
			f, err := mp.db.ArtifactByURL(ev.pid, ev.release, ev.dist, u)
			if err != nil {
				continue
			}
			if f.Type == "source_map" {
				return &resolution{file: f, via: "release", id: u}
			}
			if mf := mp.mapOf(ev, f); mf != nil {
				return &resolution{file: mf, via: "release", id: u}
			}
			return &resolution{reason: ReasonNotInBundle, note: fmt.Sprintf("release %s has %s but no source map for it", ev.release, u)}
		}
		return &resolution{reason: ReasonNotInBundle, note: fmt.Sprintf("release %s has no uploaded file at %s (tried %s)", ev.release, name, strings.Join(urlCandidates(name)[:min(3, len(urlCandidates(name)))], ", "))}
	}
	n := fmt.Sprintf("the event names no debug id for %s (run sentry-cli sourcemaps inject before deploying)", path.Base(name))
	if ev.release != "" {
		n += fmt.Sprintf(", and no files were uploaded for release %s", ev.release)
	}
	return &resolution{reason: ReasonNoDebugID, note: n}
}

// urlCandidates lists the URLs a release file for name may have been
// uploaded under: name itself, "~" and its path (host dropped), and "~/"
// followed by each shorter tail of the path.
func urlCandidates(name string) []string {
	out := []string{name}
	p := name
	if u, err := url.Parse(name); err == nil && u.Scheme != "" && u.Scheme != "file" {
		p = u.Path
	} else if strings.HasPrefix(name, "file://") {
		p = strings.TrimPrefix(name, "file://")
	}
	p = "/" + strings.TrimLeft(p, "/")
	out = append(out, "~"+p)
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i := 1; i < len(parts); i++ {
		out = append(out, "~/"+strings.Join(parts[i:], "/"))
	}
	return out
}

// mapOf finds the map of a minified release file: its Sourcemap header or
// sourceMappingURL comment, resolved against its URL, else its URL + ".map".
func (mp *Mapper) mapOf(ev *eventCtx, f *store.ArtifactFile) *store.ArtifactFile {
	ref := f.Header("sourcemap")
	if ref == "" {
		ref = f.Header("x-sourcemap")
	}
	if ref == "" {
		if b, err := mp.db.ArtifactTail(f, 4096); err == nil {
			ref = sourceMappingURL(b)
		}
	}
	var tries []string
	if ref != "" && !strings.HasPrefix(ref, "data:") {
		if u, err := url.Parse(ref); err == nil && u.IsAbs() {
			tries = append(tries, ref)
		} else {
			tries = append(tries, path.Join(path.Dir(f.URL), ref))
			if strings.HasPrefix(f.URL, "~/") {
				tries[0] = "~/" + strings.TrimPrefix(path.Join(path.Dir(strings.TrimPrefix(f.URL, "~")), ref), "/")
			}
		}
	}
	tries = append(tries, f.URL+".map")
	for _, u := range tries {
		if mf, err := mp.db.ArtifactByURL(ev.pid, f.Release, f.Dist, u); err == nil {
			return mf
		}
	}
	return nil
}

// sourceMappingURL returns the last //# sourceMappingURL= of a script.
func sourceMappingURL(b []byte) string {
	s := string(b[max(0, len(b)-4096):])
	i := strings.LastIndex(s, "sourceMappingURL=")
	if i < 0 {
		return ""
	}
	ref := s[i+len("sourceMappingURL="):]
	if j := strings.IndexAny(ref, " \t\r\n*"); j >= 0 {
		ref = ref[:j]
	}
	return ref
}

// load returns the index of f's decoded map: mapped already, read from
// the cache directory, or decoded now and written there.
func (mp *Mapper) load(f *store.ArtifactFile) (*Index, error) {
	o := openIndexes()
	if e := o.get(f.SHA1); e != nil {
		return e.ix, e.err
	}
	path := filepath.Join(mp.cacheDir(), f.SHA1+".smx")
	if !validSum(f.SHA1) {
		path = ""
	}
	e := &openEntry{}
	if path != "" {
		if ix, err := OpenIndex(path); err == nil {
			now := time.Now()
			os.Chtimes(path, now, now) // the cache's LRU order
			e.ix = ix
			o.put(f.SHA1, e)
			return ix, nil
		}
	}
	e.ix, e.err = mp.decode(f, path)
	o.put(f.SHA1, e)
	return e.ix, e.err
}

// decode reads and decodes f and writes its index to path.
func (mp *Mapper) decode(f *store.ArtifactFile, path string) (*Index, error) {
	b, err := mp.db.ArtifactBody(f, MaxMapSize)
	if err != nil {
		if errors.Is(err, store.ErrChunkTooLarge) {
			return nil, fmt.Errorf("over %d MiB", MaxMapSize>>20)
		}
		return nil, err
	}
	m, err := Parse(b)
	if err != nil {
		return nil, err
	}
	b = nil
	if path == "" {
		path = filepath.Join(mp.cacheDir(), fmt.Sprintf(".tmp-%p.smx", m))
		defer os.Remove(path)
	}
	if err := WriteIndex(m, path); err != nil {
		return nil, fmt.Errorf("writing its index: %w", err)
	}
	go trimCache(mp.cacheDir(), mp.cacheBytes)
	return OpenIndex(path)
}

func validSum(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

var trimMu sync.Mutex

// trimCache deletes the least recently used index files while the
// directory holds more than limit bytes of them.
func trimCache(dir string, limit int64) {
	trimMu.Lock()
	defer trimMu.Unlock()
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	type file struct {
		name string
		size int64
		mod  time.Time
	}
	var fs []file
	var total int64
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil || !strings.HasSuffix(e.Name(), ".smx") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		fs = append(fs, file{e.Name(), fi.Size(), fi.ModTime()})
		total += fi.Size()
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].mod.Before(fs[j].mod) })
	for _, x := range fs {
		if total <= limit {
			break
		}
		os.Remove(filepath.Join(dir, x.name))
		total -= x.size
	}
}

func str(v *fastjson.Value) string {
	if v == nil || v.Type() != fastjson.TypeString {
		return ""
	}
	return string(v.GetStringBytes())
}

func num(v *fastjson.Value) (int, bool) {
	if v == nil || v.Type() != fastjson.TypeNumber {
		return 0, false
	}
	n, err := strconv.ParseFloat(v.String(), 64)
	if err != nil || n > 1<<30 {
		return 0, false
	}
	return int(n), true
}

func strArray(a *fastjson.Arena, ss []string) *fastjson.Value {
	arr := a.NewArray()
	for i, s := range ss {
		arr.SetArrayItem(i, a.NewString(s))
	}
	return arr
}

// containerValues returns the values of {"values": [...]} or a bare array.
func containerValues(v *fastjson.Value) []*fastjson.Value {
	if v == nil {
		return nil
	}
	if v.Type() == fastjson.TypeArray {
		a, _ := v.Array()
		return a
	}
	return v.GetArray("values")
}
