// Package btree is a single-file, ordered, string-key to string-value
// B+tree with a redo journal, read through a small bounded page cache with
// pread and pwrite (no mmap: mapped pages would count in the process's RSS).
//
// It is meant to sit under a commit point kept elsewhere (buntdb in
// tinysink): a write transaction is prepared (its journal entry made
// durable), the caller commits the transaction's sequence number at its
// commit point, and then applies it. On Open, journal entries the commit
// point has recorded are redone and later ones discarded, so the tree and
// the commit point always agree.
//
//	tx := db.Begin()
//	tx.Set("k", "v")
//	if err := tx.Prepare(); err != nil { tx.Rollback(); return err }
//	if err := commitPoint(tx.Seq()); err != nil { tx.Rollback(); return err }
//	return tx.Apply()
//
// Memory use does not grow with the number of keys: it is the page cache
// (Options.CacheBytes) plus the pages the running write transaction changed
// (and the images of them it replaced, kept as scratch for its next
// change: at most as many), plus one page per running View that looked a
// key up, plus, while DB.RecyclePages is on, at most as many page buffers
// as the cache holds that left it and wait to be reused (see cache;
// DB.ReleaseBuffers drops them). A View's Get reads a
// leaf, or a branch below the root's children, that is not cached into that
// page and does not cache it: the scattered lookups of a list page would
// otherwise push out the upper branches that every lookup needs.
//
// # Tree file
//
// The file is an array of 4096-byte pages. Every page ends in a crc32c
// (Castagnoli) of its first 4092 bytes; integers are little-endian. Page 0
// is the meta page:
//
//	0   magic "TSBTREE\x00"
//	8   version u32 (1)
//	12  page size u32 (4096)
//	16  root page u32
//	20  page count u32 (pages in the file, meta included)
//	24  freelist head u32 (first trunk page, 0 if none)
//	28  free page count u32
//	32  applied seq u64
//
// Other pages start with a 16-byte header whose first byte is the type:
//
//	2 leaf      2: cell count u16; 16: cell offsets u16[count]; cells
//	3 branch    2: key count u16; 4: leftmost child u32; 16: offsets u16[count]; cells
//	4 overflow  4: next overflow page u32 (0 ends); 8: data length u32; 16: data
//	5 trunk     4: next trunk page u32; 8: count u32; 16: free page numbers u32[count]
//
// A leaf cell is key length u16, key, flags u8, value length u32, then the
// value (flags 0) or the first page of its overflow chain u32 (flags 1).
// Values go to overflow pages when the cell would exceed 1024 bytes, so a
// leaf always holds at least three cells. A branch cell is child u32, key
// length u16, key: child i+1 holds the keys >= key i and < key i+1; the
// leftmost child holds the keys < key 0. Separators are the shortest
// strings between the neighbouring leaves' keys. Leaves are not linked:
// iteration keeps a stack of pages from the root.
//
// Keys are at most MaxKeySize (512) bytes, values at most MaxValueSize
// (1 MiB). A leaf left less than a quarter full by a delete is merged
// with a sibling when the two fit in one page; branches are not merged, but
// an emptied branch is removed from its parent and freed, and a root
// branch with one child is replaced by it. Freed pages go on the freelist (trunk pages of up to 1019
// page numbers each) and are reused before the file grows.
//
// # Journal
//
// The journal (path+".journal") is a sequence of entries, one per prepared
// transaction, each:
//
//	0   magic u32 "TSKJ"
//	4   page count u32
//	8   seq u64
//	16  entry length u64 (header, pages and checksum)
//	24  (page number u32, page image [4096]byte) × page count
//	    crc32c u32 of everything before it in the entry
//
// The page images are full pages with their checksums, the meta page (with
// the entry's seq) among them, so redoing an entry is idempotent. Tree
// pages are written only after their entry is synced and the caller's
// commit point has committed, and the journal is emptied only after the
// tree file is synced (a checkpoint: at Close, on Open, and when the
// journal passes 4 MiB). So a torn tree page is always one the journal
// holds. Recovery reads entries in order and stops at the first torn or
// bad entry or one whose seq does not increase; it redoes entries with
// seq <= committed and discards the rest.
//
// # Concurrency
//
// One write transaction runs at a time (Begin blocks). It keeps the pages
// it changes in a private set and reads the others through the cache, so
// View transactions never see uncommitted changes. View holds a read lock
// for its whole run; Apply holds the write lock only while it writes the
// pages to the file and installs them in the cache. Cached pages are never
// changed in place, so a reader may use a page after it was evicted.
package btree
