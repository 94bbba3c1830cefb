package btree

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strings"
)

// Tx is a transaction. A write transaction (Begin) sees its own changes;
// a View transaction sees the state applied before View began.
//
// Get, Delete and the iterators have no error result: an I/O error or a
// corrupt page makes them return nothing and is kept in Err, and later
// returned by View, Prepare and Commit.
//
// Writes (Set, Delete) are not allowed during an Ascend or Descend callback.
type Tx struct {
	db        *DB
	writable  bool
	seq       uint64
	meta      meta
	dirty     map[uint32][]byte // write tx: private page images by page number
	err       error             // sticky error
	done      bool
	prepared  bool     // the journal entry is durable
	journaled bool     // the journal may hold part of an entry: Rollback cuts it
	jstart    int64    // journal size before this transaction's entry
	pgs       []uint32 // prepared pages, in order
	path      []step
	// leaf is a View's buffer for the pages a Get reads from the file
	// (lookupPage); it goes back to the DB's pool when the View ends.
	leaf *[pageSize]byte

	// A write transaction's scratch, reused from one Set or Delete to the
	// next: a batch rewrites the same few leaves many times, and a fresh
	// page image and node per rewrite were a quarter of what the digest
	// allocated. A page image that a write replaces in dirty is retired,
	// and spare only once that write has ended, because the write's nodes
	// may point into it until then. Dirty pages are the transaction's own
	// (cached pages are cloned before a change), so none is shared.
	spare, retired [][]byte
	nodes, idle    []*node // decoded by the running write; reusable
}

// newPage returns a pageSize buffer for a page image the write builds.
func (tx *Tx) newPage() []byte {
	if k := len(tx.spare); k > 0 {
		p := tx.spare[k-1]
		tx.spare = tx.spare[:k-1]
		return p
	}
	return tx.db.cache.fresh()
}

// setDirty makes p the transaction's image of page pg, retiring the image
// it replaces.
func (tx *Tx) setDirty(pg uint32, p []byte) {
	if old, ok := tx.dirty[pg]; ok && len(old) == pageSize && cap(old) == pageSize {
		tx.retired = append(tx.retired, old)
	}
	tx.dirty[pg] = p
}

// encode makes n's page image the transaction's image of page pg.
func (tx *Tx) encode(pg uint32, n *node) { tx.setDirty(pg, n.encodeTo(tx.newPage())) }

// decode decodes p into a node of the running write.
func (tx *Tx) decode(p []byte) *node {
	var n *node
	if k := len(tx.idle); k > 0 {
		n, tx.idle = tx.idle[k-1], tx.idle[:k-1]
	} else {
		n = new(node)
	}
	tx.nodes = append(tx.nodes, n)
	return decodeInto(n, p)
}

// endWrite ends a Set or Delete: its nodes and the images it retired are
// scratch for the next one.
func (tx *Tx) endWrite() {
	tx.spare = append(tx.spare, tx.retired...)
	clear(tx.retired)
	tx.retired = tx.retired[:0]
	tx.idle = append(tx.idle, tx.nodes...)
	clear(tx.nodes)
	tx.nodes = tx.nodes[:0]
}

// step is one branch on the way from the root to a leaf.
type step struct {
	pg   uint32
	idx  int  // child taken
	last bool // idx is the branch's last child
}

// Begin starts a write transaction. Only one runs at a time: Begin blocks
// until the previous one is applied or rolled back. Its Seq is db.Seq()+1.
func (db *DB) Begin() *Tx {
	db.wmu.Lock()
	tx := &Tx{db: db, writable: true, meta: db.meta, seq: db.meta.seq + 1, dirty: make(map[uint32][]byte)}
	db.mu.RLock()
	if db.closed {
		tx.err = ErrClosed
	}
	db.mu.RUnlock()
	if tx.err == nil {
		tx.err = db.werr
	}
	return tx
}

// View runs fn in a read-only transaction over the applied state. Many
// Views run at once; Apply waits for running Views. fn must not start a
// write transaction that it waits to apply, nor call View again (a pending
// Apply would deadlock with it). View returns fn's error, or else the
// error the transaction kept (see Tx.Err).
func (db *DB) View(fn func(tx *Tx) error) error {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return ErrClosed
	}
	tx := &Tx{db: db, meta: db.meta, seq: db.meta.seq}
	err := fn(tx)
	tx.done = true
	if tx.leaf != nil {
		db.leaves.Put(tx.leaf)
		tx.leaf = nil
	}
	if err == nil {
		err = tx.err
	}
	return err
}

