package event

import (
	"hash/maphash"
	"strings"
	"sync"
)

// recent remembers what an expensive function made of the last keys it
// saw: a table of sets of recentWays slots, the set chosen by a keyed hash
// of the key, where a new key takes the place of its set's least recently
// used slot. The events of one issue, or of one client, mostly repeat
// their values. Keys longer than maxKey are not kept, so the table stays
// small; it is allocated on first use.
//
// A set holds several keys because with one slot per hash, two of ten
// values a load repeats shared a slot about half the time, and pushed each
// other out on every turn.
type recent[V any] struct {
	size, maxKey int

	mu    sync.Mutex
	seed  maphash.Seed
	slots []recentEntry[V]
	clock uint32 // stamps a slot's last use
}

// recentWays is the number of slots in a set.
const recentWays = 4

type recentEntry[V any] struct {
	key  string
	val  V
	ok   bool
	used uint32
}

// newRecent returns a table of size slots (a multiple of recentWays).
func newRecent[V any](size, maxKey int) *recent[V] {
	if size%recentWays != 0 {
		panic("recent: size is not a multiple of recentWays")
	}
	return &recent[V]{size: size, maxKey: maxKey}
}

// set returns the slots k may be kept in. Callers hold c.mu.
func (c *recent[V]) set(k string) []recentEntry[V] {
	if c.slots == nil {
		c.seed = maphash.MakeSeed()
		c.slots = make([]recentEntry[V], c.size)
	}
	i := maphash.String(c.seed, k) % uint64(c.size/recentWays) * recentWays
	return c.slots[i : i+recentWays]
}

// get returns the value remembered for k.
func (c *recent[V]) get(k string) (v V, ok bool) {
	if len(k) > c.maxKey {
		return v, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.find(k); e != nil {
		c.clock++
		e.used = c.clock
		return e.val, true
	}
	return v, false
}

// find returns the slot that holds k, or nil. Callers hold c.mu.
func (c *recent[V]) find(k string) *recentEntry[V] {
	set := c.set(k)
	for i := range set {
		if e := &set[i]; e.ok && e.key == k {
			return e
		}
	}
	return nil
}

// put remembers v for k, in place of the least recently used key of its
// set. The key is copied, so that a key cut from a larger string (an
// event's text) does not keep it; v is kept as given.
func (c *recent[V]) put(k string, v V) {
	if len(k) > c.maxKey {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	victim := c.find(k) // k put meanwhile: replace its value
	if victim == nil {
		victim = c.oldest(c.set(k))
	}
	c.clock++
	*victim = recentEntry[V]{key: strings.Clone(k), val: v, ok: true, used: c.clock}
}

// oldest returns an empty slot of set, or else its least recently used one.
// Callers hold c.mu.
func (c *recent[V]) oldest(set []recentEntry[V]) *recentEntry[V] {
	victim := &set[0]
	for i := range set {
		e := &set[i]
		if !e.ok {
			return e
		}
		// Stamps are compared as distances from now, so that the clock
		// may wrap.
		if c.clock-e.used > c.clock-victim.used {
			victim = e
		}
	}
	return victim
}
