package sourcemap

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tinysink/tinysink/store"
)

// The index answers every lookup and context as the decoded map does, for
// real maps: a single-line minified bundle (react-dom), jquery and a
// multi-line one.
func TestIndexMatchesMap(t *testing.T) {
	for _, name := range []string{"traceback.min.map", "jquery.min.map", "react-dom.min.map"} {
		m, err := Parse(readFile(t, name))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "x.smx")
		if err := WriteIndex(m, path); err != nil {
			t.Fatal(err)
		}
		ix, err := OpenIndex(path)
		if err != nil {
			t.Fatal(err)
		}
		checked := 0
		for i := 0; i < len(m.segs); i += 1 + len(m.segs)/3000 {
			s := m.segs[i]
			for _, d := range []int32{-1, 0, 1, 7} {
				line, col := int(s.genLine), int(s.genCol+d)
				p1, e1 := m.Lookup(line, col)
				p2, e2 := ix.Lookup(line, col)
				if p1 != p2 || e1 != e2 {
					t.Fatalf("%s: Lookup(%d, %d) = %+v, %v from the index; %+v, %v from the map", name, line, col, p2, e2, p1, e1)
				}
				if e1 != nil {
					continue
				}
				checked++
				for _, ctx := range [][2]int{{5, 4}, {0, 0}, {100, 100}} {
					a1, b1, c1, ok1 := m.Context(p1, ctx[0], ctx[1])
					a2, b2, c2, ok2 := ix.Context(p2, ctx[0], ctx[1])
					if !reflect.DeepEqual(a1, a2) || b1 != b2 || !reflect.DeepEqual(c1, c2) || ok1 != ok2 {
						t.Fatalf("%s: Context(%+v, %v) differs: index %q %q %q %v, map %q %q %q %v", name, p1, ctx, a2, b2, c2, ok2, a1, b1, c1, ok1)
					}
				}
			}
		}
		if checked < 100 {
			t.Errorf("%s: only %d positions mapped", name, checked)
		}
		for _, pos := range [][2]int{{-1, 0}, {0, -1}, {1 << 29, 0}, {0, 1 << 29}} {
			_, e1 := m.Lookup(pos[0], pos[1])
			_, e2 := ix.Lookup(pos[0], pos[1])
			if e1 != e2 {
				t.Errorf("%s: Lookup%v: index %v, map %v", name, pos, e2, e1)
			}
		}
	}
}

