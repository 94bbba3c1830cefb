package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// The event-id index. Each project's directory holds, beside its log,
//
//	ids       an open-addressing hash table from event id to record number
//
// It is read and written with pread/pwrite, so it costs page cache, not
// process memory (mapped pages would count in RSS): a lookup or insert
// holds a few slots on the stack, and building holds one small buffer
// (or, for a table of at most 256 KiB, the table while it is built).
//
// The file is a 64-byte header and then 8-byte slots:
//
//	header  0 magic [8]          8 version u32        12 flags u32 (1 = clean)
//	        16 slots u64         24 used u64          32 covered records u32
//	        36 generation u32    40 hash seed [2]u64  56 reserved u32
//	        60 crc32 (IEEE) of bytes 0–59
//	slot    0 record+1 u32 (0 = empty)   4 tag u32 (the hash's top 32 bits)
//
// The counts in the header (used, covered) are exact when it is clean or
// just built; while the log is open they are kept in memory.
//
// A probe reads the 80-byte log record only when a slot's tag matches, and
// then checks the id and the deleted flag, so an evicted event is simply
// absent and its slot stays, keeping probe chains intact, until the table
// is next built. Slots are never emptied; a slot naming a record at or past
// the committed count is treated as empty and may be reused. The table is
// kept at most half full. When a batch does not fit, a new table is built
// from the log into ids.new, sized for half again the live records
// (idRoom), and renamed over ids. The hash is keyed by a
// random seed kept in the header, so that ids chosen by a client cannot
// pile up on one probe chain.
//
// The index is derived from the log, which stays the truth. The header says
// how many log records it covers and the generation of the log it indexes:
// the project's SegFirst, which a compaction that copies the bodies (the
// only thing besides a compaction of the log alone that renumbers
// records; see compact.go for why that one need not) raises and commits
// together with the new log. While a
// log is open its index is marked dirty on disk (header write + fsync)
// and is never fsync'd per batch; closing fsyncs it and marks it clean. On
// open an index that is not clean, not of the log's generation, covering
// more records than are committed, or damaged in any way is rebuilt from
// the log, in the same sequential pass that counts the live events; one
// covering fewer records gets the missing tail added.

const (
	idxMagic     = "tsids\x00\r\n"
	idxVersion   = 1
	idxHdrSize   = 64
	idxSlotSize  = 8
	idxMinSlots  = 1024
	idxProbe     = 16  // slots read at once while probing
	idxScanRecs  = 256 // log records read at once while building
	idxFlagClean = 1
	// Tables of at most this many bytes are built in memory (a default
	// retention of 10,000 events takes 256 KiB), larger ones in the file.
	idxMemBuild = 256 << 10
)

// idIndex is an open ids file. Lookups (under el.mu read) only read it;
// inserts and switches to a new file happen under el.mu and digestMu.
type idIndex struct {
	f     *os.File
	slots uint64 // a power of two
	used  uint64 // slots taken, by live or deleted records
	gen   uint32
	seed  [2]uint64
}

// hash is a keyed mix of the id's two halves (after wyhash's mum).
func (x *idIndex) hash(id *[16]byte) uint64 {
	a := binary.LittleEndian.Uint64(id[0:]) ^ x.seed[0]
	b := binary.LittleEndian.Uint64(id[8:]) ^ x.seed[1]
	hi, lo := bits.Mul64(a, b)
	hi, lo = bits.Mul64(hi^0xa0761d6478bd642f, lo^0xe7037ed1a0b428db)
	return hi ^ lo
}

func (x *idIndex) writeHeader(clean bool, covered uint32) error {
	var b [idxHdrSize]byte
	le := binary.LittleEndian
	copy(b[0:8], idxMagic)
	le.PutUint32(b[8:], idxVersion)
	if clean {
		le.PutUint32(b[12:], idxFlagClean)
	}
	le.PutUint64(b[16:], x.slots)
	le.PutUint64(b[24:], x.used)
	le.PutUint32(b[32:], covered)
	le.PutUint32(b[36:], x.gen)
	le.PutUint64(b[40:], x.seed[0])
	le.PutUint64(b[48:], x.seed[1])
	le.PutUint32(b[60:], crc32.ChecksumIEEE(b[:60]))
	_, err := x.f.WriteAt(b[:], 0)
	return err
}

// errBuildFull is why a build failed whose table would have been more
// than half full: it was asked for room for fewer records than the log
// holds live.
var errBuildFull = errors.New("store: event-id index built too small for the live records")

