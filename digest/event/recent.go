package event

import (
	"hash/maphash"
	"strings"
	"sync"
)

// recent remembers what an expensive function made of the last keys it
// saw: a table of slots indexed by a keyed hash of the key, where a new key
// takes its slot's place. The events of one issue, or of one client,
// mostly repeat their values. Keys longer than maxKey are not kept, so
// the table stays small; it is allocated on first use.
type recent[V any] struct {
	size, maxKey int

	mu    sync.Mutex
	seed  maphash.Seed
	slots []recentEntry[V]
}

type recentEntry[V any] struct {
	key string
	val V
	ok  bool
}

func newRecent[V any](size, maxKey int) *recent[V] {
	return &recent[V]{size: size, maxKey: maxKey}
}

// slot returns k's slot. Callers hold c.mu.
func (c *recent[V]) slot(k string) *recentEntry[V] {
	if c.slots == nil {
		c.seed = maphash.MakeSeed()
		c.slots = make([]recentEntry[V], c.size)
	}
	return &c.slots[maphash.String(c.seed, k)%uint64(c.size)]
}

// get returns the value remembered for k.
func (c *recent[V]) get(k string) (v V, ok bool) {
	if len(k) > c.maxKey {
		return v, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.slot(k); e.ok && e.key == k {
		return e.val, true
	}
	return v, false
}

// put remembers v for k. The key is copied, so that a key cut from a
// larger string (an event's text) does not keep it; v is kept as given.
func (c *recent[V]) put(k string, v V) {
	if len(k) > c.maxKey {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	*c.slot(k) = recentEntry[V]{key: strings.Clone(k), val: v, ok: true}
}
