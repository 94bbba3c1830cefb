package spool

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fixedRecord returns record i with a payload of size bytes; records of
// one size all have frames of one size.
func fixedRecord(i, size int) *Record {
	payload := fmt.Appendf(nil, `{"n":%06d,"pad":"`, i)
	for len(payload) < size-2 {
		payload = append(payload, 'p')
	}
	payload = append(payload, `"}`...)
	return &Record{
		Project:    1,
		EventID:    fmt.Sprintf("%032x", i),
		IngestedAt: time.Unix(1700000000, 0).UTC(),
		RemoteAddr: "10.0.0.1",
		Payload:    payload,
	}
}

func spareFiles(t testing.TB, dir string) []string {
	t.Helper()
	return globDir(t, dir, "*.spare")
}

// TestReusedSegment: released segment files are kept as spares and become
// the next segments; a process that dies while writing one leaves the
// file's earlier records after its own, and none of them is read, nor
// counted as damage, after a restart; and a sealed reused file ends at its
// last record.
func TestReusedSegment(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		size int  // payload size of the records written to the reused file
		torn bool // the crash tore the reused file's record (a write cut short)
	}{
		// The new record ends where the file's second old record starts:
		// an intact frame of another segment.
		{"aligned", 200, false},
		// The new record ends inside an old one: bytes that are no frame.
		{"misaligned", 333, false},
		// The new record's second half is still the old bytes.
		{"torn", 333, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := mustOpen(t, dir, Options{SegmentSize: 2 << 10, NoSync: true})
			for i := range 40 {
				if err := s.Append(fixedRecord(i, 200)); err != nil {
					t.Fatal(err)
				}
			}
			_, end := readAll(t, s, Pos{}, 100)
			if err := s.Release(end); err != nil {
				t.Fatal(err)
			}
			spares := spareFiles(t, dir)
			if len(spares) != maxSpares {
				t.Fatalf("%d spare files after releasing 5+ segments, want %d", len(spares), maxSpares)
			}
			var spareInfo []os.FileInfo
			for _, name := range spares {
				fi, err := os.Stat(name)
				if err != nil {
					t.Fatal(err)
				}
				spareInfo = append(spareInfo, fi)
			}

			// Write until the active segment moves on to a spare: it
			// then holds one record.
			active := s.End().Seg
			var want []string
			for i := 100; s.End().Seg == active; i++ {
				r := fixedRecord(i, tt.size)
				if err := s.Append(r); err != nil {
					t.Fatal(err)
				}
				want = append(want, r.EventID)
			}
			seg := filepath.Join(dir, segmentName(s.End().Seg))
			recEnd := s.End().Off // the reused file's one record ends here
			fi, err := os.Stat(seg)
			if err != nil {
				t.Fatal(err)
			}
			if !os.SameFile(fi, spareInfo[0]) && !os.SameFile(fi, spareInfo[1]) {
				t.Fatalf("segment %s is a new file, want a spare", seg)
			}
			if n := len(spareFiles(t, dir)); n != maxSpares-1 {
				t.Errorf("%d spare files after one was used, want %d", n, maxSpares-1)
			}

			// A copy of the directory now is what a crash leaves.
			crashed := t.TempDir()
			for _, name := range segmentFiles(t, dir) {
				b, err := os.ReadFile(name)
				if err != nil {
					t.Fatal(err)
				}
				if tt.torn && name == seg {
					for i := (fileHeaderSize + recEnd) / 2; i < recEnd; i++ {
						b[i] ^= 0x5a
					}
					want = want[:len(want)-1] // never acknowledged
				}
				if err := os.WriteFile(filepath.Join(crashed, filepath.Base(name)), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c := mustOpen(t, crashed, Options{NoSync: true})
			got, _ := readAll(t, c, end, 100)
			var ids []string
			for _, r := range got {
				ids = append(ids, r.EventID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(want) {
				t.Errorf("after the crash read %d records %v, want the %d written since the release", len(ids), ids, len(want))
			}
			if d := c.Stats().Damaged; d != 0 {
				t.Errorf("after the crash Damaged = %d, want 0", d)
			}
			c.Close()

			// Sealing cuts the reused file at its last record.
			_, last := readAll(t, s, end, 100)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(seg); err != nil || fi.Size() != last.Off {
				t.Errorf("closed segment is %d bytes (%v), want %d", fi.Size(), err, last.Off)
			}
		})
	}
}

// TestFirstFormat: segments written before segment files were reused
// (TSSPOOL\x01, 12-byte frames) read as before, and are deleted when
// released, never reused (their records do not name their segment).
func TestFirstFormat(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var want []*Record
	b := []byte(fileMagicV1)
	for i := range 3 {
		r := testRecord(i, 100)
		want = append(want, r)
		body := append(appendMeta(nil, r), r.Payload...)
		var h [frameHeaderV1]byte
		binary.LittleEndian.PutUint32(h[:4], uint32(len(body)))
		binary.LittleEndian.PutUint32(h[4:8], crc32.Checksum(h[:4], castagnoli))
		binary.LittleEndian.PutUint32(h[8:], crc32.Checksum(body, castagnoli))
		b = append(append(b, h[:]...), body...)
	}
	if err := os.WriteFile(filepath.Join(dir, segmentName(1)), b, 0o600); err != nil {
		t.Fatal(err)
	}
	s := mustOpen(t, dir, Options{NoSync: true})
	defer s.Close()
	got, end := readAll(t, s, Pos{}, 100)
	sameRecords(t, got, want)
	if err := s.Release(end); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, segmentName(1))); !os.IsNotExist(err) {
		t.Errorf("released first-format segment still there: %v", err)
	}
	if n := len(spareFiles(t, dir)); n != 0 {
		t.Errorf("%d spare files, want none (a first-format file is not reused)", n)
	}
}

// FuzzSegment opens a spool whose only segment holds arbitrary bytes after
// either magic: reading it never fails nor panics, and what it passes on
// are records whose frames checked out.
func FuzzSegment(f *testing.F) {
	dir := f.TempDir()
	s := mustOpen(f, dir, Options{NoSync: true})
	for i := range 3 {
		if err := s.Append(fixedRecord(i, 60)); err != nil {
			f.Fatal(err)
		}
	}
	s.Close()
	good, err := os.ReadFile(filepath.Join(dir, segmentName(1)))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good[fileHeaderSize:], uint8(0))
	f.Add(good[fileHeaderSize:], uint8(1))
	f.Add(good[fileHeaderSize:len(good)-7], uint8(2))
	f.Add([]byte{}, uint8(1))
	f.Fuzz(func(t *testing.T, rest []byte, which uint8) {
		dir := t.TempDir()
		magic := []string{fileMagic, fileMagicReused, fileMagicV1}[int(which)%3]
		if err := os.WriteFile(filepath.Join(dir, segmentName(1)), append([]byte(magic), rest...), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(dir, Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		last := int64(fileHeaderSize)
		if _, err := s.ReadFrom(Pos{}, 1000, 0, func(r *Record, next Pos) error {
			if next.Seg != 1 || next.Off <= fileHeaderSize || next.Off > int64(len(magic)+len(rest)) {
				t.Errorf("record ends at %v, outside the segment", next)
			}
			if next.Off <= last {
				t.Errorf("record ends at %v, not after the one before (%d)", next, last)
			}
			last = next.Off
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	})
}