// errIndexInvalid is why an ids file cannot be used as it is.
var errIndexInvalid = errors.New("store: event-id index is not usable")

// readIDIndex opens the ids file at path and checks its header and size.
func readIDIndex(path string) (x *idIndex, clean bool, covered uint32, err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, false, 0, err
	}
	x = &idIndex{f: f}
	invalid := func(why string) (*idIndex, bool, uint32, error) {
		f.Close()
		return nil, false, 0, fmt.Errorf("%w: %s: %s", errIndexInvalid, path, why)
	}
	var b [idxHdrSize]byte
	if _, err := f.ReadAt(b[:], 0); err != nil {
		return invalid("short header")
	}
	le := binary.LittleEndian
	if string(b[0:8]) != idxMagic || le.Uint32(b[60:]) != crc32.ChecksumIEEE(b[:60]) {
		return invalid("bad magic or checksum")
	}
	if le.Uint32(b[8:]) != idxVersion {
		return invalid("unknown version")
	}
	x.slots, x.used = le.Uint64(b[16:]), le.Uint64(b[24:])
	covered, x.gen = le.Uint32(b[32:]), le.Uint32(b[36:])
	x.seed = [2]uint64{le.Uint64(b[40:]), le.Uint64(b[48:])}
	if x.slots < idxMinSlots || x.slots&(x.slots-1) != 0 || x.slots > 1<<40 || x.used > x.slots/2 {
		return invalid("bad size")
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, false, 0, err
	}
	if st.Size() != idxHdrSize+int64(x.slots)*idxSlotSize {
		return invalid("file size does not match")
	}
	return x, le.Uint32(b[12:])&idxFlagClean != 0, covered, nil
}

