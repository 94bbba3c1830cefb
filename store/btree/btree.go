package btree

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sync"
	"sync/atomic"
)

// Errors returned by the package. Errors from the file system are wrapped
// with a short "btree: ..." context and returned as they are.
var (
	// ErrCorrupt is returned when a page or the meta page fails its
	// checksum or holds an impossible value.
	ErrCorrupt = errors.New("btree: corrupt file")
	// ErrAhead is returned by Open when the tree file has applied a
	// transaction later than the commit point says was committed.
	ErrAhead = errors.New("btree: tree file is ahead of the commit point")
	// ErrClosed is returned when using a closed DB.
	ErrClosed = errors.New("btree: database is closed")
	// ErrTxDone is returned when using a transaction after Apply, Rollback or
	// Commit, or a View's transaction after View returned.
	ErrTxDone = errors.New("btree: transaction is done")
	// ErrReadOnly is returned by writes in a View transaction.
	ErrReadOnly = errors.New("btree: transaction is read-only")
	// ErrKeyTooLarge is returned by Set for a key longer than MaxKeySize.
	ErrKeyTooLarge = errors.New("btree: key too large")
	// ErrValueTooLarge is returned by Set for a value longer than MaxValueSize.
	ErrValueTooLarge = errors.New("btree: value too large")
	// ErrNotPrepared is returned by Apply for a dirty transaction that was
	// not prepared.
	ErrNotPrepared = errors.New("btree: transaction is not prepared")
	// ErrFull is returned when the file would need more than 2^32-1 pages.
	ErrFull = errors.New("btree: file is full")
)

// Reasons for ErrCorrupt, wrapped so that errors.Is(err, ErrCorrupt) holds.
var (
	errChecksum = fmt.Errorf("%w: bad checksum", ErrCorrupt)
	errType     = fmt.Errorf("%w: bad page type", ErrCorrupt)
	errLayout   = fmt.Errorf("%w: bad page layout", ErrCorrupt)
	errPointer  = fmt.Errorf("%w: page number out of range", ErrCorrupt)
	errDepth    = fmt.Errorf("%w: tree too deep", ErrCorrupt)
	errChain    = fmt.Errorf("%w: bad overflow chain", ErrCorrupt)
)

const (
	metaMagic   = "TSBTREE\x00"
	metaVersion = 1

	journalMagic   = 0x4a4b5354 // "TSKJ" little-endian
	entryHdrSize   = 24         // magic u32, page count u32, seq u64, length u64
	entryPageSize  = 4 + pageSize
	maxEntryPages  = 1 << 20
	checkpointSize = 4 << 20 // checkpoint when the journal grows past this

	// DefaultCacheBytes is the page cache bound used when Options.CacheBytes is 0.
	DefaultCacheBytes = 1 << 20
	minCachePages     = 16
)

// Options configure Open.
type Options struct {
	// CacheBytes bounds the memory of cached pages; DefaultCacheBytes
	// (256 pages of 4 KiB) when 0. At least 16 pages are cached.
	CacheBytes int
}

// meta is the content of page 0.
type meta struct {
	root      uint32 // root page, a leaf or branch
	pages     uint32 // pages in the file, including meta
	freeHead  uint32 // first freelist trunk page, 0 if none
	freeCount uint32 // free pages, trunks included
	seq       uint64 // last applied transaction
}

func (m meta) encode() []byte {
	p := make([]byte, pageSize)
	copy(p, metaMagic)
	le.PutUint32(p[8:], metaVersion)
	le.PutUint32(p[12:], pageSize)
	le.PutUint32(p[16:], m.root)
	le.PutUint32(p[20:], m.pages)
	le.PutUint32(p[24:], m.freeHead)
	le.PutUint32(p[28:], m.freeCount)
	le.PutUint64(p[32:], m.seq)
	seal(p)
	return p
}

func decodeMeta(p []byte) (meta, error) {
	if string(p[:8]) != metaMagic || le.Uint32(p[crcOff:]) != pageCRC(p) {
		return meta{}, fmt.Errorf("%w: bad meta page", ErrCorrupt)
	}
	if v := le.Uint32(p[8:]); v != metaVersion {
		return meta{}, fmt.Errorf("btree: unknown format version %d", v)
	}
	if ps := le.Uint32(p[12:]); ps != pageSize {
		return meta{}, fmt.Errorf("btree: unsupported page size %d", ps)
	}
	m := meta{
		root:      le.Uint32(p[16:]),
		pages:     le.Uint32(p[20:]),
		freeHead:  le.Uint32(p[24:]),
		freeCount: le.Uint32(p[28:]),
		seq:       le.Uint64(p[32:]),
	}
	if m.pages < 2 || m.root == 0 || m.root >= m.pages || m.freeHead >= m.pages {
		return meta{}, fmt.Errorf("%w: bad meta page", ErrCorrupt)
	}
	return m, nil
}

