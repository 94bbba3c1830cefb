package btree

import "sync"

// cache is a bounded LRU of raw leaf and branch pages. Cached slices are
// never modified: a newer image of a page replaces the slice, so a reader
// may keep using a slice it got after the page was evicted or replaced.
type cache struct {
	mu   sync.Mutex // guards the fields below
	max  int
	m    map[uint32]*centry
	root centry // sentinel: root.next is the most recently used entry
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
	return e
}

func (c *cache) remove(pg uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[pg]; e != nil {
		c.unlink(e)
		delete(c.m, pg)
	}
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