// Seq returns the transaction's sequence: for a write transaction, the one
// it commits as; for a View, the last applied one.
func (tx *Tx) Seq() uint64 { return tx.seq }

// Dirty reports whether the transaction changed anything. A transaction
// that is not dirty does not use up its sequence: Prepare and Apply do
// nothing, and the caller must not record Seq at its commit point.
func (tx *Tx) Dirty() bool { return len(tx.dirty) > 0 }

// DirtyPages returns how many pages the transaction has changed so far:
// each is a private page image it holds until it ends.
func (tx *Tx) DirtyPages() int { return len(tx.dirty) }

// Err returns the first error met by a read or write in the transaction.
func (tx *Tx) Err() error { return tx.err }

func (tx *Tx) fail(err error) error {
	if tx.err == nil {
		tx.err = err
	}
	return err
}

// page returns a leaf or branch page as the transaction sees it.
func (tx *Tx) page(pg uint32) ([]byte, error) {
	p, err := tx.rawPage(pg, true)
	if err != nil {
		return nil, err
	}
	if p[0] != typeLeaf && p[0] != typeBranch {
		return nil, fmt.Errorf("btree: page %d: %w", pg, errType)
	}
	return p, nil
}

// rawPage returns any page as the transaction sees it.
func (tx *Tx) rawPage(pg uint32, cached bool) ([]byte, error) {
	if err := tx.checkPointer(pg); err != nil {
		return nil, err
	}
	if p, ok := tx.dirty[pg]; ok {
		return p, nil
	}
	return tx.db.readPage(pg, cached)
}

// checkPointer refuses a page number outside the transaction's file.
func (tx *Tx) checkPointer(pg uint32) error {
	if pg == 0 || pg >= tx.meta.pages {
		return fmt.Errorf("btree: page %d: %w", pg, errPointer)
	}
	return nil
}

// lookupPage is page for a point lookup (Get) in a View, of page pg at
// depth (0: the root). A page that is not cached is read into the
// transaction's buffer, which the next read of the lookup reuses (a lookup
// needs one page at a time), and is cached only if it is a branch near the
// root. A list of a hundred issues looks up a hundred scattered leaves
// under as many lower branches: cached, they would each cost a fresh page
// and push out the upper branches, which every lookup needs.
func (tx *Tx) lookupPage(pg uint32, depth int) ([]byte, error) {
	if tx.writable {
		return tx.page(pg)
	}
	if err := tx.checkPointer(pg); err != nil {
		return nil, err
	}
	if p := tx.db.cache.get(pg); p != nil {
		return p, nil // only leaves and branches are cached
	}
	if tx.leaf == nil {
		tx.leaf = tx.db.leaves.Get().(*[pageSize]byte)
	}
	p := tx.leaf[:]
	if err := tx.db.readPageInto(pg, p); err != nil {
		return nil, err
	}
	switch {
	case p[0] == typeBranch && depth < lookupCacheDepth:
		p = append(tx.db.cache.fresh()[:0], p...)
		tx.db.cache.put(pg, p)
		return p, nil
	case p[0] == typeLeaf || p[0] == typeBranch:
		return p, nil
	}
	return nil, fmt.Errorf("btree: page %d: %w", pg, errType)
}

// lookupCacheDepth is how deep a View's lookups cache the branches they
// read: the root and its children.
const lookupCacheDepth = 2

// descend walks from the root to the leaf whose range holds key, recording
// the branches in tx.path.
func (tx *Tx) descend(key string) (uint32, []byte, error) {
	return tx.descendWith(key, false)
}