// DB is an open tree file. It is safe for concurrent use: one write
// transaction at a time and any number of View transactions.
type DB struct {
	path  string
	f     *os.File // tree file
	jf    *os.File // journal
	cache *cache
	seq   atomic.Uint64 // meta.seq, readable without locks
	// leaves holds the page buffers of Views' lookups (Tx.lookupPage).
	leaves sync.Pool

	wmu  sync.Mutex    // held by the write transaction from Begin to Apply/Rollback
	joff int64         // journal size; guarded by wmu
	jw   *bufio.Writer // the journal's writer (PrepareUnsynced); guarded by wmu
	werr error         // sticky error that stops writes; guarded by wmu

	mu     sync.RWMutex // View holds it shared; Apply holds it to install pages
	meta   meta         // applied state; written under mu and wmu
	closed bool         // guarded by mu
}

// Open opens or creates the tree file at path, with its journal at
// path+".journal". committed is the highest transaction sequence the
// caller's commit point has recorded: journal entries with seq <= committed
// are redone into the tree file and later ones are discarded. Then the tree
// file is synced and the journal truncated.
//
// If the tree file has applied a transaction after committed (the commit
// point lost a commit), Open returns ErrAhead; opening with committed set
// to math.MaxUint64 accepts everything the journal holds. A tree file that
// is behind committed (it was replaced, say) is not an error: compare Seq.
func Open(path string, committed uint64, opt Options) (*DB, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("btree: open: %w", err)
	}
	jf, err := os.OpenFile(path+".journal", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("btree: open journal: %w", err)
	}
	db, err := open(path, f, jf, committed, opt)
	if err != nil {
		f.Close()
		jf.Close()
		return nil, err
	}
	return db, nil
}

func open(path string, f, jf *os.File, committed uint64, opt Options) (*DB, error) {
	if err := recoverJournal(f, jf, committed); err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("btree: stat: %w", err)
	}
	if st.Size() < 2*pageSize {
		// A new file, or one whose creation never finished: nothing in it
		// was ever committed (creation is synced before Open returns).
		if err := create(f); err != nil {
			return nil, err
		}
	}
	p := make([]byte, pageSize)
	if _, err := f.ReadAt(p, 0); err != nil {
		return nil, fmt.Errorf("btree: read meta: %w", err)
	}
	m, err := decodeMeta(p)
	if err != nil {
		return nil, err
	}
	if m.seq > committed {
		return nil, fmt.Errorf("%w (tree %d, committed %d)", ErrAhead, m.seq, committed)
	}
	n := opt.CacheBytes
	if n <= 0 {
		n = DefaultCacheBytes
	}
	db := &DB{path: path, f: f, jf: jf, cache: newCache(max(n/pageSize, minCachePages)), meta: m}
	db.leaves.New = func() any { return new([pageSize]byte) }
	db.seq.Store(m.seq)
	return db, nil
}

// create writes an empty tree: the meta page and an empty root leaf.
func create(f *os.File) error {
	leaf := emptyLeaf()
	seal(leaf)
	if _, err := f.WriteAt(leaf, pageSize); err != nil {
		return fmt.Errorf("btree: create: %w", err)
	}
	if _, err := f.WriteAt(meta{root: 1, pages: 2}.encode(), 0); err != nil {
		return fmt.Errorf("btree: create: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("btree: create: %w", err)
	}
	return nil
}

// recoverJournal redoes the journal's intact entries with seq <= committed,
// in order, then syncs the tree file and empties the journal. It stops at
// the first torn or bad entry, or at an entry whose seq does not increase
// (left over from before a truncation that did not reach the disk).
func recoverJournal(f, jf *os.File, committed uint64) error {
	var off int64
	var prev uint64
	redone := false
	hdr := make([]byte, entryHdrSize)
	buf := make([]byte, 64<<10)
	for {
		if _, err := jf.ReadAt(hdr, off); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				break
			}
			return fmt.Errorf("btree: read journal: %w", err)
		}
		n := int64(le.Uint32(hdr[4:]))
		seq := le.Uint64(hdr[8:])
		length := int64(le.Uint64(hdr[16:]))
		if le.Uint32(hdr) != journalMagic || n == 0 || n > maxEntryPages ||
			length != entryHdrSize+n*entryPageSize+4 || seq <= prev || seq > committed {
			break
		}
		ok, err := entryIntact(jf, off, length, hdr, buf)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		for i := int64(0); i < n; i++ {
			rec := buf[:entryPageSize]
			if _, err := jf.ReadAt(rec, off+entryHdrSize+i*entryPageSize); err != nil {
				return fmt.Errorf("btree: read journal: %w", err)
			}
			pg := int64(le.Uint32(rec))
			if _, err := f.WriteAt(rec[4:], pg*pageSize); err != nil {
				return fmt.Errorf("btree: redo journal: %w", err)
			}
		}
		redone = true
		prev = seq
		off += length
	}
	if redone {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("btree: sync: %w", err)
		}
	}
	return truncateJournal(jf, 0)
}

