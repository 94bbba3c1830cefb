package btree

import (
	"encoding/binary"
	"hash/crc32"
	"slices"
)

// Page layout constants; doc.go describes the format in prose.
const (
	pageSize = 4096
	hdrSize  = 16               // common page header
	crcOff   = pageSize - 4     // every page ends in a crc32c of the bytes before it
	usable   = crcOff - hdrSize // bytes for slots and cells

	// MaxKeySize is the largest key Set accepts, in bytes.
	MaxKeySize = 512
	// MaxValueSize is the largest value Set accepts, in bytes.
	MaxValueSize = 1 << 20

	// maxCell bounds a leaf cell (without its slot), so that a page always
	// holds at least three cells and a split always yields two pages that fit.
	// Values that would make the cell larger go to overflow pages.
	maxCell = 1024

	maxDepth = 64 // deeper than this means a cycle: the file is corrupt

	typeLeaf     = 2
	typeBranch   = 3
	typeOverflow = 4
	typeTrunk    = 5

	valInline   = 0
	valOverflow = 1

	ovflData = crcOff - hdrSize       // payload bytes per overflow page
	trunkCap = (crcOff - hdrSize) / 4 // page numbers per freelist trunk page
	valHdr   = 5                      // value descriptor: flags u8, length u32
	ovflDesc = valHdr + 4             // ... then the first overflow page
	leafFix  = 2 + valHdr             // leaf cell bytes besides key and payload
	maxPages = 1<<32 - 1              // page numbers are uint32
)