// descendWith is descend; lookup reads the pages with lookupPage, for a
// Get: the leaf returned is then valid only until the next lookup, and no
// page of the path may be kept.
func (tx *Tx) descendWith(key string, lookup bool) (uint32, []byte, error) {
	tx.path = tx.path[:0]
	pg := tx.meta.root
	for {
		var p []byte
		var err error
		if lookup {
			p, err = tx.lookupPage(pg, len(tx.path))
		} else {
			p, err = tx.page(pg)
		}
		if err != nil {
			return 0, nil, err
		}
		if p[0] == typeLeaf {
			return pg, p, nil
		}
		if len(tx.path) >= maxDepth {
			return 0, nil, fmt.Errorf("btree: page %d: %w", pg, errDepth)
		}
		j := childIndex(p, key)
		tx.path = append(tx.path, step{pg, j, j == numCells(p)})
		pg = child(p, j)
	}
}

// Get returns the value of key, as a fresh string, and whether it exists.
func (tx *Tx) Get(key string) (string, bool) {
	desc, ok := tx.lookup(key)
	if !ok {
		return "", false
	}
	v, err := tx.value(desc)
	if err != nil {
		tx.fail(err)
		return "", false
	}
	return v, true
}

// lookup returns the value descriptor of key in its leaf, valid until the
// next lookup, and whether the key exists.
func (tx *Tx) lookup(key string) ([]byte, bool) {
	if tx.done || tx.err != nil {
		return nil, false
	}
	_, p, err := tx.descendWith(key, true)
	if err != nil {
		tx.fail(err)
		return nil, false
	}
	i, ok := leafSearch(p, key)
	if !ok {
		return nil, false
	}
	return leafVal(p, i), true
}

// GetBytes is Get without the copy into a string: the slice may be the
// page's own bytes (in a View, the lookup's reused leaf buffer), valid only
// until the transaction's next lookup or write or its end, and must not be
// modified. For a caller that decodes the value at once (getJSON's
// json.Unmarshal copies what it keeps).
func (tx *Tx) GetBytes(key string) ([]byte, bool) {
	desc, ok := tx.lookup(key)
	if !ok {
		return nil, false
	}
	if desc[0] == valInline {
		return desc[valHdr:len(desc):len(desc)], true
	}
	v := make([]byte, 0, int(le.Uint32(desc[1:])))
	if err := tx.overflow(desc, func(c []byte) { v = append(v, c...) }); err != nil {
		tx.fail(err)
		return nil, false
	}
	return v, true
}

// value returns the value a descriptor stands for, as a fresh string.
func (tx *Tx) value(desc []byte) (string, error) {
	if desc[0] == valInline {
		return string(desc[valHdr:]), nil
	}
	var b strings.Builder
	b.Grow(int(le.Uint32(desc[1:])))
	if err := tx.overflow(desc, func(c []byte) { b.Write(c) }); err != nil {
		return "", err
	}
	return b.String(), nil
}

// overflow passes the chunks of an overflow value, in order, to fn.
func (tx *Tx) overflow(desc []byte, fn func([]byte)) error {
	n := int(le.Uint32(desc[1:]))
	pg := le.Uint32(desc[valHdr:])
	for done := 0; done < n; {
		p, err := tx.rawPage(pg, false)
		if err != nil {
			return err
		}
		dl := int(le.Uint32(p[8:12]))
		if p[0] != typeOverflow || dl == 0 || done+dl > n {
			return fmt.Errorf("btree: page %d: %w", pg, errChain)
		}
		fn(p[hdrSize : hdrSize+dl])
		done += dl
		pg = le.Uint32(p[4:8])
	}
	return nil
}

func (tx *Tx) checkWrite() error {
	switch {
	case tx.done:
		return ErrTxDone
	case !tx.writable:
		return ErrReadOnly
	case tx.prepared:
		return fmt.Errorf("btree: write after Prepare: %w", ErrTxDone)
	}
	return tx.err
}

// Set stores value under key. Keys are at most MaxKeySize bytes and values
// at most MaxValueSize; values too large for a leaf cell go to overflow pages.
func (tx *Tx) Set(key, value string) error {
	if err := tx.checkWrite(); err != nil {
		return err
	}
	if len(key) > MaxKeySize {
		return ErrKeyTooLarge
	}
	if len(value) > MaxValueSize {
		return ErrValueTooLarge
	}
	err := tx.set(key, value)
	tx.endWrite()
	if err != nil {
		return tx.fail(err)
	}
	return nil
}

