package btree

import (
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tinysink/tinysink/budget/testflag"
)

const benchKeys = 200000

func benchKey(i int) string { return fmt.Sprintf("issue:%010d", i) }

var fixture struct {
	once sync.Once
	dir  string
	path string
	seq  uint64
	err  error
}

// benchDB opens a copy of a 200k-key tree, built once per test binary.
func benchDB(b *testing.B) *DB {
	b.Helper()
	fixture.once.Do(func() {
		fixture.dir, fixture.err = os.MkdirTemp("", "btree-bench")
		if fixture.err != nil {
			return
		}
		fixture.path = filepath.Join(fixture.dir, "tree")
		db, err := Open(fixture.path, 0, Options{})
		if err != nil {
			fixture.err = err
			return
		}
		for i := 0; i < benchKeys && err == nil; i += 20000 {
			tx := db.Begin()
			for j := i; j < i+20000; j++ {
				tx.Set(benchKey(j), fmt.Sprintf(`{"count":%d,"title":"TypeError: x is undefined"}`, j))
			}
			err = tx.Commit()
		}
		fixture.seq = db.Seq()
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		fixture.err = err
	})
	if fixture.err != nil {
		b.Fatal(fixture.err)
	}
	path := filepath.Join(b.TempDir(), "tree")
	src, err := os.Open(fixture.path)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		b.Fatal(err)
	}
	dst.Close()
	db, err := Open(path, fixture.seq, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func TestMain(m *testing.M) {
	testflag.ParallelForFsync(8)
	code := m.Run()
	if fixture.dir != "" {
		os.RemoveAll(fixture.dir)
	}
	os.Exit(code)
}

func BenchmarkGet(b *testing.B) {
	db := benchDB(b)
	r := rand.New(rand.NewPCG(1, 1))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		k := benchKey(r.IntN(benchKeys))
		db.View(func(tx *Tx) error {
			if _, ok := tx.Get(k); !ok {
				b.Fatalf("%s missing", k)
			}
			return nil
		})
	}
}

func BenchmarkSetCommit(b *testing.B) {
	db := benchDB(b)
	r := rand.New(rand.NewPCG(2, 2))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		tx := db.Begin()
		for range 100 {
			i := r.IntN(benchKeys)
			tx.Set(benchKey(i), fmt.Sprintf(`{"count":%d,"title":"TypeError: x is undefined"}`, r.IntN(1000000)))
		}
		if err := tx.Prepare(); err != nil {
			b.Fatal(err)
		}
		if err := tx.Apply(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAscendPage(b *testing.B) {
	db := benchDB(b)
	r := rand.New(rand.NewPCG(3, 3))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		from := benchKey(r.IntN(benchKeys))
		n := 0
		db.View(func(tx *Tx) error {
			tx.AscendFrom("issue:", from, func(k, v string) bool {
				n++
				return n < 50
			})
			return nil
		})
	}
}

// FuzzOps decodes operations from bytes and checks them against a map.
func FuzzOps(f *testing.F) {
	f.Add([]byte{0, 1, 2, 0, 3, 200, 4, 0, 0, 1, 1, 0, 6, 0, 0})
	f.Add([]byte{0, 5, 255, 0, 6, 255, 5, 0, 0, 1, 5, 0, 4, 0, 0, 2, 6, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		path := filepath.Join(t.TempDir(), "tree")
		db := openTest(t, path, 0, Options{CacheBytes: 16 * pageSize})
		defer func() { db.Close() }()
		keys := []string{"", "a", "ab", "abc", "b", strings.Repeat("k", 400) + "1", strings.Repeat("k", 400) + "2", "\xff"}
		m := model{}
		local := model{}
		tx := db.Begin()
		for len(ops) >= 3 {
			op, k, n := ops[0]%8, keys[int(ops[1])%len(keys)], int(ops[2])
			ops = ops[3:]
			switch op {
			case 0, 1:
				v := strings.Repeat(string(rune('a'+n%26)), n*n*2) // up to 130 KB
				if err := tx.Set(k, v); err != nil {
					t.Fatal(err)
				}
				local[k] = v
			case 2:
				_, want := local[k]
				if got := tx.Delete(k); got != want {
					t.Fatalf("Delete(%q) = %v, want %v", k, got, want)
				}
				delete(local, k)
			case 3:
				want, wok := local[k]
				if got, ok := tx.Get(k); got != want || ok != wok {
					t.Fatalf("Get(%q) = %d bytes, %v; want %d bytes, %v", k, len(got), ok, len(want), wok)
				}
			case 4:
				mustCommit(t, tx)
				m = maps.Clone(local)
				tx = db.Begin()
			case 5:
				tx.Rollback()
				local = maps.Clone(m)
				tx = db.Begin()
			case 6:
				tx.Rollback()
				local = maps.Clone(m)
				db.Close()
				db = openTest(t, path, db.Seq(), Options{CacheBytes: 16 * pageSize})
				tx = db.Begin()
			case 7:
				for _, c := range []struct{ desc, bounded bool }{{false, false}, {false, true}, {true, false}, {true, true}} {
					prefix := k[:n%(len(k)+1)]
					from := keys[n%len(keys)]
					got := scanTx(tx, prefix, from, c.desc, c.bounded, 100)
					want := local.scan(prefix, from, c.desc, c.bounded, 100)
					if fmt.Sprint(got) != fmt.Sprint(want) {
						t.Fatalf("scan(%q, %q, %v, %v) = %q, want %q", prefix, from, c.desc, c.bounded, evens(got), evens(want))
					}
				}
			}
		}
		if err := tx.Err(); err != nil {
			t.Fatal(err)
		}
		mustCommit(t, tx)
		checkPages(t, db)
		compareAll(t, db, local)
	})
}