// entryIntact reports whether the journal entry at off has a good checksum.
func entryIntact(jf *os.File, off, length int64, hdr, buf []byte) (bool, error) {
	crc := crc32.Update(0, castagnoli, hdr)
	pos, end := off+entryHdrSize, off+length-4
	for pos < end {
		chunk := buf[:min(int64(len(buf)), end-pos)]
		if _, err := jf.ReadAt(chunk, pos); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return false, nil
			}
			return false, fmt.Errorf("btree: read journal: %w", err)
		}
		crc = crc32.Update(crc, castagnoli, chunk)
		pos += int64(len(chunk))
	}
	var sum [4]byte
	if _, err := jf.ReadAt(sum[:], end); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return false, nil
		}
		return false, fmt.Errorf("btree: read journal: %w", err)
	}
	return le.Uint32(sum[:]) == crc, nil
}

func truncateJournal(jf *os.File, size int64) error {
	if err := jf.Truncate(size); err != nil {
		return fmt.Errorf("btree: truncate journal: %w", err)
	}
	if err := jf.Sync(); err != nil {
		return fmt.Errorf("btree: sync journal: %w", err)
	}
	return nil
}

// checkpoint makes the tree file durable and empties the journal.
// The caller holds wmu.
func (db *DB) checkpoint() error {
	if err := db.f.Sync(); err != nil {
		return fmt.Errorf("btree: sync: %w", err)
	}
	if err := truncateJournal(db.jf, 0); err != nil {
		return err
	}
	db.joff = 0
	return nil
}

// Checkpoint syncs the tree file and empties the journal now, rather than
// when the journal passes about 4 MiB, so that what the journal held stops
// taking disk. It waits for a running write transaction to finish.
func (db *DB) Checkpoint() error {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	db.mu.Lock()
	closed := db.closed
	db.mu.Unlock()
	switch {
	case closed:
		return ErrClosed
	case db.werr != nil:
		return db.werr
	case db.joff == 0:
		return nil
	}
	if err := db.checkpoint(); err != nil {
		db.werr = err
		return err
	}
	return nil
}

// Close checkpoints (syncs the tree file, empties the journal) and closes
// the files. It waits for a running write transaction to finish.
func (db *DB) Close() error {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return ErrClosed
	}
	db.closed = true
	db.mu.Unlock()
	err := db.werr
	if err == nil {
		err = db.checkpoint()
	}
	if cerr := db.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("btree: close: %w", cerr)
	}
	if cerr := db.jf.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("btree: close journal: %w", cerr)
	}
	return err
}

// Seq returns the sequence of the last applied transaction.
func (db *DB) Seq() uint64 { return db.seq.Load() }

// Stats describe the file; see DB.Stats.
type Stats struct {
	Pages       int // pages in the file, meta page included
	FreePages   int // pages on the freelist
	CachedPages int
}

// ReleaseBuffers drops the journal's 64 KiB writer, which write
// transactions keep from one to the next (the next one makes it again),
// and stops RecyclePages, dropping the page slices it kept.
func (db *DB) ReleaseBuffers() {
	db.wmu.Lock()
	db.jw = nil
	db.wmu.Unlock()
	db.cache.setRecycle(false)
}

// RecyclePages keeps the buffers of the pages that leave the cache, to be
// read or built into again once no reader can hold them (see cache), until
// ReleaseBuffers. It is for a run of write transactions, which free them.
func (db *DB) RecyclePages() { db.cache.setRecycle(true) }

// SetCacheBytes bounds the page cache to n bytes (at least 16 pages) from
// now on; lowering it evicts the least recently used pages at once.
func (db *DB) SetCacheBytes(n int) {
	db.cache.setMax(max(n/pageSize, minCachePages))
}

// Stats returns the size of the file and of the cache, as of the last
// applied transaction.
func (db *DB) Stats() Stats {
	db.mu.RLock()
	m := db.meta
	db.mu.RUnlock()
	return Stats{Pages: int(m.pages), FreePages: int(m.freeCount), CachedPages: db.cache.len()}
}

// readPage returns page pg of the file, through the cache when cached is
// set. Only leaves and branches are cached: overflow pages would flush it.
func (db *DB) readPage(pg uint32, cached bool) ([]byte, error) {
	if cached {
		if p := db.cache.get(pg); p != nil {
			return p, nil
		}
	}
	var p []byte
	if cached {
		p = db.cache.fresh()
	} else {
		p = make([]byte, pageSize)
	}
	if err := db.readPageInto(pg, p); err != nil {
		return nil, err
	}
	if cached && (p[0] == typeLeaf || p[0] == typeBranch) {
		db.cache.put(pg, p)
	}
	return p, nil
}

// readPageInto reads page pg of the file into p (pageSize bytes) and
// checks it.
func (db *DB) readPageInto(pg uint32, p []byte) error {
	if _, err := db.f.ReadAt(p, int64(pg)*pageSize); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return fmt.Errorf("btree: page %d: %w", pg, errPointer)
		}
		return fmt.Errorf("btree: read page %d: %w", pg, err)
	}
	if err := checkPage(p); err != nil {
		return fmt.Errorf("btree: page %d: %w", pg, err)
	}
	return nil
}
