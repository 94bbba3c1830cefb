package store

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tidwall/buntdb"

	"github.com/tinysink/tinysink/store/btree"
)

// Two homes for metadata. buntdb keeps its whole dataset in memory, so it
// holds only what the operator controls (projects, users, sessions, tokens,
// alert settings, positions). Everything whose count grows with traffic or
// with time (issues and their indexes, groupings, tag counts, counters,
// releases, history, the alert outbox) lives in the on-disk B-tree
// (store/btree, file tree.db), read through a small bounded page cache.
//
// A kvTx is one transaction over both. Keys are routed by their family (the
// part before the first ':'), so the code that reads and writes metadata
// does not care where a family lives. The tree commits together with
// buntdb: a write transaction appends the tree's changed pages to the
// tree's journal (fsync'd), then records the tree's sequence number under
// treeSeqKey in the same buntdb transaction, and installs the pages only
// after buntdb committed. Open redoes journal entries up to the recorded
// sequence and drops later ones, so either both commit or neither does.
type kvTx struct {
	kv *buntdb.Tx
	t  *btree.Tx
}

// diskFamilies are the key families that live in the tree.
var diskFamilies = map[string]bool{
	"issue": true, "pissue": true, "ils": true, "iec": true, "inext": true, "icnt": true, "iasg": true,
	"grouping": true, "igrp": true, "itag": true, "itagn": true,
	// The search index (searchindex.go).
	"sterm": true, "iterm": true, "ifact": true,
	"release": true, "deploy": true, "history": true,
	"hourly": true, "daily": true, "thourly": true, "tdaily": true, "outbox": true,
	"artbundle": true, "artfile": true, "artdebug": true, "artrel": true,
	// Release health, client reports, dropped items (health.go).
	"rh": true, "rhn": true, "crep": true, "crepn": true, "ditem": true, "ditemn": true,
	// Performance and cron monitors (perf.go, monitor.go).
	"txday": true, "txname": true, "txnamen": true, "txex": true,
	"monitor": true, "mcheck": true, "mdue": true,
	// User feedback (feedback.go).
	"ifeedback": true, "fbpend": true, "fbpendn": true,
}

func onDisk(key string) bool {
	fam, _, ok := strings.Cut(key, ":")
	return ok && diskFamilies[fam]
}

// Get returns the value of key, or buntdb.ErrNotFound.
func (x *kvTx) Get(key string) (string, error) {
	if onDisk(key) {
		if v, ok := x.t.Get(key); ok {
			return v, nil
		}
		return "", x.treeMiss()
	}
	return x.kv.Get(key)
}

// treeMiss is the error of a tree lookup that found nothing: the tree's
// own (a read that failed), else buntdb.ErrNotFound.
func (x *kvTx) treeMiss() error {
	if err := x.t.Err(); err != nil {
		return err
	}
	return buntdb.ErrNotFound
}

// getBytes is Get for a caller that decodes the value at once: a tree
// value may be the page's own bytes (see btree.Tx.GetBytes), valid until
// the transaction's next lookup or write, and must not be modified.
func (x *kvTx) getBytes(key string) ([]byte, error) {
	if onDisk(key) {
		if v, ok := x.t.GetBytes(key); ok {
			return v, nil
		}
		return nil, x.treeMiss()
	}
	v, err := x.kv.Get(key)
	return []byte(v), err
}

// Set sets key to value. Options (a TTL) are only for buntdb's families.
func (x *kvTx) Set(key, value string, opts *buntdb.SetOptions) (string, bool, error) {
	if onDisk(key) {
		if opts != nil {
			return "", false, fmt.Errorf("store: key %q lives on disk and cannot expire", key)
		}
		return "", false, x.t.Set(key, value)
	}
	return x.kv.Set(key, value, opts)
}

// Delete removes key; it returns buntdb.ErrNotFound when key is absent.
func (x *kvTx) Delete(key string) (string, error) {
	if onDisk(key) {
		if !x.t.Delete(key) {
			return "", buntdb.ErrNotFound
		}
		return "", nil
	}
	return x.kv.Delete(key)
}

// deleteKeys deletes keys; a key that is already gone is not an error.
func (x *kvTx) deleteKeys(keys []string) error {
	for _, k := range keys {
		if _, err := x.Delete(k); err != nil && !errors.Is(err, buntdb.ErrNotFound) {
			return err
		}
	}
	return nil
}

// AscendKeys calls fn for each key matching pattern, in key order. For the
// tree's families the pattern must be a prefix followed by a single '*'.
func (x *kvTx) AscendKeys(pattern string, fn func(k, v string) bool) error {
	if onDisk(pattern) {
		prefix, ok := strings.CutSuffix(pattern, "*")
		if !ok || strings.ContainsAny(prefix, "*?") {
			return fmt.Errorf("store: pattern %q: only prefix* patterns on disk", pattern)
		}
		x.t.Ascend(prefix, fn)
		return x.t.Err()
	}
	return x.kv.AscendKeys(pattern, fn)
}

// ascend calls fn for the keys with prefix (from the tree), in key order.
func (x *kvTx) ascend(prefix string, fn func(k, v string) bool) { x.t.Ascend(prefix, fn) }

// ascendFrom calls fn for the keys with prefix (from the tree) at or after
// from, in key order.
func (x *kvTx) ascendFrom(prefix, from string, fn func(k, v string) bool) {
	x.t.AscendFrom(prefix, from, fn)
}

// descend calls fn for the keys with prefix (from the tree), in descending
// key order.
func (x *kvTx) descend(prefix string, fn func(k, v string) bool) {
	x.t.Descend(prefix, fn)
}