func (tx *Tx) set(key, value string) error {
	pg, p, err := tx.descend(key)
	if err != nil {
		return err
	}
	i, found := leafSearch(p, key)
	if found {
		old := leafVal(p, i)
		if old[0] == valInline && len(old) == valHdr+len(value) {
			// A value of the same length (most counter updates) is
			// overwritten in the page: no decode, no encode.
			if string(old[valHdr:]) == value {
				return nil
			}
			q, ok := tx.dirty[pg]
			if !ok {
				// p may be the cache's copy, which readers share.
				q = tx.newPage()
				copy(q, p)
				tx.dirty[pg] = q
			}
			copy(leafVal(q, i)[valHdr:], value)
			return nil
		}
	}
	n := tx.decode(p)
	if found {
		if err := tx.freeValue(n.cells[i].val); err != nil {
			return err
		}
	}
	desc, err := tx.storeValue(key, value)
	if err != nil {
		return err
	}
	if found {
		n.cells[i].val = desc
	} else {
		n.insert(i, cell{key: []byte(key), val: desc})
	}
	return tx.put(len(tx.path), pg, n, i == len(n.cells)-1 && tx.rightmost(len(tx.path)))
}

// rightmost reports whether the node reached through tx.path[:depth] is the
// last one on its level: inserts at its end are appends to the whole tree.
func (tx *Tx) rightmost(depth int) bool {
	for _, s := range tx.path[:depth] {
		if !s.last {
			return false
		}
	}
	return true
}

// storeValue returns the value descriptor for value, writing overflow
// pages when the cell would be larger than maxCell.
func (tx *Tx) storeValue(key, value string) ([]byte, error) {
	if leafFix+len(key)+len(value) <= maxCell {
		d := make([]byte, valHdr+len(value))
		le.PutUint32(d[1:], uint32(len(value)))
		copy(d[valHdr:], value)
		return d, nil
	}
	pgs := make([]uint32, (len(value)+ovflData-1)/ovflData)
	for i := range pgs {
		pg, err := tx.alloc()
		if err != nil {
			return nil, err
		}
		pgs[i] = pg
	}
	for i, pg := range pgs {
		p := make([]byte, pageSize)
		p[0] = typeOverflow
		if i+1 < len(pgs) {
			le.PutUint32(p[4:], pgs[i+1])
		}
		chunk := value[i*ovflData : min(len(value), (i+1)*ovflData)]
		le.PutUint32(p[8:], uint32(len(chunk)))
		copy(p[hdrSize:], chunk)
		tx.dirty[pg] = p
	}
	d := make([]byte, ovflDesc)
	d[0] = valOverflow
	le.PutUint32(d[1:], uint32(len(value)))
	le.PutUint32(d[valHdr:], pgs[0])
	return d, nil
}

// freeValue frees the overflow pages of a value descriptor.
func (tx *Tx) freeValue(desc []byte) error {
	if desc[0] != valOverflow {
		return nil
	}
	n := int(le.Uint32(desc[1:]))
	pg := le.Uint32(desc[valHdr:])
	for seen := 0; seen < n; {
		p, err := tx.rawPage(pg, false)
		if err != nil {
			return err
		}
		dl := int(le.Uint32(p[8:12]))
		if p[0] != typeOverflow || dl == 0 || seen+dl > n {
			return fmt.Errorf("btree: page %d: %w", pg, errChain)
		}
		seen += dl
		next := le.Uint32(p[4:8])
		if err := tx.free(pg); err != nil {
			return err
		}
		pg = next
	}
	return nil
}

// put stores node n as page pg, the node reached through tx.path[:depth],
// splitting it and its ancestors as needed. appending says an insert went
// to the node's last cell.
func (tx *Tx) put(depth int, pg uint32, n *node, appending bool) error {
	if n.fits() {
		tx.encode(pg, n)
		return nil
	}
	k := n.splitPoint(appending)
	left := &node{typ: n.typ, first: n.first, cells: n.cells[:k]}
	right := &node{typ: n.typ}
	var sep []byte
	if n.typ == typeLeaf {
		right.cells = n.cells[k:]
		sep = separator(n.cells[k-1].key, n.cells[k].key)
	} else {
		right.first = n.cells[k].kid
		right.cells = n.cells[k+1:]
		sep = n.cells[k].key
	}
	rpg, err := tx.alloc()
	if err != nil {
		return err
	}
	tx.encode(pg, left)
	tx.encode(rpg, right)
	if depth == 0 {
		root, err := tx.alloc()
		if err != nil {
			return err
		}
		tx.encode(root, &node{typ: typeBranch, first: pg, cells: []cell{{key: sep, kid: rpg}}})
		tx.meta.root = root
		return nil
	}
	s := tx.path[depth-1]
	pp, err := tx.page(s.pg)
	if err != nil {
		return err
	}
	parent := tx.decode(pp)
	parent.insert(s.idx, cell{key: sep, kid: rpg})
	return tx.put(depth-1, s.pg, parent, s.idx == len(parent.cells)-1 && tx.rightmost(depth-1))
}