var (
	le         = binary.LittleEndian
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

func pageCRC(p []byte) uint32 { return crc32.Checksum(p[:crcOff], castagnoli) }

// seal stores the page's checksum in its last four bytes.
func seal(p []byte) { le.PutUint32(p[crcOff:], pageCRC(p)) }

// Accessors over raw leaf and branch pages. They trust the page: pages read
// from the file pass checkPage first, and dirty pages come from encode.

func numCells(p []byte) int       { return int(le.Uint16(p[2:4])) }
func slotOff(p []byte, i int) int { return int(le.Uint16(p[hdrSize+2*i:])) }

func leafKey(p []byte, i int) []byte {
	off := slotOff(p, i)
	kl := int(le.Uint16(p[off:]))
	return p[off+2 : off+2+kl]
}

// leafVal returns the value descriptor of cell i: flags, length, then the
// inline bytes or the first overflow page number.
func leafVal(p []byte, i int) []byte {
	off := slotOff(p, i)
	v := off + 2 + int(le.Uint16(p[off:]))
	if p[v] == valOverflow {
		return p[v : v+ovflDesc]
	}
	return p[v : v+valHdr+int(le.Uint32(p[v+1:]))]
}

// branchKey returns separator i; child i+1 holds keys >= it.
func branchKey(p []byte, i int) []byte {
	off := slotOff(p, i)
	kl := int(le.Uint16(p[off+4:]))
	return p[off+6 : off+6+kl]
}

// child returns the page number of child j, 0 <= j <= numCells(p).
func child(p []byte, j int) uint32 {
	if j == 0 {
		return le.Uint32(p[4:8])
	}
	return le.Uint32(p[slotOff(p, j-1):])
}

// childIndex returns the child of branch p whose range holds key: the number
// of separators <= key.
func childIndex(p []byte, key string) int {
	lo, hi := 0, numCells(p)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if string(branchKey(p, m)) <= key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// leafSearch returns the index of the first key >= key, and whether it is key.
func leafSearch(p []byte, key string) (int, bool) {
	lo, hi := 0, numCells(p)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if string(leafKey(p, m)) < key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < numCells(p) && string(leafKey(p, lo)) == key
}

// checkPage verifies a page read from the file: checksum, type and, for
// leaves and branches, that every slot and cell lies inside the page.
func checkPage(p []byte) error {
	if le.Uint32(p[crcOff:]) != pageCRC(p) {
		return errChecksum
	}
	switch p[0] {
	case typeLeaf, typeBranch:
	case typeOverflow:
		if le.Uint32(p[8:12]) > ovflData {
			return errLayout
		}
		return nil
	case typeTrunk:
		if le.Uint32(p[8:12]) > trunkCap {
			return errLayout
		}
		return nil
	default:
		return errType
	}
	n := numCells(p)
	if hdrSize+2*n > crcOff {
		return errLayout
	}
	lo := hdrSize + 2*n
	for i := 0; i < n; i++ {
		off := slotOff(p, i)
		if p[0] == typeBranch {
			if off < lo || off+6 > crcOff || off+6+int(le.Uint16(p[off+4:])) > crcOff {
				return errLayout
			}
			continue
		}
		if off < lo || off+2 > crcOff {
			return errLayout
		}
		v := off + 2 + int(le.Uint16(p[off:]))
		if v+valHdr > crcOff {
			return errLayout
		}
		switch p[v] {
		case valOverflow:
			if v+ovflDesc > crcOff || le.Uint32(p[v+1:]) > MaxValueSize {
				return errLayout
			}
		case valInline:
			if vl := le.Uint32(p[v+1:]); vl > crcOff || v+valHdr+int(vl) > crcOff {
				return errLayout
			}
		default:
			return errLayout
		}
	}
	return nil
}

// cell is one decoded leaf or branch entry. Its slices may point into the
// page it was decoded from; pages are never modified once built, so that is safe.
type cell struct {
	key []byte
	val []byte // leaf: value descriptor
	kid uint32 // branch: the child to the right of key
}

// node is a decoded leaf or branch, built to be changed and encoded again.
type node struct {
	typ   byte
	first uint32 // branch: leftmost child
	cells []cell
}

// decodeInto decodes page p into n, reusing n's cells.
func decodeInto(n *node, p []byte) *node {
	k := numCells(p)
	n.typ, n.first = p[0], 0
	n.cells = slices.Grow(n.cells[:0], k+1)[:k]
	if n.typ == typeBranch {
		n.first = le.Uint32(p[4:8])
		for i := range n.cells {
			n.cells[i] = cell{key: branchKey(p, i), kid: child(p, i+1)}
		}
		return n
	}
	for i := range n.cells {
		n.cells[i] = cell{key: leafKey(p, i), val: leafVal(p, i)}
	}
	return n
}

func (n *node) cellSize(c cell) int {
	if n.typ == typeBranch {
		return 2 + 6 + len(c.key)
	}
	return 2 + 2 + len(c.key) + len(c.val)
}

// size is the encoded size of cells[lo:hi] with their slots, without header.
func (n *node) size(lo, hi int) int {
	s := 0
	for _, c := range n.cells[lo:hi] {
		s += n.cellSize(c)
	}
	return s
}

func (n *node) fits() bool { return n.size(0, len(n.cells)) <= usable }

func (n *node) insert(i int, c cell) {
	n.cells = append(n.cells, cell{})
	copy(n.cells[i+1:], n.cells[i:])
	n.cells[i] = c
}

func (n *node) remove(i int) {
	copy(n.cells[i:], n.cells[i+1:])
	n.cells[len(n.cells)-1] = cell{}
	n.cells = n.cells[:len(n.cells)-1]
}

// encode builds a fresh page image (without checksum; Prepare seals pages).
func (n *node) encode() []byte { return n.encodeTo(make([]byte, pageSize)) }

// encodeTo builds the page image in p, a pageSize buffer it overwrites
// whole, and returns p.
func (n *node) encodeTo(p []byte) []byte {
	clear(p)
	p[0] = n.typ
	le.PutUint16(p[2:], uint16(len(n.cells)))
	if n.typ == typeBranch {
		le.PutUint32(p[4:], n.first)
	}
	off := hdrSize + 2*len(n.cells)
	for i, c := range n.cells {
		le.PutUint16(p[hdrSize+2*i:], uint16(off))
		if n.typ == typeBranch {
			le.PutUint32(p[off:], c.kid)
			le.PutUint16(p[off+4:], uint16(len(c.key)))
			off += 6 + copy(p[off+6:], c.key)
			continue
		}
		le.PutUint16(p[off:], uint16(len(c.key)))
		off += 2 + copy(p[off+2:], c.key)
		off += copy(p[off:], c.val)
	}
	return p
}

// splitPoint returns k such that cells[:k] and cells[k:] both fit in a page
// and both are non-empty (branch: cells[k] moves up, so cells[k+1:] may be
// empty). appending says the change was an insert at the end: then the left
// page is filled up, so that ascending inserts leave full pages behind.
func (n *node) splitPoint(appending bool) int {
	total := n.size(0, len(n.cells))
	if appending && len(n.cells) >= 2 {
		k := len(n.cells) - 1
		if n.size(0, k) <= usable {
			return k
		}
	}
	left := 0
	for k := 1; k < len(n.cells); k++ {
		left += n.cellSize(n.cells[k-1])
		if left >= total/2 || k == len(n.cells)-1 {
			return k
		}
	}
	return 1
}

// separator returns the shortest key s with a < s <= b (a < b).
func separator(a, b []byte) []byte {
	i := 0
	for i < len(a) && a[i] == b[i] {
		i++
	}
	return b[:i+1]
}

func emptyLeaf() []byte { return (&node{typ: typeLeaf}).encode() }
