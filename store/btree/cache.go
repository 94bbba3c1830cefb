package btree

import "sync"

// cache is a bounded LRU of raw leaf and branch pages. Cached slices are
// never modified: a newer image of a page replaces the slice, so a reader
// may keep using a slice it got after the page was evicted or replaced.
//
// The slices that leave the cache are recycled, in two steps. A slice that
// leaves goes on dropped: a running View or the write transaction may
// still be reading it. Apply, which holds DB.mu exclusively (no View runs)
// at the end of the only write transaction (whose reads are over), moves
// dropped to free (reclaim): nothing can hold those slices any more,
// because a slice is only ever handed out by the cache while it is cached,
// and a recycled one is cached again only as a new image. fresh hands out
// free slices for the pages the next transactions read or build, instead
// of a new 4 KiB allocation each (they were a fifth of the bytes the
// digest allocated). Slices are kept only while recycling is on (DB.
// RecyclePages, until ReleaseBuffers): without writes to reclaim them, a
// server that only serves reads would keep a cache's worth of dropped
// slices for nothing. The two lists hold at most max slices together: a
// slice kept is live heap, which the garbage collector's goal grows by
// half again. In pinned loadgen runs the tree's slices cost 1.6 KB of
// allocation per event with this bound, 1.3 KB with max slices per list,
// 2.6 KB with max/2 per list and 4 KB without recycling.
type cache struct {
	mu      sync.Mutex // guards the fields below
	max     int
	m       map[uint32]*centry
	root    centry   // sentinel: root.next is the most recently used entry
	dropped [][]byte // slices that left the cache since the last reclaim
	free    [][]byte // slices nothing holds (see reclaim)
	recycle bool     // keep dropped slices
	made    int      // slices fresh allocated (for tests)
}

type centry struct {
	pg         uint32
	p          []byte
	prev, next *centry
}

func newCache(maxPages int) *cache {
	c := &cache{max: maxPages, m: make(map[uint32]*centry, min(maxPages, 1024))}
	c.root.prev, c.root.next = &c.root, &c.root
	return c
}

func (c *cache) unlink(e *centry) {
	e.prev.next, e.next.prev = e.next, e.prev
}

func (c *cache) pushFront(e *centry) {
	e.prev, e.next = &c.root, c.root.next
	e.prev.next, e.next.prev = e, e
}

func (c *cache) get(pg uint32) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[pg]
	if e == nil {
		return nil
	}
	c.unlink(e)
	c.pushFront(e)
	return e.p
}

func (c *cache) put(pg uint32, p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[pg]; e != nil {
		if &e.p[0] != &p[0] {
			c.drop(e.p)
		}
		e.p = p
		c.unlink(e)
		c.pushFront(e)
		return
	}
	var e *centry
	if len(c.m) >= c.max {
		e = c.evict() // reuse its struct
	} else {
		e = new(centry)
	}
	e.pg, e.p = pg, p
	c.m[pg] = e
	c.pushFront(e)
}

// setMax bounds the cache to maxPages, evicting the least recently used
// entries beyond it.
func (c *cache) setMax(maxPages int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.max = maxPages
	for len(c.m) > c.max {
		c.evict()
	}
}

// evict removes the least recently used entry and returns it. The caller
// holds c.mu and the cache is not empty.
func (c *cache) evict() *centry {
	e := c.root.prev
	c.unlink(e)
	delete(c.m, e.pg)
	c.drop(e.p)
	e.p = nil
	return e
}

func (c *cache) remove(pg uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[pg]; e != nil {
		c.unlink(e)
		delete(c.m, pg)
		c.drop(e.p)
	}
}

// drop notes that slice p left the cache. The caller holds c.mu.
func (c *cache) drop(p []byte) {
	if c.recycle && len(p) == pageSize && cap(p) == pageSize && len(c.dropped)+len(c.free) < c.max {
		c.dropped = append(c.dropped, p)
	}
}

// reclaim makes the slices dropped so far free. The caller holds DB.mu
// exclusively and is ending the write transaction (see cache).
func (c *cache) reclaim() {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := min(len(c.dropped), c.max-len(c.free))
	c.free = append(c.free, c.dropped[:max(n, 0)]...)
	clear(c.dropped)
	c.dropped = c.dropped[:0]
}

// setRecycle turns the keeping of dropped slices on or off; off gives up
// the slices kept and the lists' arrays.
func (c *cache) setRecycle(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recycle = on
	if !on {
		c.dropped, c.free = nil, nil
	}
}

// fresh returns a pageSize slice for a page to read or build: a free one,
// or a new one. Its contents are whatever it held before.
func (c *cache) fresh() []byte {
	c.mu.Lock()
	if k := len(c.free); k > 0 {
		p := c.free[k-1]
		c.free[k-1] = nil
		c.free = c.free[:k-1]
		c.mu.Unlock()
		return p
	}
	c.made++
	c.mu.Unlock()
	return make([]byte, pageSize)
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