// Delete removes key and reports whether it existed. A leaf or branch left
// empty is removed from its parent and freed.
func (tx *Tx) Delete(key string) bool {
	if tx.checkWrite() != nil {
		return false
	}
	ok, err := tx.delete(key)
	tx.endWrite()
	if err != nil {
		tx.fail(err)
		return false
	}
	return ok
}

func (tx *Tx) delete(key string) (bool, error) {
	pg, p, err := tx.descend(key)
	if err != nil {
		return false, err
	}
	i, found := leafSearch(p, key)
	if !found {
		return false, nil
	}
	if err := tx.freeValue(leafVal(p, i)); err != nil {
		return false, err
	}
	n := tx.decode(p)
	n.remove(i)
	if len(n.cells) > 0 || len(tx.path) == 0 {
		tx.encode(pg, n)
		if len(tx.path) > 0 && n.size(0, len(n.cells)) < usable/4 {
			return true, tx.merge(pg, n)
		}
		return true, nil
	}
	if err := tx.free(pg); err != nil {
		return false, err
	}
	return true, tx.removeChild(len(tx.path))
}

// merge merges underfull leaf n, page pg, reached through tx.path, with a
// sibling under the same parent when both fit in one page, so that random
// deletes do not leave the file full of nearly empty leaves.
func (tx *Tx) merge(pg uint32, n *node) error {
	s := &tx.path[len(tx.path)-1]
	pp, err := tx.page(s.pg)
	if err != nil {
		return err
	}
	j := s.idx - 1
	if j < 0 {
		j = s.idx + 1
	}
	if j > numCells(pp) {
		return nil
	}
	spg := child(pp, j)
	sp, err := tx.page(spg)
	if err != nil {
		return err
	}
	if sp[0] != typeLeaf {
		return fmt.Errorf("btree: page %d: %w", spg, errType)
	}
	sib := tx.decode(sp)
	if n.size(0, len(n.cells))+sib.size(0, len(sib.cells)) > usable {
		return nil
	}
	left, right, lpg, rpg, ridx := sib, n, spg, pg, s.idx
	if j > s.idx {
		left, right, lpg, rpg, ridx = n, sib, pg, spg, j
	}
	left.cells = append(left.cells, right.cells...)
	tx.encode(lpg, left)
	if err := tx.free(rpg); err != nil {
		return err
	}
	s.idx = ridx // removeChild drops the right page and the separator before it
	return tx.removeChild(len(tx.path))
}

// removeChild removes the child taken at tx.path[depth-1] from its branch,
// which was emptied and freed.
func (tx *Tx) removeChild(depth int) error {
	s := tx.path[depth-1]
	p, err := tx.page(s.pg)
	if err != nil {
		return err
	}
	n := tx.decode(p)
	switch {
	case len(n.cells) == 0 && depth == 1:
		// The root lost its only child: the tree is empty.
		tx.dirty[s.pg] = emptyLeaf()
		return nil
	case len(n.cells) == 0:
		if err := tx.free(s.pg); err != nil {
			return err
		}
		return tx.removeChild(depth - 1)
	case s.idx == 0:
		n.first = n.cells[0].kid
		n.remove(0)
	default:
		n.remove(s.idx - 1)
	}
	if depth == 1 && len(n.cells) == 0 {
		return tx.shrinkRoot(s.pg, n)
	}
	tx.encode(s.pg, n)
	return nil
}