// openIDIndex opens the index of dir's log lf, which holds n committed
// records of generation gen, rebuilding or completing it as needed (see
// above) and marking it dirty. It passes every live record to visit, in
// order, while it reads the log.
func openIDIndex(dir string, lf *os.File, n, gen uint32, visit func(uint32, *record)) (*idIndex, error) {
	path := filepath.Join(dir, "ids")
	// A growth or compaction that did not finish.
	if err := os.Remove(path + ".new"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	x, clean, covered, err := readIDIndex(path)
	if err == nil && (!clean || x.gen != gen || covered > n || x.used+uint64(n-covered) > x.slots/2) {
		x.f.Close()
		x = nil
	}
	if x == nil {
		// Missing, damaged or stale: rebuild it.
		if x, err = buildIDIndex(path+".new", lf, n, gen, uint64(n), visit); err != nil {
			return nil, err
		}
		if err := os.Rename(path+".new", path); err != nil {
			x.f.Close()
			return nil, err
		}
		if err := syncDir(dir); err != nil {
			x.f.Close()
			return nil, err
		}
		return x, nil
	}
	// Dirty before the first change reaches the disk.
	err = x.writeHeader(false, covered)
	if err == nil {
		err = x.f.Sync()
	}
	if err == nil && (visit != nil || covered < n) {
		err = scanRecords(lf, n, make([]byte, idxScanRecs*recSize), func(k uint32, r *record) error {
			if visit != nil {
				visit(k, r)
			}
			if k < covered {
				return nil
			}
			_, err := x.insert(n, &r.EventID, k)
			return err
		})
	}
	if err != nil {
		x.f.Close()
		return nil, err
	}
	return x, nil
}

// buildIDIndex writes into path a new index, with room for want records, of
// the live records among the first n of lf, passing each to visit (when
// set) on the way. The file is left dirty and not synced: a crash loses
// it, and the index is rebuilt. It fills the slots with zeros first, so
// that a full disk fails the build rather than a later insert.
func buildIDIndex(path string, lf *os.File, n, gen uint32, want uint64, visit func(uint32, *record)) (*idIndex, error) {
	return buildIDIndexIn(path, lf, n, gen, want, visit, idxMemBuild)
}

// buildIDIndexIn is buildIDIndex building tables of at most memMax bytes
// in memory.
func buildIDIndexIn(path string, lf *os.File, n, gen uint32, want uint64, visit func(uint32, *record), memMax uint64) (*idIndex, error) {
	slots := uint64(idxMinSlots)
	for slots/2 < want {
		slots <<= 1
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	x := &idIndex{f: f, slots: slots, gen: gen, seed: [2]uint64{rand.Uint64(), rand.Uint64()}}
	buf := make([]byte, idxScanRecs*recSize)
	var tab []byte // the slots, when the table is built in memory
	add := func(id *[16]byte, k uint32) error {
		_, err := x.insert(n, id, k)
		return err
	}
	err = x.writeHeader(false, 0)
	if err == nil && slots*idxSlotSize <= memMax {
		// Built in memory and written at once: a project at the default
		// retention rebuilds its table every few thousand events
		// (growth, compaction), and two system calls per record were
		// most of that.
		tab = make([]byte, slots*idxSlotSize)
		add = func(id *[16]byte, k uint32) error {
			x.insertMem(tab, id, k)
			return nil
		}
	} else {
		for off, end := int64(idxHdrSize), idxHdrSize+int64(slots)*idxSlotSize; err == nil && off < end; {
			k := min(int64(len(buf)), end-off)
			_, err = f.WriteAt(buf[:k], off)
			off += k
		}
	}
	if err == nil {
		err = scanRecords(lf, n, buf, func(k uint32, r *record) error {
			if visit != nil {
				visit(k, r)
			}
			if x.used >= slots/2 {
				return errBuildFull
			}
			return add(&r.EventID, k)
		})
	}
	if err == nil && tab != nil {
		_, err = f.WriteAt(tab, idxHdrSize)
	}
	if err == nil {
		// Dirty, but complete: installIDIndex reads it back.
		err = x.writeHeader(false, n)
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return x, nil
}

// installIDIndex opens dir's ids file, which a compaction built (as
// ids.new, renamed by the caller) for its new log of n records of
// generation gen.
func installIDIndex(dir string, n, gen uint32) (*idIndex, error) {
	x, _, covered, err := readIDIndex(filepath.Join(dir, "ids"))
	if err != nil {
		return nil, err
	}
	if x.gen != gen || covered != n {
		x.f.Close()
		return nil, fmt.Errorf("%w: %s is not the compacted log's", errIndexInvalid, dir)
	}
	return x, nil
}

// scanRecords calls fn for each live record among lf's first n, reading
// them through buf (a whole number of records).
func scanRecords(lf *os.File, n uint32, buf []byte, fn func(uint32, *record) error) error {
	per := uint32(len(buf) / recSize)
	var r record
	for start := uint32(0); start < n; {
		cnt := min(n-start, per)
		b := buf[:int(cnt)*recSize]
		if _, err := lf.ReadAt(b, int64(start)*recSize); err != nil {
			return fmt.Errorf("read event log: %w", err)
		}
		for i := range cnt {
			if binary.LittleEndian.Uint32(b[int(i)*recSize+recFlags:])&flagDeleted != 0 {
				continue
			}
			r.unmarshal(b[int(i)*recSize:])
			if err := fn(start+i, &r); err != nil {
				return err
			}
		}
		start += cnt
	}
	return nil
}

// noSlot is probe's answer when it met no free slot.
const noSlot = ^uint64(0)

// lookup returns the number of the live record with the given id among the
// first n records of lf.
func (x *idIndex) lookup(lf *os.File, n uint32, id *[16]byte) (uint32, bool, error) {
	rec, ok, _, err := x.probe(lf, n, id)
	return rec, ok, err
}

// probe is lookup that also returns, when the id is absent, the free slot
// (empty, or naming a record at or past n) that ended the search: where
// an insert made before any other change to the table would put the id
// (see insertAt). Otherwise free is noSlot.
func (x *idIndex) probe(lf *os.File, n uint32, id *[16]byte) (rec uint32, found bool, free uint64, err error) {
	h := x.hash(id)
	tag := uint32(h >> 32)
	mask := x.slots - 1
	var buf [idxProbe * idxSlotSize]byte
	var rb [recSize]byte
	i := h & mask
	for probed := uint64(0); probed < x.slots; {
		cnt := min(idxProbe, x.slots-i)
		b := buf[:cnt*idxSlotSize]
		if _, err := x.f.ReadAt(b, idxHdrSize+int64(i)*idxSlotSize); err != nil {
			return 0, false, noSlot, fmt.Errorf("read event-id index: %w", err)
		}
		for j := range cnt {
			s := binary.LittleEndian.Uint32(b[j*idxSlotSize:])
			if s == 0 || s-1 >= n {
				return 0, false, i + j, nil
			}
			if binary.LittleEndian.Uint32(b[j*idxSlotSize+4:]) != tag {
				continue
			}
			if _, err := lf.ReadAt(rb[:], int64(s-1)*recSize); err != nil {
				return 0, false, noSlot, fmt.Errorf("read event record: %w", err)
			}
			if [16]byte(rb[0:16]) == *id && binary.LittleEndian.Uint32(rb[64:])&flagDeleted == 0 {
				return s - 1, true, noSlot, nil
			}
		}
		probed += cnt
		i = (i + cnt) & mask
	}
	return 0, false, noSlot, nil
}

// insert adds id → rec, where the log commits n records, and returns the
// slot it took. The caller keeps the table at most half full (see room).
func (x *idIndex) insert(n uint32, id *[16]byte, rec uint32) (uint64, error) {
	if x.used >= x.slots-1 {
		return 0, fmt.Errorf("store: event-id index full (%d slots)", x.slots)
	}
	h := x.hash(id)
	mask := x.slots - 1
	var buf [idxProbe * idxSlotSize]byte
	i := h & mask
	for {
		cnt := min(idxProbe, x.slots-i)
		b := buf[:cnt*idxSlotSize]
		if _, err := x.f.ReadAt(b, idxHdrSize+int64(i)*idxSlotSize); err != nil {
			return 0, fmt.Errorf("read event-id index: %w", err)
		}
		for j := range cnt {
			if s := binary.LittleEndian.Uint32(b[j*idxSlotSize:]); s != 0 && s-1 < n {
				continue
			}
			return i + j, x.writeSlot(i+j, h, rec)
		}
		i = (i + cnt) & mask
	}
}

// insertAt writes id → rec into slot i, which must be free: one that probe
// returned for id, unless an insert has taken it since (indexBatch keeps
// track). A slot that probe found free names no record the log had then,
// so writing it cuts no probe chain, and it is as good a place as the one
// insert would pick: every slot before it on id's probe chain is taken.
func (x *idIndex) insertAt(i uint64, id *[16]byte, rec uint32) error {
	if x.used >= x.slots-1 {
		return fmt.Errorf("store: event-id index full (%d slots)", x.slots)
	}
	return x.writeSlot(i, x.hash(id), rec)
}

// writeSlot writes record rec, of an id whose hash is h, into slot i.
func (x *idIndex) writeSlot(i, h uint64, rec uint32) error {
	var slot [idxSlotSize]byte
	putSlot(slot[:], h, rec)
	if _, err := x.f.WriteAt(slot[:], idxHdrSize+int64(i)*idxSlotSize); err != nil {
		return fmt.Errorf("write event-id index: %w", err)
	}
	x.used++
	return nil
}

// putSlot encodes record rec, of an id whose hash is h, into the slot b.
func putSlot(b []byte, h uint64, rec uint32) {
	binary.LittleEndian.PutUint32(b[0:], rec+1)
	binary.LittleEndian.PutUint32(b[4:], uint32(h>>32))
}

// insertMem adds id → rec to tab, the slots of a table being built (all
// empty at first, and kept at most half full by the caller).
func (x *idIndex) insertMem(tab []byte, id *[16]byte, rec uint32) {
	h := x.hash(id)
	mask := x.slots - 1
	for i := h & mask; ; i = (i + 1) & mask {
		slot := tab[i*idxSlotSize : (i+1)*idxSlotSize]
		if binary.LittleEndian.Uint32(slot) == 0 {
			putSlot(slot, h, rec)
			x.used++
			return
		}
	}
}

// idRoom is the number of records a table for live records is built for:
// half again as many, so that after a build (which scans the whole log)
// at least live/2 more records go in before the next. live must not be
// below the live records the build will find, or the build fails
// (errBuildFull): el.dead never counts more records than are flagged
// deleted.
func idRoom(live uint32) uint64 { return uint64(live) + uint64(live)/2 }

// room reports whether add more records fit at most half full.
func (x *idIndex) room(add int) bool { return x.used+uint64(add) <= x.slots/2 }

// close closes the file, first syncing it and marking it clean as covering
// n records when clean is set.
func (x *idIndex) close(n uint32, clean bool) error {
	var err error
	if clean {
		err = x.f.Sync()
		if err == nil {
			err = x.writeHeader(true, n)
		}
		if err == nil {
			err = x.f.Sync()
		}
	}
	return errors.Join(err, x.f.Close())
}