// A torn or foreign index file is refused, never read past its end.
func TestIndexRefusesBadFiles(t *testing.T) {
	m, err := Parse(readFile(t, "traceback.min.map"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "good.smx")
	if err := WriteIndex(m, path); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	for name, b := range map[string][]byte{
		"torn":    good[:len(good)-1],
		"header":  good[:indexHeaderSize-1],
		"magic":   append([]byte("NOTANIDX"), good[8:]...),
		"longer":  append(append([]byte{}, good...), 0),
		"empty":   nil,
		"counts":  append(append(append([]byte{}, good[:8]...), 0xff, 0xff, 0xff, 0x0f), good[12:]...),
		"nothing": []byte(strings.Repeat("\x00", 200)),
	} {
		p := filepath.Join(dir, name+".smx")
		os.WriteFile(p, b, 0o600)
		if _, err := OpenIndex(p); err == nil {
			t.Errorf("%s: OpenIndex accepted it", name)
		}
	}
}

// countingStore counts the map bodies read.
type countingStore struct {
	*store.DB
	bodies int
}

func (c *countingStore) ArtifactBody(f *store.ArtifactFile, max int64) ([]byte, error) {
	c.bodies++
	return c.DB.ArtifactBody(f, max)
}

// A map is decoded once: its index stays on disk, and a later process
// (here: the table of open indexes emptied) maps frames from the index
// without reading or decoding the map again. A torn index is rebuilt.
func TestMapperKeepsDecodedMapsOnDisk(t *testing.T) {
	db := openStore(t)
	cs := &countingStore{DB: db}
	upload(t, db, "", bundleFile{"traceback.min.map", "~/traceback.min.map", "source_map", idMapped, readFile(t, "traceback.min.map")})
	body := jsEvent(map[string]string{"https://app.example/traceback.min.js": idMapped}, "", [3]any{"https://app.example/traceback.min.js", 1, 40})
	mp := NewMapper(cs)
	clearOpen := func() {
		o := openIndexes()
		o.mu.Lock()
		clear(o.entries)
		o.mu.Unlock()
	}
	clearOpen()
	first := mp.Apply(1, body)
	if n := note(framesOf(t, first)[0])["status"]; n != "mapped" {
		t.Fatalf("frame not mapped: %s", first)
	}
	if cs.bodies != 1 {
		t.Fatalf("%d map bodies read, want 1", cs.bodies)
	}
	files, _ := filepath.Glob(filepath.Join(db.Dir(), "sourcemaps", "*.smx"))
	if len(files) != 1 {
		t.Fatalf("index files %v, want one", files)
	}
	clearOpen()
	if again := mp.Apply(1, body); string(again) != string(first) {
		t.Errorf("mapped from the index:\n%s\nfrom the map:\n%s", again, first)
	}
	if cs.bodies != 1 {
		t.Errorf("%d map bodies read after the index was written, want 1", cs.bodies)
	}
	// Torn as by a crash (written beside it and renamed over it: an
	// index is never rewritten in place, since it may be mapped).
	b, _ := os.ReadFile(files[0])
	os.WriteFile(files[0]+".torn", b[:len(b)/2], 0o600)
	os.Rename(files[0]+".torn", files[0])
	clearOpen()
	if again := mp.Apply(1, body); string(again) != string(first) {
		t.Errorf("after a torn index:\n%s\nwant\n%s", again, first)
	}
	if cs.bodies != 2 {
		t.Errorf("%d map bodies read, want the torn index rebuilt from the map (2)", cs.bodies)
	}
	if _, err := OpenIndex(files[0]); err != nil {
		t.Errorf("the rebuilt index does not open: %v", err)
	}
}

// The cache directory is trimmed to its bound, least recently used first.
func TestTrimCache(t *testing.T) {
	dir := t.TempDir()
	testTime := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, name := range []string{"a", "b", "c", "d"} {
		p := filepath.Join(dir, name+".smx")
		os.WriteFile(p, make([]byte, 1000), 0o600)
		tm := testTime.Add(time.Duration(i) * time.Hour)
		os.Chtimes(p, tm, tm)
	}
	os.WriteFile(filepath.Join(dir, ".tmp-x.smx"), make([]byte, 5000), 0o600)
	trimCache(dir, 2500)
	var left []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		left = append(left, e.Name())
	}
	if want := []string{".tmp-x.smx", "c.smx", "d.smx"}; !reflect.DeepEqual(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}
}

// FuzzIndex reads arbitrary bytes as an index: they must be refused, or
// answer lookups without reading outside them.
func FuzzIndex(f *testing.F) {
	// Small seeds: the fuzzer minimises what it finds, and a large seed
	// makes that take minutes.
	for _, src := range []string{
		`{"version":3,"sources":["a.js","b.js"],"sourcesContent":["x\ny\nz\n",null],"names":["f","g"],"mappings":"AAAAA,EAACC;ACAA"}`,
		`{"version":3,"sections":[{"offset":{"line":1,"column":10},"map":{"version":3,"sources":["b.js"],"names":["beta"],"mappings":"AACAA;AACA","sourcesContent":["x\nbeta()\n"]}}]}`,
	} {
		m, err := Parse([]byte(src))
		if err != nil {
			f.Fatal(err)
		}
		p := filepath.Join(f.TempDir(), "seed.smx")
		if err := WriteIndex(m, p); err != nil {
			f.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		f.Add(b, 0, 2)
		f.Add(b, 1, 12)
	}
	f.Fuzz(func(t *testing.T, b []byte, line, col int) {
		ix, err := newIndex(b)
		if err != nil {
			return
		}
		for i := range 64 {
			if pos, err := ix.Lookup(line+i/8, col+i); err == nil {
				ix.Context(pos, 5, 4)
			}
		}
	})
}