// shrinkRoot replaces root branch n, page pg, which has one child, by that
// child, and repeats while the new root is such a branch too.
func (tx *Tx) shrinkRoot(pg uint32, n *node) error {
	for depth := 0; ; depth++ {
		if depth > maxDepth {
			return fmt.Errorf("btree: page %d: %w", pg, errDepth)
		}
		tx.meta.root = n.first
		if err := tx.free(pg); err != nil {
			return err
		}
		pg = n.first
		p, err := tx.page(pg)
		if err != nil {
			return err
		}
		if p[0] != typeBranch || numCells(p) > 0 {
			return nil
		}
		n = tx.decode(p)
	}
}

// trunk returns freelist trunk page pg as a private, writable image.
func (tx *Tx) trunk(pg uint32) ([]byte, error) {
	p, err := tx.rawPage(pg, false)
	if err != nil {
		return nil, err
	}
	if p[0] != typeTrunk {
		return nil, fmt.Errorf("btree: page %d: %w", pg, errType)
	}
	if _, ok := tx.dirty[pg]; !ok {
		p = slices.Clone(p)
		tx.dirty[pg] = p
	}
	return p, nil
}

// free puts page pg on the freelist: into the first trunk page if it has
// room, else pg becomes the new first trunk page.
func (tx *Tx) free(pg uint32) error {
	if h := tx.meta.freeHead; h != 0 {
		p, err := tx.trunk(h)
		if err != nil {
			return err
		}
		if n := le.Uint32(p[8:12]); n < trunkCap {
			le.PutUint32(p[hdrSize+4*n:], pg)
			le.PutUint32(p[8:12], n+1)
			tx.meta.freeCount++
			return nil
		}
	}
	p := make([]byte, pageSize)
	p[0] = typeTrunk
	le.PutUint32(p[4:], tx.meta.freeHead)
	tx.dirty[pg] = p
	tx.meta.freeHead = pg
	tx.meta.freeCount++
	return nil
}

// alloc returns a page for the transaction to fill: from the freelist, or
// else a new page at the end of the file.
func (tx *Tx) alloc() (uint32, error) {
	h := tx.meta.freeHead
	if h == 0 {
		if tx.meta.pages == maxPages {
			return 0, ErrFull
		}
		tx.meta.pages++
		return tx.meta.pages - 1, nil
	}
	p, err := tx.trunk(h)
	if err != nil {
		return 0, err
	}
	if tx.meta.freeCount > 0 {
		tx.meta.freeCount--
	}
	n := le.Uint32(p[8:12])
	if n == 0 {
		next := le.Uint32(p[4:8])
		if next >= tx.meta.pages || next == h {
			return 0, fmt.Errorf("btree: page %d: %w", h, errPointer)
		}
		tx.meta.freeHead = next
		return h, nil
	}
	n--
	pg := le.Uint32(p[hdrSize+4*n:])
	if pg == 0 || pg >= tx.meta.pages || pg == h {
		return 0, fmt.Errorf("btree: page %d: %w", h, errPointer)
	}
	le.PutUint32(p[8:12], n)
	return pg, nil
}

// Prepare appends the transaction's journal entry (its sequence and every
// page it changed, meta page included, under one checksum) and syncs the
// journal. After Prepare the caller commits Seq at its commit point and
// then calls Apply, or calls Rollback. Prepare does nothing for a
// transaction that is not Dirty.
func (tx *Tx) Prepare() error {
	sync, err := tx.PrepareUnsynced()
	if err != nil {
		return err
	}
	return sync()
}

