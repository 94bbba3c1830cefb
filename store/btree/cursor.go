package btree

import (
	"fmt"
	"strings"
)

// cursor walks the leaves in key order with a stack of pages from the root,
// so leaves need no sibling links.
type cursor struct {
	tx    *Tx
	stack []frame
}

type frame struct {
	p []byte
	i int // leaf: cell; branch: child
}

func (c *cursor) push(pg uint32, last bool) error {
	if len(c.stack) > maxDepth {
		return fmt.Errorf("btree: page %d: %w", pg, errDepth)
	}
	p, err := c.tx.page(pg)
	if err != nil {
		return err
	}
	i := 0
	if last {
		i = numCells(p)
		if p[0] == typeLeaf {
			i--
		}
	}
	c.stack = append(c.stack, frame{p, i})
	return nil
}

// seek positions the cursor at the leaf whose range holds key, at the first
// cell >= key (or at the last cell < key when back is set), and then moves
// to the nearest cell in the walk's direction if it is not on one.
func (c *cursor) seek(key string, back bool) error {
	c.stack = c.stack[:0]
	if err := c.push(c.tx.meta.root, false); err != nil {
		return err
	}
	for {
		f := &c.stack[len(c.stack)-1]
		if f.p[0] == typeLeaf {
			f.i, _ = leafSearch(f.p, key)
			if back {
				f.i--
				return c.fixBack()
			}
			return c.fixFwd()
		}
		f.i = childIndex(f.p, key)
		if err := c.push(child(f.p, f.i), false); err != nil {
			return err
		}
	}
}

// seekLast positions the cursor at the last cell of the tree.
func (c *cursor) seekLast() error {
	c.stack = c.stack[:0]
	if err := c.push(c.tx.meta.root, true); err != nil {
		return err
	}
	return c.fixBack()
}

// valid reports whether the cursor is on a cell (not past either end).
func (c *cursor) valid() bool { return len(c.stack) > 0 }

func (c *cursor) cell() ([]byte, []byte) {
	f := c.stack[len(c.stack)-1]
	return leafKey(f.p, f.i), leafVal(f.p, f.i)
}

// fixFwd moves the cursor forward until it is on a cell, descending into
// the next subtree when a page is used up; the stack empties at the end.
func (c *cursor) fixFwd() error {
	for len(c.stack) > 0 {
		f := &c.stack[len(c.stack)-1]
		n := numCells(f.p)
		switch {
		case f.p[0] == typeLeaf && f.i < n:
			return nil
		case f.p[0] == typeBranch && f.i <= n:
			if err := c.push(child(f.p, f.i), false); err != nil {
				return err
			}
		default:
			c.stack = c.stack[:len(c.stack)-1]
			if len(c.stack) > 0 {
				c.stack[len(c.stack)-1].i++
			}
		}
	}
	return nil
}

// fixBack is fixFwd walking backward.
func (c *cursor) fixBack() error {
	for len(c.stack) > 0 {
		f := &c.stack[len(c.stack)-1]
		switch {
		case f.i < 0:
			c.stack = c.stack[:len(c.stack)-1]
			if len(c.stack) > 0 {
				c.stack[len(c.stack)-1].i--
			}
		case f.p[0] == typeLeaf:
			return nil
		default:
			if err := c.push(child(f.p, f.i), true); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *cursor) next() error {
	c.stack[len(c.stack)-1].i++
	return c.fixFwd()
}

func (c *cursor) prev() error {
	c.stack[len(c.stack)-1].i--
	return c.fixBack()
}

// Ascend calls fn for each key with prefix, in ascending order, until fn
// returns false. Keys and values are fresh strings. fn must not write to
// the transaction.
func (tx *Tx) Ascend(prefix string, fn func(k, v string) bool) {
	tx.AscendFrom(prefix, prefix, fn)
}

// AscendFrom is Ascend starting at the first key >= from.
func (tx *Tx) AscendFrom(prefix, from string, fn func(k, v string) bool) {
	if tx.done || tx.err != nil {
		return
	}
	from = max(from, prefix)
	c := cursor{tx: tx}
	err := c.seek(from, false)
	for err == nil && c.valid() {
		k, d := c.cell()
		if !hasPrefix(k, prefix) {
			break
		}
		var v string
		if v, err = tx.value(d); err != nil || !fn(string(k), v) {
			break
		}
		err = c.next()
	}
	if err != nil {
		tx.fail(err)
	}
}

// Descend calls fn for each key with prefix, in descending order, until fn
// returns false. Keys and values are fresh strings. fn must not write to
// the transaction.
func (tx *Tx) Descend(prefix string, fn func(k, v string) bool) {
	tx.descendFrom(prefix, "", false, fn)
}

// DescendFrom is Descend starting at the last key <= from.
func (tx *Tx) DescendFrom(prefix, from string, fn func(k, v string) bool) {
	tx.descendFrom(prefix, from, true, fn)
}

func (tx *Tx) descendFrom(prefix, from string, bounded bool, fn func(k, v string) bool) {
	if tx.done || tx.err != nil || bounded && from < prefix {
		return
	}
	c := cursor{tx: tx}
	var err error
	switch end := prefixEnd(prefix); {
	case bounded && strings.HasPrefix(from, prefix):
		// Position after from: at the last cell <= from.
		err = c.seek(from+"\x00", true)
	case end != "":
		err = c.seek(end, true)
	default:
		err = c.seekLast()
	}
	for err == nil && c.valid() {
		k, d := c.cell()
		if !hasPrefix(k, prefix) {
			break
		}
		var v string
		if v, err = tx.value(d); err != nil || !fn(string(k), v) {
			break
		}
		err = c.prev()
	}
	if err != nil {
		tx.fail(err)
	}
}

// prefixEnd returns the least string greater than every string with prefix,
// or "" if there is none (prefix is empty or all 0xff bytes).
func prefixEnd(prefix string) string {
	for i := len(prefix) - 1; i >= 0; i-- {
		if prefix[i] != 0xff {
			return prefix[:i] + string([]byte{prefix[i] + 1})
		}
	}
	return ""
}

func hasPrefix(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == prefix
}
