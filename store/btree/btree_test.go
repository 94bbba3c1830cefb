package btree

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
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
	keys := slices.Sorted(maps.Keys(m))
	if desc {
		slices.Reverse(keys)
	}
	var out []string
	for _, k := range keys {
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
	for range n {
		prefix, from := g.scanArgs(m)
		limit := 1 + g.r.IntN(40)
		for _, c := range []struct{ desc, bounded bool }{{false, false}, {false, true}, {true, false}, {true, true}} {
			got := scanTx(tx, prefix, from, c.desc, c.bounded, limit)
			want := m.scan(prefix, from, c.desc, c.bounded, limit)
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
	path := filepath.Join(t.TempDir(), "tree")
	opt := Options{CacheBytes: 16 * pageSize}
	db := openTest(t, path, 0, opt)
	defer func() { db.Close() }()
	g := gen{rand.New(rand.NewPCG(1, 2))}
	m := model{}
	txs := 400
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
