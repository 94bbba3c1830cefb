package btree

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func openTest(t testing.TB, path string, committed uint64, opt Options) *DB {
	t.Helper()
	db, err := Open(path, committed, opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return db
}

func newTestDB(t testing.TB, opt Options) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tree")
	db := openTest(t, path, 0, opt)
	t.Cleanup(func() { db.Close() })
	return db, path
}

func mustCommit(t testing.TB, tx *Tx) {
	t.Helper()
	if err := tx.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

func get(t testing.TB, db *DB, key string) (v string, ok bool) {
	t.Helper()
	if err := db.View(func(tx *Tx) error {
		v, ok = tx.Get(key)
		return nil
	}); err != nil {
		t.Fatalf("View: %v", err)
	}
	return v, ok
}

// checkPages verifies that every page but the meta page is either reachable
// from the root (tree and overflow pages) or on the freelist, exactly once,
// and that the freelist count is right.
func checkPages(t testing.TB, db *DB) {
	t.Helper()
	err := db.View(func(tx *Tx) error {
		seen := make([]bool, tx.meta.pages)
		mark := func(pg uint32) error {
			if pg == 0 || pg >= tx.meta.pages {
				return fmt.Errorf("page %d out of range", pg)
			}
			if seen[pg] {
				return fmt.Errorf("page %d used twice", pg)
			}
			seen[pg] = true
			return nil
		}
		var walk func(pg uint32, depth int) (int, error)
		walk = func(pg uint32, depth int) (int, error) {
			if err := mark(pg); err != nil {
				return 0, err
			}
			p, err := tx.page(pg)
			if err != nil {
				return 0, err
			}
			if p[0] == typeLeaf {
				if numCells(p) == 0 && pg != tx.meta.root {
					return 0, fmt.Errorf("empty leaf %d", pg)
				}
				for i := range numCells(p) {
					if i > 0 && string(leafKey(p, i-1)) >= string(leafKey(p, i)) {
						return 0, fmt.Errorf("leaf %d out of order", pg)
					}
					d := leafVal(p, i)
					if d[0] != valOverflow {
						continue
					}
					for opg := le.Uint32(d[valHdr:]); opg != 0; {
						if err := mark(opg); err != nil {
							return 0, err
						}
						op, err := tx.rawPage(opg, false)
						if err != nil {
							return 0, err
						}
						opg = le.Uint32(op[4:8])
					}
				}
				return depth, nil
			}
			leafDepth := -1
			for j := 0; j <= numCells(p); j++ {
				d, err := walk(child(p, j), depth+1)
				if err != nil {
					return 0, err
				}
				if leafDepth >= 0 && d != leafDepth {
					return 0, fmt.Errorf("branch %d: leaves at depths %d and %d", pg, leafDepth, d)
				}
				leafDepth = d
			}
			return leafDepth, nil
		}
		if _, err := walk(tx.meta.root, 0); err != nil {
			return err
		}
		free := 0
		for pg := tx.meta.freeHead; pg != 0; {
			if err := mark(pg); err != nil {
				return err
			}
			free++
			p, err := tx.rawPage(pg, false)
			if err != nil {
				return err
			}
			for i := range int(le.Uint32(p[8:12])) {
				if err := mark(le.Uint32(p[hdrSize+4*i:])); err != nil {
					return err
				}
				free++
			}
			pg = le.Uint32(p[4:8])
		}
		if free != int(tx.meta.freeCount) {
			return fmt.Errorf("freelist has %d pages, meta says %d", free, tx.meta.freeCount)
		}
		for pg := 1; pg < len(seen); pg++ {
			if !seen[pg] {
				return fmt.Errorf("page %d leaked", pg)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("checkPages: %v", err)
	}
}

// model is the reference: a map, sorted on demand.
type model map[string]string

func (m model) scan(prefix, from string, desc, bounded bool, limit int) []string {
	return m.scanSorted(slices.Sorted(maps.Keys(m)), prefix, from, desc, bounded, limit)
}

// scanSorted is scan over keys, m's keys in ascending order.
func (m model) scanSorted(keys []string, prefix, from string, desc, bounded bool, limit int) []string {
	var out []string
	for i := range keys {
		k := keys[i]
		if desc {
			k = keys[len(keys)-1-i]
		}
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if bounded && (!desc && k < from || desc && k > from) {
			continue
		}
		if len(out) >= 2*limit {
			break
		}
		out = append(out, k, m[k])
	}
	return out
}

func scanTx(tx *Tx, prefix, from string, desc, bounded bool, limit int) []string {
	var out []string
	fn := func(k, v string) bool {
		out = append(out, k, v)
		return len(out) < 2*limit
	}
	switch {
	case !desc && !bounded:
		tx.Ascend(prefix, fn)
	case !desc:
		tx.AscendFrom(prefix, from, fn)
	case !bounded:
		tx.Descend(prefix, fn)
	default:
		tx.DescendFrom(prefix, from, fn)
	}
	return out
}

// gen makes keys and values that share long prefixes, with some large values.
type gen struct{ r *rand.Rand }

var prefixes = []string{"", "a", "ab", "b:", strings.Repeat("p", 300) + ":", "issue:0000000", "\xff\xff"}

func (g gen) key() string {
	p := prefixes[g.r.IntN(len(prefixes))]
	n := g.r.IntN(12)
	if g.r.IntN(20) == 0 {
		n = g.r.IntN(MaxKeySize - len(p) + 1)
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = "abc0\x00\xff"[g.r.IntN(6)]
	}
	return p + string(b)
}

func (g gen) value() string {
	n := g.r.IntN(100)
	switch g.r.IntN(20) {
	case 0:
		n = g.r.IntN(100 << 10)
	case 1, 2:
		n = 900 + g.r.IntN(3000)
	}
	return strings.Repeat(string(rune('a'+g.r.IntN(26))), n) + fmt.Sprint(g.r.Uint64())
}

func (g gen) scanArgs(m model) (prefix, from string) {
	prefix = prefixes[g.r.IntN(len(prefixes))]
	if g.r.IntN(3) == 0 && len(m) > 0 {
		for k := range m { // any key, cut
			prefix = k[:g.r.IntN(len(k)+1)]
			break
		}
	}
	from = g.key()
	return prefix, from
}

func checkScans(t *testing.T, g gen, tx *Tx, m model, n int) {
	t.Helper()
	keys := slices.Sorted(maps.Keys(m))
	for range n {
		prefix, from := g.scanArgs(m)
		limit := 1 + g.r.IntN(40)
		for _, c := range []struct{ desc, bounded bool }{{false, false}, {false, true}, {true, false}, {true, true}} {
			got := scanTx(tx, prefix, from, c.desc, c.bounded, limit)
			want := m.scanSorted(keys, prefix, from, c.desc, c.bounded, limit)
			if !slices.Equal(got, want) {
				t.Fatalf("scan(prefix %q, from %q, desc %v, bounded %v, limit %d): got %d strings, want %d\ngot keys  %q\nwant keys %q",
					prefix, from, c.desc, c.bounded, limit, len(got), len(want), evens(got), evens(want))
			}
		}
	}
}

func evens(s []string) []string {
	var out []string
	for i := 0; i < len(s); i += 2 {
		out = append(out, s[i])
	}
	return out
}

func compareAll(t *testing.T, db *DB, m model) {
	t.Helper()
	err := db.View(func(tx *Tx) error {
		got := scanTx(tx, "", "", false, false, 1<<30)
		want := m.scan("", "", false, false, 1<<30)
		if !slices.Equal(got, want) {
			t.Fatalf("full scan: got %d keys, want %d", len(got)/2, len(want)/2)
		}
		for k, v := range m {
			if got, ok := tx.Get(k); !ok || got != v {
				t.Fatalf("Get(%q) = %d bytes, %v; want %d bytes", k, len(got), ok, len(v))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
}

func TestModel(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tree")
	opt := Options{CacheBytes: 16 * pageSize}
	db := openTest(t, path, 0, opt)
	defer func() { db.Close() }()
	g := gen{rand.New(rand.NewPCG(1, 2))}
	m := model{}
	txs := 250
	if testing.Short() {
		txs = 100
	}
	for i := range txs {
		tx := db.Begin()
		local := maps.Clone(m)
		for range 1 + g.r.IntN(60) {
			switch op := g.r.IntN(10); {
			case op < 5:
				k, v := g.key(), g.value()
				if err := tx.Set(k, v); err != nil {
					t.Fatalf("Set: %v", err)
				}
				local[k] = v
			case op < 8:
				k := g.key()
				if g.r.IntN(2) == 0 && len(local) > 0 {
					for k = range local {
						break
					}
				}
				_, want := local[k]
				if got := tx.Delete(k); got != want {
					t.Fatalf("Delete(%q) = %v, want %v", k, got, want)
				}
				delete(local, k)
			default:
				k := g.key()
				want, wok := local[k]
				if got, ok := tx.Get(k); ok != wok || got != want {
					t.Fatalf("Get(%q) = %d bytes, %v; want %d bytes, %v", k, len(got), ok, len(want), wok)
				}
			}
		}
		checkScans(t, g, tx, local, 3)
		if err := tx.Err(); err != nil {
			t.Fatalf("tx %d: %v", i, err)
		}
		if g.r.IntN(10) == 0 {
			tx.Rollback()
		} else {
			mustCommit(t, tx)
			m = local
		}
		if err := db.View(func(tx *Tx) error {
			checkScans(t, g, tx, m, 2)
			return nil
		}); err != nil {
			t.Fatalf("View: %v", err)
		}
		if i%50 == 49 {
			compareAll(t, db, m)
			checkPages(t, db)
			if err := db.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			db = openTest(t, path, db.Seq(), opt)
			compareAll(t, db, m)
		}
	}
	// Delete everything: the tree must shrink back to one empty leaf.
	tx := db.Begin()
	for k := range m {
		if !tx.Delete(k) {
			t.Fatalf("Delete(%q) = false", k)
		}
	}
	mustCommit(t, tx)
	compareAll(t, db, model{})
	checkPages(t, db)
	if st := db.Stats(); st.Pages-st.FreePages != 2 {
		t.Errorf("empty tree uses %d pages, want 2 (meta and root)", st.Pages-st.FreePages)
	}
}

// crash closes db's files without a checkpoint, leaving the tree file and
// journal as a crash would, and ends tx, a prepared transaction.
func crash(t testing.TB, db *DB, tx *Tx) {
	t.Helper()
	db.mu.Lock()
	db.closed = true
	db.mu.Unlock()
	db.f.Close()
	db.jf.Close()
	if tx != nil {
		tx.done = true
		db.wmu.Unlock()
	}
}

func setAll(t testing.TB, db *DB, kv ...string) {
	t.Helper()
	tx := db.Begin()
	for i := 0; i < len(kv); i += 2 {
		if err := tx.Set(kv[i], kv[i+1]); err != nil {
			t.Fatalf("Set: %v", err)
		}
	}
	mustCommit(t, tx)
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func TestRollback(t *testing.T) {
	t.Parallel()
	db, path := newTestDB(t, Options{})
	setAll(t, db, "a", "1", "b", strings.Repeat("x", 5000))
	before := db.Stats()
	seq := db.Seq()

	tx := db.Begin()
	tx.Set("a", "2")
	tx.Set("c", strings.Repeat("y", 50000))
	tx.Delete("b")
	if !tx.Dirty() {
		t.Fatal("Dirty = false after Set")
	}
	if v, _ := tx.Get("a"); v != "2" {
		t.Errorf("tx.Get(a) = %q, want 2", v)
	}
	tx.Rollback()

	journal := fileSize(t, path+".journal")
	tx = db.Begin()
	tx.Set("a", "3")
	if err := tx.Prepare(); err != nil {
		t.Fatal(err)
	}
	if fileSize(t, path+".journal") == journal {
		t.Error("journal did not grow in Prepare")
	}
	tx.Rollback()
	if n := fileSize(t, path+".journal"); n != journal {
		t.Errorf("journal is %d bytes after Rollback, want %d", n, journal)
	}

	if v, _ := get(t, db, "a"); v != "1" {
		t.Errorf("a = %q, want 1", v)
	}
	if v, _ := get(t, db, "b"); len(v) != 5000 {
		t.Errorf("b has %d bytes, want 5000", len(v))
	}
	if _, ok := get(t, db, "c"); ok {
		t.Error("c exists after Rollback")
	}
	if db.Seq() != seq {
		t.Errorf("Seq = %d after Rollback, want %d", db.Seq(), seq)
	}
	if got := db.Stats(); got.Pages != before.Pages || got.FreePages != before.FreePages {
		t.Errorf("Stats = %+v after Rollback, want %+v", got, before)
	}
	if tx.Set("x", "y") != ErrTxDone {
		t.Error("Set after Rollback did not return ErrTxDone")
	}
	checkPages(t, db)
}

func TestCleanTx(t *testing.T) {
	t.Parallel()
	db, _ := newTestDB(t, Options{})
	tx := db.Begin()
	if tx.Seq() != 1 {
		t.Errorf("Seq = %d, want 1", tx.Seq())
	}
	tx.Delete("missing")
	if tx.Dirty() {
		t.Error("Dirty after deleting a missing key")
	}
	mustCommit(t, tx)
	if db.Seq() != 0 {
		t.Errorf("db.Seq = %d after a clean commit, want 0", db.Seq())
	}
	setAll(t, db, "k", "v")
	if db.Seq() != 1 {
		t.Errorf("db.Seq = %d, want 1", db.Seq())
	}
}

func TestViewIsolation(t *testing.T) {
	t.Parallel()
	db, _ := newTestDB(t, Options{})
	setAll(t, db, "k", "old")
	tx := db.Begin()
	tx.Set("k", "new")
	tx.Set("n", "new")
	if v, _ := get(t, db, "k"); v != "old" {
		t.Errorf("View sees k = %q during the write tx, want old", v)
	}
	if err := tx.Prepare(); err != nil {
		t.Fatal(err)
	}
	if _, ok := get(t, db, "n"); ok {
		t.Error("View sees n after Prepare")
	}
	if err := tx.Apply(); err != nil {
		t.Fatal(err)
	}
	if v, _ := get(t, db, "k"); v != "new" {
		t.Errorf("k = %q after Apply, want new", v)
	}
	err := db.View(func(tx *Tx) error { return tx.Set("a", "b") })
	if !errors.Is(err, ErrReadOnly) {
		t.Errorf("Set in View: %v, want ErrReadOnly", err)
	}
}

// TestViewDuringCommit runs a View that spans another goroutine's commit:
// the View keeps seeing the old state, and the commit lands after it.
func TestViewDuringCommit(t *testing.T) {
	t.Parallel()
	db, _ := newTestDB(t, Options{CacheBytes: 16 * pageSize})
	tx := db.Begin()
	for i := range 2000 {
		tx.Set(fmt.Sprintf("k%05d", i), "v0")
	}
	mustCommit(t, tx)

	prepared := make(chan struct{})
	done := make(chan error)
	err := db.View(func(vtx *Tx) error {
		go func() {
			tx := db.Begin()
			for i := range 2000 {
				tx.Set(fmt.Sprintf("k%05d", i), "v1")
			}
			err := tx.Prepare()
			close(prepared)
			if err == nil {
				err = tx.Apply() // waits for the View
			}
			done <- err
		}()
		<-prepared
		n := 0
		vtx.Ascend("k", func(k, v string) bool {
			if v != "v0" {
				t.Errorf("View sees %s = %s", k, v)
				return false
			}
			n++
			return true
		})
		if n != 2000 {
			t.Errorf("View saw %d keys, want 2000", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if v, _ := get(t, db, "k01999"); v != "v1" {
		t.Errorf("after commit k01999 = %q, want v1", v)
	}
}

// TestConcurrentReaders runs readers against a writer, for -race.
func TestConcurrentReaders(t *testing.T) {
	t.Parallel()
	db, _ := newTestDB(t, Options{CacheBytes: 16 * pageSize})
	stop := readWhile(t, db, func(r int, tx *Tx) error {
		// Every committed batch sets all of its keys to the same value.
		var first string
		bad := false
		tx.Ascend("k", func(k, v string) bool {
			if first == "" {
				first = v
			}
			bad = v != first
			return !bad
		})
		if bad {
			return fmt.Errorf("reader %d saw a partial commit", r)
		}
		return nil
	})
	for i := range 30 {
		tx := db.Begin()
		for j := range 300 {
			tx.Set(fmt.Sprintf("k%04d", j), fmt.Sprint(i))
		}
		mustCommit(t, tx)
	}
	stop()
}

// readWhile runs two readers (as many as the cores CI has: more only take
// the writer's turns), each calling View with check over and over, until
// the function it returns is called; that function waits for them and
// fails t with each reader's error.
func readWhile(t *testing.T, db *DB, check func(reader int, tx *Tx) error) (stop func()) {
	const readers = 2
	done := make(chan struct{})
	errc := make(chan error, readers)
	for r := range readers {
		go func() {
			for {
				select {
				case <-done:
					errc <- nil
					return
				default:
				}
				if err := db.View(func(tx *Tx) error { return check(r, tx) }); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	return func() {
		close(done)
		for range readers {
			if err := <-errc; err != nil {
				t.Error(err)
			}
		}
	}
}

func TestRecoverRedo(t *testing.T) {
	t.Parallel()
	db, path := newTestDB(t, Options{})
	setAll(t, db, "a", "1")
	tx := db.Begin()
	tx.Set("a", "2")
	tx.Set("big", strings.Repeat("z", 20000))
	if err := tx.Prepare(); err != nil {
		t.Fatal(err)
	}
	seq := tx.Seq()
	crash(t, db, tx)

	db = openTest(t, path, seq, Options{})
	defer db.Close()
	if v, _ := get(t, db, "a"); v != "2" {
		t.Errorf("a = %q after redo, want 2", v)
	}
	if v, _ := get(t, db, "big"); len(v) != 20000 {
		t.Errorf("big has %d bytes after redo, want 20000", len(v))
	}
	if db.Seq() != seq {
		t.Errorf("Seq = %d, want %d", db.Seq(), seq)
	}
	if n := fileSize(t, path+".journal"); n != 0 {
		t.Errorf("journal is %d bytes after Open, want 0", n)
	}
	checkPages(t, db)
}

func TestRecoverDiscard(t *testing.T) {
	t.Parallel()
	db, path := newTestDB(t, Options{})
	setAll(t, db, "a", "1")
	tx := db.Begin()
	tx.Set("a", "2")
	if err := tx.Prepare(); err != nil {
		t.Fatal(err)
	}
	seq := tx.Seq()
	crash(t, db, tx)

	db = openTest(t, path, seq-1, Options{})
	if v, _ := get(t, db, "a"); v != "1" {
		t.Errorf("a = %q after discard, want 1", v)
	}
	if db.Seq() != seq-1 {
		t.Errorf("Seq = %d, want %d", db.Seq(), seq-1)
	}
	// The discarded sequence is handed out again.
	setAll(t, db, "a", "3")
	if db.Seq() != seq {
		t.Errorf("Seq = %d, want %d", db.Seq(), seq)
	}
	db.Close()
	db = openTest(t, path, seq, Options{})
	defer db.Close()
	if v, _ := get(t, db, "a"); v != "3" {
		t.Errorf("a = %q, want 3", v)
	}
}

func TestRecoverAhead(t *testing.T) {
	t.Parallel()
	db, path := newTestDB(t, Options{})
	setAll(t, db, "a", "1")
	setAll(t, db, "a", "2")
	db.Close()
	if _, err := Open(path, 1, Options{}); !errors.Is(err, ErrAhead) {
		t.Errorf("Open behind the tree: %v, want ErrAhead", err)
	}
}

// TestRecoverMany loses every tree write since the last checkpoint (the
// tree file is put back to a copy taken then): redo brings all back.
func TestRecoverMany(t *testing.T) {
	t.Parallel()
	db, path := newTestDB(t, Options{})
	setAll(t, db, "base", "1")
	db.Close()
	snapshot, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	db = openTest(t, path, 1, Options{})
	m := model{"base": "1"}
	g := gen{rand.New(rand.NewPCG(3, 4))}
	for range 5 {
		tx := db.Begin()
		for range 100 {
			k, v := g.key(), g.value()
			tx.Set(k, v)
			m[k] = v
		}
		mustCommit(t, tx)
	}
	seq := db.Seq()
	crash(t, db, nil)
	if err := os.WriteFile(path, snapshot, 0o644); err != nil {
		t.Fatal(err)
	}
	db = openTest(t, path, seq, Options{})
	defer db.Close()
	compareAll(t, db, m)
	checkPages(t, db)
}

func TestRecoverTorn(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		tear func(t *testing.T, journal string)
	}{
		{"truncated mid-entry", func(t *testing.T, journal string) {
			if err := os.Truncate(journal, fileSize(t, journal)-100); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated in header", func(t *testing.T, journal string) {
			if err := os.Truncate(journal, 10); err != nil {
				t.Fatal(err)
			}
		}},
		{"flipped byte", func(t *testing.T, journal string) {
			b, err := os.ReadFile(journal)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 0x40
			if err := os.WriteFile(journal, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db, path := newTestDB(t, Options{})
			setAll(t, db, "a", "1")
			tx := db.Begin()
			tx.Set("a", "2")
			if err := tx.Prepare(); err != nil {
				t.Fatal(err)
			}
			seq := tx.Seq()
			crash(t, db, tx)
			tt.tear(t, path+".journal")
			db = openTest(t, path, seq, Options{})
			defer db.Close()
			if v, _ := get(t, db, "a"); v != "1" {
				t.Errorf("a = %q after a torn entry, want 1", v)
			}
			if n := fileSize(t, path+".journal"); n != 0 {
				t.Errorf("journal is %d bytes after Open, want 0", n)
			}
		})
	}
}

// TestRecoverPartialApply writes some of an entry's pages to the tree file
// by hand, one of them torn, then reopens: redo repairs the file.
func TestRecoverPartialApply(t *testing.T) {
	t.Parallel()
	db, path := newTestDB(t, Options{})
	m := model{}
	tx := db.Begin()
	for i := range 3000 {
		k := fmt.Sprintf("key%05d", i)
		tx.Set(k, "v")
		m[k] = "v"
	}
	mustCommit(t, tx)
	db.Close()
	db = openTest(t, path, db.Seq(), Options{})

	tx = db.Begin()
	for i := 0; i < 3000; i += 7 {
		k := fmt.Sprintf("key%05d", i)
		tx.Set(k, "changed")
		m[k] = "changed"
	}
	if err := tx.Prepare(); err != nil {
		t.Fatal(err)
	}
	seq := tx.Seq()
	crash(t, db, tx)

	j, err := os.ReadFile(path + ".journal")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := int(le.Uint32(j[4:]))
	if n < 4 {
		t.Fatalf("entry has %d pages, want more", n)
	}
	for i := 0; i < n/2; i++ {
		rec := j[entryHdrSize+i*entryPageSize:]
		pg := int64(le.Uint32(rec))
		img := rec[4 : 4+pageSize]
		if i == n/2-1 {
			img = img[:pageSize/2] // torn
		}
		if _, err := f.WriteAt(img, pg*pageSize); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()

	db = openTest(t, path, seq, Options{})
	defer db.Close()
	compareAll(t, db, m)
	checkPages(t, db)
}

func TestCorruptPage(t *testing.T) {
	t.Parallel()
	db, path := newTestDB(t, Options{})
	tx := db.Begin()
	for i := range 1000 {
		tx.Set(fmt.Sprintf("key%05d", i), "value")
	}
	mustCommit(t, tx)
	db.Close()

	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xde, 0xad}, 2*pageSize+100); err != nil {
		t.Fatal(err)
	}
	f.Close()

	db = openTest(t, path, db.Seq(), Options{})
	defer db.Close()
	err = db.View(func(tx *Tx) error {
		tx.Ascend("", func(k, v string) bool { return true })
		return nil
	})
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("Ascend over a corrupt page: %v, want ErrCorrupt", err)
	}
	tx = db.Begin()
	for i := range 1000 {
		tx.Set(fmt.Sprintf("key%05d", i), "other")
	}
	if err := tx.Commit(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Commit over a corrupt page: %v, want ErrCorrupt", err)
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	db, path := newTestDB(t, Options{})
	tx := db.Begin()
	if err := tx.Set(strings.Repeat("k", MaxKeySize+1), "v"); err != ErrKeyTooLarge {
		t.Errorf("Set with a long key: %v, want ErrKeyTooLarge", err)
	}
	if err := tx.Set("k", strings.Repeat("v", MaxValueSize+1)); err != ErrValueTooLarge {
		t.Errorf("Set with a long value: %v, want ErrValueTooLarge", err)
	}
	long := strings.Repeat("k", MaxKeySize)
	big := strings.Repeat("0123456789", MaxValueSize/10) + "0123"
	for i := range 20 {
		if err := tx.Set(fmt.Sprintf("%s%03d", long[:MaxKeySize-3], i), big[:len(big)-i]); err != nil {
			t.Fatalf("Set: %v", err)
		}
	}
	tx.Set("", "empty key")
	mustCommit(t, tx)
	db.Close()
	db = openTest(t, path, db.Seq(), Options{})
	defer db.Close()
	for i := range 20 {
		if v, _ := get(t, db, fmt.Sprintf("%s%03d", long[:MaxKeySize-3], i)); v != big[:len(big)-i] {
			t.Errorf("value %d: got %d bytes, want %d", i, len(v), len(big)-i)
		}
	}
	if v, _ := get(t, db, ""); v != "empty key" {
		t.Errorf("empty key = %q", v)
	}
	checkPages(t, db)
}

// TestChurn inserts, deletes and inserts again: the file does not grow,
// because freed pages are reused.
func TestChurn(t *testing.T) {
	t.Parallel()
	// 10,000 keys in five commits per pass fill some 80 leaves, several
	// times a page cache of 16 pages: the shapes of 50,000 keys against the
	// default cache, at a fifth of the cost.
	db, path := newTestDB(t, Options{CacheBytes: 16 * pageSize})
	const n, perCommit = 10000, 2000
	r := rand.New(rand.NewPCG(5, 6))
	insert := func(day int) {
		for _, batch := range slices.Collect(slices.Chunk(r.Perm(n), perCommit)) {
			tx := db.Begin()
			for _, i := range batch {
				tx.Set(fmt.Sprintf("hour:%03d:%06d", day, i), "12345")
			}
			mustCommit(t, tx)
		}
	}
	remove := func(day int) {
		for _, batch := range slices.Collect(slices.Chunk(r.Perm(n), perCommit)) {
			tx := db.Begin()
			for _, i := range batch {
				if !tx.Delete(fmt.Sprintf("hour:%03d:%06d", day, i)) {
					t.Fatalf("Delete %d/%d = false", day, i)
				}
			}
			mustCommit(t, tx)
		}
	}
	insert(0)
	full := db.Stats().Pages
	remove(0)
	if st := db.Stats(); st.Pages-st.FreePages != 2 {
		t.Errorf("after deleting all, %d pages in use, want 2", st.Pages-st.FreePages)
	}
	insert(1)
	remove(1)
	insert(2)
	checkPages(t, db)
	if got := db.Stats().Pages; got > full+full/20 {
		t.Errorf("file has %d pages after churn, %d after the first insert", got, full)
	}
	db.Close()
	if got := fileSize(t, path); got > int64(full+full/20)*pageSize {
		t.Errorf("file is %d bytes", got)
	}
}

// TestMemory inserts 100k keys (some 5 MB of keys and values) and checks
// that the heap stays under 4 MiB: it holds the page cache, not the keys.
func TestMemory(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("100k inserts; the race detector's heap is not the one measured")
	}
	db, _ := newTestDB(t, Options{})
	const n = 100000
	r := rand.New(rand.NewPCG(7, 8))
	perm := r.Perm(n)
	for i := 0; i < n; i += 5000 {
		tx := db.Begin()
		for _, k := range perm[i : i+5000] {
			tx.Set(fmt.Sprintf("issue:%010d", k), fmt.Sprintf(`{"count":%d,"title":"some error"}`, k))
		}
		mustCommit(t, tx)
	}
	if err := db.View(func(tx *Tx) error {
		n := 0
		tx.Ascend("issue:", func(k, v string) bool { n++; return true })
		if n != 100000 {
			t.Errorf("Ascend saw %d keys", n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("HeapInuse %d KiB, file %d pages, cache %d pages", ms.HeapInuse>>10, db.Stats().Pages, db.Stats().CachedPages)
	if ms.HeapInuse > 4<<20 {
		t.Errorf("HeapInuse = %d KiB after 100k keys, want < 4 MiB", ms.HeapInuse>>10)
	}
}

// TestSparseDeletes deletes 90% of the keys at random: underfull leaves are
// merged, so the pages in use shrink with the keys.
func TestSparseDeletes(t *testing.T) {
	t.Parallel()
	db, _ := newTestDB(t, Options{})
	const n = 20000
	tx := db.Begin()
	for i := range n {
		tx.Set(fmt.Sprintf("itag:%06d:browser", i), "1234")
	}
	mustCommit(t, tx)
	full := db.Stats()
	r := rand.New(rand.NewPCG(9, 9))
	tx = db.Begin()
	for i, k := range r.Perm(n) {
		if i%10 != 0 {
			tx.Delete(fmt.Sprintf("itag:%06d:browser", k))
		}
	}
	mustCommit(t, tx)
	checkPages(t, db)
	st := db.Stats()
	inUse, was := st.Pages-st.FreePages, full.Pages-full.FreePages
	t.Logf("pages in use: %d with %d keys, %d with %d", was, n, inUse, n/10)
	if inUse > was/4 {
		t.Errorf("%d pages in use after deleting 90%% of keys, %d before", inUse, was)
	}
}

func TestTxErrors(t *testing.T) {
	t.Parallel()
	db, path := newTestDB(t, Options{})
	tx := db.Begin()
	tx.Set("a", "1")
	if err := tx.Apply(); err != ErrNotPrepared {
		t.Errorf("Apply before Prepare: %v, want ErrNotPrepared", err)
	}
	if err := tx.Prepare(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Set("b", "2"); !errors.Is(err, ErrTxDone) {
		t.Errorf("Set after Prepare: %v, want ErrTxDone", err)
	}
	if err := tx.Apply(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Apply(); err != ErrTxDone {
		t.Errorf("second Apply: %v, want ErrTxDone", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if n := fileSize(t, path+".journal"); n != 0 {
		t.Errorf("journal is %d bytes after Close, want 0", n)
	}
	if err := db.View(func(*Tx) error { return nil }); err != ErrClosed {
		t.Errorf("View after Close: %v, want ErrClosed", err)
	}
	tx = db.Begin()
	if err := tx.Set("a", "1"); err != ErrClosed {
		t.Errorf("Set after Close: %v, want ErrClosed", err)
	}
	tx.Rollback()
}

// A value replaced by one of the same length is overwritten in its page
// (counters): readers keep the old value until the commit, the change
// survives a reopen, and the other cells of the page are untouched.
func TestSameLengthOverwrite(t *testing.T) {
	t.Parallel()
	db, path := newTestDB(t, Options{})
	var kv []string
	for i := range 200 {
		kv = append(kv, fmt.Sprintf("count:%03d", i), "10")
	}
	setAll(t, db, kv...)
	for round := 11; round <= 30; round++ {
		tx := db.Begin()
		for i := 0; i < 200; i += 3 {
			if err := tx.Set(fmt.Sprintf("count:%03d", i), fmt.Sprint(round)); err != nil {
				t.Fatal(err)
			}
		}
		if v, _ := get(t, db, "count:000"); v != fmt.Sprint(round-1) {
			t.Fatalf("a reader sees %q during the write, want %d", v, round-1)
		}
		mustCommit(t, tx)
	}
	seq := db.Seq()
	db.Close()
	db = openTest(t, path, seq, Options{})
	defer db.Close()
	for i := range 200 {
		want := "10"
		if i%3 == 0 {
			want = "30"
		}
		if v, _ := get(t, db, fmt.Sprintf("count:%03d", i)); v != want {
			t.Fatalf("count:%03d = %q after reopen, want %s", i, v, want)
		}
	}
	checkPages(t, db)
}

// A View's point lookups read uncached leaves and deep branches into the
// transaction's buffer: they return the right values (also inside an
// Ascend over other pages, and for overflow values), and they leave no
// leaf and no branch below the root's children in the cache.
func TestViewLookupsDoNotFillCache(t *testing.T) {
	db, path := newTestDB(t, Options{CacheBytes: 64 * pageSize})
	want := map[string]string{}
	for b := 0; b < 20; b++ {
		tx := db.Begin()
		for i := range 1000 {
			k := fmt.Sprintf("k%06d", b*1000+i)
			v := fmt.Sprintf("value of %s %s", k, strings.Repeat("x", i%50))
			if i == 7 {
				v = strings.Repeat("overflow "+k, 600) // > maxCell: overflow pages
			}
			if err := tx.Set(k, v); err != nil {
				t.Fatal(err)
			}
			want[k] = v
		}
		mustCommit(t, tx)
	}
	db.Close()
	db = openTest(t, path, db.Seq(), Options{CacheBytes: 64 * pageSize}) // an empty cache
	t.Cleanup(func() { db.Close() })

	keys := slices.Sorted(maps.Keys(want))
	r := rand.New(rand.NewPCG(1, 2))
	err := db.View(func(tx *Tx) error {
		for range 2000 {
			k := keys[r.IntN(len(keys))]
			if v, ok := tx.Get(k); !ok || v != want[k] {
				t.Fatalf("Get(%s) = %.40q, %v", k, v, ok)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db.cache.mu.Lock()
	var leaves, branches int
	for _, e := range db.cache.m {
		switch e.p[0] {
		case typeLeaf:
			leaves++
		case typeBranch:
			branches++
		}
	}
	db.cache.mu.Unlock()
	if leaves != 0 || branches > 1+numCellsOfRoot(t, db)+1 {
		t.Errorf("after 2,000 scattered lookups the cache holds %d leaves and %d branches, want no leaf and only the root and its children", leaves, branches)
	}

	// Lookups inside an iteration, whose cursor holds pages of its own.
	err = db.View(func(tx *Tx) error {
		n := 0
		tx.Ascend("k0100", func(k, v string) bool {
			o := keys[r.IntN(len(keys))]
			if got, ok := tx.Get(o); !ok || got != want[o] || v != want[k] {
				t.Fatalf("Get(%s) inside Ascend at %s = %.40q, %v", o, k, got, ok)
			}
			n++
			return true
		})
		if n != 100 {
			t.Fatalf("Ascend saw %d keys, want 100", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// numCellsOfRoot returns how many separators the root holds (0 for a leaf).
func numCellsOfRoot(t *testing.T, db *DB) int {
	t.Helper()
	p, err := db.readPage(db.meta.root, false)
	if err != nil {
		t.Fatal(err)
	}
	if p[0] != typeBranch {
		return 0
	}
	return numCells(p)
}

// TestGetBytes: GetBytes gives the bytes Get gives, for inline and
// overflow values, in a view and in a write transaction (where an inline
// value is the dirty page's own bytes), and nothing for a missing key.
func TestGetBytes(t *testing.T) {
	t.Parallel()
	db, _ := newTestDB(t, Options{})
	vals := map[string]string{"a": "1", "small": strings.Repeat("s", 300), "big": strings.Repeat("b", 20000)}
	setAll(t, db, "a", vals["a"], "small", vals["small"], "big", vals["big"])
	check := func(tx *Tx, where string) {
		for k, want := range vals {
			got, ok := tx.GetBytes(k)
			if !ok || string(got) != want {
				t.Errorf("%s: GetBytes(%s) = %d bytes, %v; want %d", where, k, len(got), ok, len(want))
			}
			if s, _ := tx.Get(k); s != string(got) {
				t.Errorf("%s: Get and GetBytes differ on %s", where, k)
			}
		}
		if got, ok := tx.GetBytes("missing"); ok || got != nil {
			t.Errorf("%s: GetBytes(missing) = %q, %v", where, got, ok)
		}
	}
	if err := db.View(func(tx *Tx) error { check(tx, "view"); return nil }); err != nil {
		t.Fatal(err)
	}
	tx := db.Begin()
	vals["a"] = "2"
	tx.Set("a", vals["a"])
	check(tx, "write tx")
	tx.Rollback()
}

// PrepareUnsynced prepares a transaction only once its sync has run:
// before, Apply refuses it and a second prepare is refused; a Rollback
// then cuts the entry. After the sync, Apply installs it, and the writer
// the journal keeps between entries may be dropped and made again.
func TestPrepareUnsynced(t *testing.T) {
	t.Parallel()
	db, path := newTestDB(t, Options{})
	setAll(t, db, "a", "1")
	journal := fileSize(t, path+".journal")

	tx := db.Begin()
	tx.Set("a", "2")
	sync, err := tx.PrepareUnsynced()
	if err != nil {
		t.Fatal(err)
	}
	if fileSize(t, path+".journal") == journal {
		t.Error("journal did not grow in PrepareUnsynced")
	}
	if _, err := tx.PrepareUnsynced(); err == nil {
		t.Error("a second PrepareUnsynced succeeded")
	}
	if err := tx.Apply(); !errors.Is(err, ErrNotPrepared) {
		t.Errorf("Apply before the sync = %v, want ErrNotPrepared", err)
	}
	tx.Rollback()
	if n := fileSize(t, path+".journal"); n != journal {
		t.Errorf("journal is %d bytes after Rollback, want %d", n, journal)
	}

	db.ReleaseBuffers()
	for _, v := range []string{"3", "4"} {
		tx = db.Begin()
		tx.Set("a", v)
		sync, err = tx.PrepareUnsynced()
		if err != nil {
			t.Fatal(err)
		}
		if err := sync(); err != nil {
			t.Fatal(err)
		}
		if err := tx.Apply(); err != nil {
			t.Fatal(err)
		}
		if got, _ := get(t, db, "a"); got != v {
			t.Errorf("a = %q, want %s", got, v)
		}
	}
	// A transaction that changed nothing has nothing to sync.
	tx = db.Begin()
	if sync, err = tx.PrepareUnsynced(); err != nil || sync() != nil {
		t.Errorf("PrepareUnsynced of a clean transaction = %v", err)
	}
	tx.Rollback()

	// The journal holds both entries: reopened with the last committed,
	// the tree has it.
	seq := db.Seq()
	db.Close()
	db2 := openTest(t, path, seq, Options{})
	defer db2.Close()
	if got, _ := get(t, db2, "a"); got != "4" {
		t.Errorf("after reopen a = %q, want 4", got)
	}
}

// TestSetCacheBytes checks that the cache holds up to its bound once
// raised, that lowering the bound evicts at once down to it, keeping the
// most recently used pages, and that the data reads the same throughout.
func TestSetCacheBytes(t *testing.T) {
	db, _ := newTestDB(t, Options{CacheBytes: 32 * pageSize})
	write := func(from int) {
		tx := db.Begin()
		for i := range 3000 {
			k := fmt.Sprintf("k%06d", from+i)
			if err := tx.Set(k, strings.Repeat("v", 40)+k); err != nil {
				t.Fatal(err)
			}
		}
		mustCommit(t, tx)
	}
	write(0)
	if n := db.Stats().CachedPages; n != 32 {
		t.Fatalf("cached %d pages under a bound of 32", n)
	}
	db.SetCacheBytes(128 * pageSize)
	write(3000)
	if n := db.Stats().CachedPages; n <= 32 || n > 128 {
		t.Fatalf("cached %d pages under a bound of 128, after a write of more", n)
	}
	db.cache.mu.Lock()
	var recent []uint32
	for e := db.cache.root.next; e != &db.cache.root && len(recent) < 32; e = e.next {
		recent = append(recent, e.pg)
	}
	db.cache.mu.Unlock()
	db.SetCacheBytes(32 * pageSize)
	if n := db.Stats().CachedPages; n != 32 {
		t.Fatalf("cached %d pages after lowering the bound to 32", n)
	}
	for _, pg := range recent {
		if db.cache.get(pg) == nil {
			t.Fatalf("page %d, among the 32 most recently used, was evicted", pg)
		}
	}
	for _, i := range []int{0, 2999, 3000, 5999} {
		k := fmt.Sprintf("k%06d", i)
		if v, ok := get(t, db, k); !ok || v != strings.Repeat("v", 40)+k {
			t.Fatalf("Get(%s) = %q, %v", k, v, ok)
		}
	}
	db.SetCacheBytes(0)
	if n := db.Stats().CachedPages; n != minCachePages {
		t.Fatalf("cached %d pages under a bound below the minimum", n)
	}
}

// Checkpoint empties the journal at once, the tree file holding what it
// held, and refuses a closed DB.
func TestCheckpoint(t *testing.T) {
	t.Parallel()
	db, path := newTestDB(t, Options{})
	setAll(t, db, "a", "1", "big", strings.Repeat("z", 20000))
	if fileSize(t, path+".journal") == 0 {
		t.Fatal("the journal is empty after a commit")
	}
	if err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if n := fileSize(t, path+".journal"); n != 0 {
		t.Errorf("journal is %d bytes after Checkpoint, want 0", n)
	}
	if err := db.Checkpoint(); err != nil {
		t.Errorf("Checkpoint of an empty journal: %v", err)
	}
	seq := db.Seq()
	setAll(t, db, "b", "2")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Checkpoint(); err != ErrClosed {
		t.Errorf("Checkpoint after Close: %v, want ErrClosed", err)
	}
	db = openTest(t, path, seq+1, Options{})
	defer db.Close()
	if v, _ := get(t, db, "big"); len(v) != 20000 {
		t.Errorf("big has %d bytes after a reopen, want 20000", len(v))
	}
	if v, _ := get(t, db, "b"); v != "2" {
		t.Errorf("b = %q after a reopen, want 2", v)
	}
	checkPages(t, db)
}

// TestRecycledPages checks the recycling of page slices (cache.reclaim):
// a slice is handed out again only when no View and no write can hold it.
// Two readers look keys up (Get, which caches upper branches) and walk
// them (Ascend) while a writer rewrites every key with values of changing
// length through a cache of 16 pages, so pages are evicted under the
// readers all the time. A slice reused too early is written while a reader
// reads it: the race detector reports that, and without it the reader
// sees a key with another key's value or a torn page.
func TestRecycledPages(t *testing.T) {
	t.Parallel()
	db, _ := newTestDB(t, Options{CacheBytes: 16 * pageSize})
	db.RecyclePages()
	const keys = 3000
	key := func(i int) string { return fmt.Sprintf("k%04d", i) }
	value := func(i, round int) string {
		return key(i) + ":" + strings.Repeat("v", (i+round)%40) + fmt.Sprint(round)
	}
	tx := db.Begin()
	for i := range keys {
		tx.Set(key(i), value(i, 0))
	}
	mustCommit(t, tx)

	rngs := []*rand.Rand{rand.New(rand.NewPCG(0, 1)), rand.New(rand.NewPCG(1, 1))}
	stop := readWhile(t, db, func(r int, tx *Tx) error {
		for range 20 {
			i := rngs[r].IntN(keys)
			if v, ok := tx.Get(key(i)); !ok || !strings.HasPrefix(v, key(i)+":") {
				return fmt.Errorf("reader %d: Get(%s) = %q, %v", r, key(i), v, ok)
			}
		}
		n := 0
		var bad error
		tx.Ascend("k", func(k, v string) bool {
			if k != key(n) || !strings.HasPrefix(v, k+":") {
				bad = fmt.Errorf("reader %d: key %d of Ascend is %s = %q", r, n, k, v)
				return false
			}
			n++
			return true
		})
		if bad == nil && n != keys {
			bad = fmt.Errorf("reader %d: Ascend saw %d keys, want %d", r, n, keys)
		}
		return bad
	})
	const rounds = 15
	for round := 1; round <= rounds; round++ {
		tx := db.Begin()
		for i := range keys {
			tx.Set(key(i), value(i, round))
		}
		mustCommit(t, tx)
	}
	stop()
	for _, i := range []int{0, keys / 2, keys - 1} {
		if v, _ := get(t, db, key(i)); v != value(i, rounds) {
			t.Errorf("%s = %q, want %q", key(i), v, value(i, rounds))
		}
	}
}

// TestRecyclingSavesAllocation checks that with RecyclePages on, write
// transactions take the slices of the pages they rewrite from the
// recycled ones, and that nothing is kept while it is off:
// each round below rewrites every leaf of a tree that the cache holds
// whole, which without recycling allocates a 4 KiB slice per page. The
// values keep their length, so no leaf splits or merges and every round
// rewrites the same pages.
func TestRecyclingSavesAllocation(t *testing.T) {
	db, _ := newTestDB(t, Options{CacheBytes: 128 * pageSize})
	made := func() int {
		db.cache.mu.Lock()
		defer db.cache.mu.Unlock()
		return db.cache.made
	}
	round := func(r int) {
		tx := db.Begin()
		for i := range 2000 {
			// Same length, new contents: every leaf is rewritten, and
			// none splits or merges.
			tx.Set(fmt.Sprintf("k%05d", i*7919%2000), fmt.Sprintf("%020d", r))
		}
		mustCommit(t, tx)
	}
	for r := range 3 {
		round(r)
	}
	pages := db.Stats().Pages
	if pages < 20 || pages > 100 {
		t.Fatalf("the tree has %d pages, want 20–100 (more than a few, fewer than the cache holds)", pages)
	}
	// Off (the default), nothing is kept.
	before := made()
	round(3)
	if n := made() - before; n < pages/2 {
		t.Errorf("without RecyclePages a round over %d pages allocated %d page slices, want them new", pages, n)
	}
	if len(db.cache.free)+len(db.cache.dropped) != 0 {
		t.Error("slices were kept without RecyclePages")
	}
	db.RecyclePages()
	round(4)
	before = made()
	round(5)
	round(6)
	if n := made() - before; n > 0 {
		t.Errorf("two rounds over %d pages allocated %d page slices, want none", pages, n)
	}
	db.ReleaseBuffers()
	if len(db.cache.free)+len(db.cache.dropped) != 0 {
		t.Error("ReleaseBuffers kept recycled slices")
	}
	before = made()
	round(7)
	if n := made() - before; n < pages/2 {
		t.Errorf("after ReleaseBuffers a round over %d pages allocated %d page slices, want them new", pages, n)
	}
}