// PrepareUnsynced is Prepare in two steps, so that the caller can sync
// other files at the same time as the journal: it appends the entry and
// returns the function that syncs the journal. The transaction is prepared
// only once that function has returned nil, which must happen before the
// caller's commit point. For a transaction that is not Dirty the function
// does nothing.
func (tx *Tx) PrepareUnsynced() (sync func() error, err error) {
	none := func() error { return nil }
	switch {
	case tx.done:
		return nil, ErrTxDone
	case !tx.writable:
		return nil, ErrReadOnly
	case tx.err != nil:
		return nil, tx.err
	case tx.prepared || len(tx.dirty) == 0:
		return none, nil
	case tx.journaled:
		return nil, errors.New("btree: transaction prepared twice")
	}
	db := tx.db
	tx.meta.seq = tx.seq
	tx.dirty[0] = tx.meta.encode()
	pgs := make([]uint32, 0, len(tx.dirty))
	for pg, p := range tx.dirty {
		pgs = append(pgs, pg)
		seal(p)
	}
	slices.Sort(pgs)
	tx.pgs = pgs
	tx.jstart = db.joff
	tx.journaled = true
	length := int64(entryHdrSize + len(pgs)*entryPageSize + 4)
	hdr := make([]byte, entryHdrSize)
	le.PutUint32(hdr, journalMagic)
	le.PutUint32(hdr[4:], uint32(len(pgs)))
	le.PutUint64(hdr[8:], tx.seq)
	le.PutUint64(hdr[16:], uint64(length))
	// The writer is kept from entry to entry (it is 64 KiB); wmu guards it.
	if db.jw == nil {
		db.jw = bufio.NewWriterSize(nil, 64<<10)
	}
	w := db.jw
	w.Reset(io.NewOffsetWriter(db.jf, db.joff))
	defer w.Reset(nil) // do not keep the journal file reachable
	crc := crc32.Update(0, castagnoli, hdr)
	w.Write(hdr)
	var num [4]byte
	for _, pg := range pgs {
		le.PutUint32(num[:], pg)
		crc = crc32.Update(crc, castagnoli, num[:])
		crc = crc32.Update(crc, castagnoli, tx.dirty[pg])
		w.Write(num[:])
		w.Write(tx.dirty[pg])
	}
	le.PutUint32(num[:], crc)
	w.Write(num[:])
	if err := w.Flush(); err != nil {
		return nil, tx.fail(fmt.Errorf("btree: write journal: %w", err))
	}
	return func() error {
		if tx.err != nil {
			return tx.err
		}
		if err := db.jf.Sync(); err != nil {
			return tx.fail(fmt.Errorf("btree: sync journal: %w", err))
		}
		db.joff += length
		tx.prepared = true
		return nil
	}, nil
}

// Apply installs a prepared transaction, after the caller's commit point
// has committed its Seq: the pages go into the cache and are written to the
// tree file (not synced; the journal holds them). It ends the transaction
// and checkpoints when the journal has grown past about 4 MiB. An error
// from Apply means the tree file could not be written: the DB refuses
// further writes, and reopening it redoes the transaction from the journal.
func (tx *Tx) Apply() error {
	switch {
	case tx.done:
		return ErrTxDone
	case !tx.writable:
		return ErrReadOnly
	case len(tx.dirty) > 0 && !tx.prepared && tx.err != nil:
		tx.Rollback()
		return tx.err
	case len(tx.dirty) > 0 && !tx.prepared:
		return ErrNotPrepared
	}
	db := tx.db
	defer tx.end()
	if len(tx.dirty) == 0 {
		return nil
	}
	var err error
	db.mu.Lock()
	for _, pg := range tx.pgs {
		p := tx.dirty[pg]
		if _, werr := db.f.WriteAt(p, int64(pg)*pageSize); werr != nil && err == nil {
			err = fmt.Errorf("btree: write page %d: %w", pg, werr)
		}
		if p[0] == typeLeaf || p[0] == typeBranch {
			db.cache.put(pg, p)
		} else {
			db.cache.remove(pg)
		}
	}
	db.meta = tx.meta
	db.seq.Store(tx.meta.seq)
	db.cache.reclaim() // no View runs, and this transaction's reads are over
	db.mu.Unlock()
	if err == nil && db.joff > checkpointSize {
		err = db.checkpoint()
	}
	if err != nil {
		db.werr = err
	}
	return err
}

// Rollback drops the transaction's changes; if it was prepared, its
// journal entry is cut off again. It ends the transaction, and does
// nothing if it already ended.
func (tx *Tx) Rollback() {
	if tx.done || !tx.writable {
		return
	}
	defer tx.end()
	if tx.journaled {
		if err := truncateJournal(tx.db.jf, tx.jstart); err != nil {
			tx.db.werr = err
			return
		}
		tx.db.joff = tx.jstart
	}
}

// end releases the writer.
func (tx *Tx) end() {
	tx.done = true
	tx.dirty = nil
	tx.spare, tx.retired, tx.nodes, tx.idle = nil, nil, nil, nil
	tx.db.wmu.Unlock()
}

// Commit prepares and applies the transaction, for callers without an
// external commit point. On error the transaction is rolled back.
func (tx *Tx) Commit() error {
	if err := tx.Prepare(); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Apply()
}
