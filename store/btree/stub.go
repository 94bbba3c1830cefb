// Package btree: TEMPORARY in-memory stand-in with the real package's API,
// used only to compile the store port until the real tree lands.
package btree

import (
	"encoding/json"
	"os"
	"sort"
	"strings"
	"sync"
)

type Options struct{ CacheBytes int }

type DB struct {
	path string
	mu   sync.RWMutex
	wmu  sync.Mutex
	data map[string]string
	seq  uint64
}

func Open(path string, committed uint64, opt Options) (*DB, error) {
	db := &DB{path: path, data: map[string]string{}, seq: committed}
	if b, err := os.ReadFile(path); err == nil {
		json.Unmarshal(b, &db.data)
	}
	return db, nil
}
func (db *DB) Close() error { return nil }
func (db *DB) Seq() uint64  { return db.seq }

type Tx struct {
	db    *DB
	write bool
	dirty map[string]*string
}

func (db *DB) Begin() *Tx {
	db.wmu.Lock()
	return &Tx{db: db, write: true, dirty: map[string]*string{}}
}
func (db *DB) View(fn func(tx *Tx) error) error {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return fn(&Tx{db: db})
}
func (tx *Tx) Get(k string) (string, bool) {
	if v, ok := tx.dirty[k]; ok {
		if v == nil {
			return "", false
		}
		return *v, true
	}
	v, ok := tx.db.data[k]
	return v, ok
}
func (tx *Tx) Set(k, v string) error { tx.dirty[k] = &v; return nil }
func (tx *Tx) Delete(k string) bool {
	_, ok := tx.Get(k)
	tx.dirty[k] = nil
	return ok
}
func (tx *Tx) keys(prefix string) []string {
	var ks []string
	for k := range tx.db.data {
		if strings.HasPrefix(k, prefix) {
			if v, ok := tx.dirty[k]; !ok || v != nil {
				ks = append(ks, k)
			}
		}
	}
	for k, v := range tx.dirty {
		if v != nil && strings.HasPrefix(k, prefix) {
			if _, ok := tx.db.data[k]; !ok {
				ks = append(ks, k)
			}
		}
	}
	sort.Strings(ks)
	return ks
}
func (tx *Tx) Ascend(prefix string, fn func(k, v string) bool) { tx.AscendFrom(prefix, "", fn) }
func (tx *Tx) AscendFrom(prefix, from string, fn func(k, v string) bool) {
	for _, k := range tx.keys(prefix) {
		if k < from {
			continue
		}
		v, _ := tx.Get(k)
		if !fn(k, v) {
			return
		}
	}
}
func (tx *Tx) Descend(prefix string, fn func(k, v string) bool) {
	tx.DescendFrom(prefix, prefix+"\xff\xff\xff\xff", fn)
}
func (tx *Tx) DescendFrom(prefix, from string, fn func(k, v string) bool) {
	ks := tx.keys(prefix)
	for i := len(ks) - 1; i >= 0; i-- {
		if ks[i] > from {
			continue
		}
		v, _ := tx.Get(ks[i])
		if !fn(ks[i], v) {
			return
		}
	}
}
func (tx *Tx) Seq() uint64    { return tx.db.seq + 1 }
func (tx *Tx) Dirty() bool    { return len(tx.dirty) > 0 }
func (tx *Tx) Prepare() error { return nil }
func (tx *Tx) Apply() error {
	tx.db.mu.Lock()
	for k, v := range tx.dirty {
		if v == nil {
			delete(tx.db.data, k)
		} else {
			tx.db.data[k] = *v
		}
	}
	if len(tx.dirty) > 0 {
		tx.db.seq++
		b, _ := json.Marshal(tx.db.data)
		os.WriteFile(tx.db.path, b, 0o600)
	}
	tx.db.mu.Unlock()
	tx.db.wmu.Unlock()
	return nil
}
func (tx *Tx) Rollback()     { tx.dirty = nil; tx.db.wmu.Unlock() }
func (tx *Tx) Commit() error { return tx.Apply() }

func (tx *Tx) WriteSnapshot(w interface{ Write([]byte) (int, error) }) error { return nil }
