package btree

import (
	"errors"
	"fmt"
	"io"
)

// WriteSnapshot writes the applied tree, page by page, to w: a file that
// Open takes as it is (with no journal), whose Seq is db.Seq(). It is for
// backups. It must run in a write transaction that has changed nothing,
// which keeps every other writer, and so every Apply, out meanwhile.
func (tx *Tx) WriteSnapshot(w io.Writer) error {
	if !tx.writable || tx.done {
		return errors.New("btree: WriteSnapshot needs a running write transaction")
	}
	if len(tx.dirty) > 0 {
		return errors.New("btree: WriteSnapshot in a transaction that changed the tree")
	}
	if tx.err != nil {
		return tx.err
	}
	buf := make([]byte, 64*pageSize)
	total := int64(tx.meta.pages) * pageSize
	for off := int64(0); off < total; {
		n := min(int64(len(buf)), total-off)
		if _, err := tx.db.f.ReadAt(buf[:n], off); err != nil {
			return fmt.Errorf("btree: snapshot: %w", err)
		}
		if _, err := w.Write(buf[:n]); err != nil {
			return err
		}
		off += n
	}
	return nil
}
