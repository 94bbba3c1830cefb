package spool

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"time"
)

// On-disk format.
//
// A segment file starts with the 8 bytes of its magic. Records follow back
// to back. In a version 2 segment (fileMagic, written since segment files
// are reused) each is framed as
//
//	length  uint32 little endian: the number of body bytes
//	seg     uint32 little endian: the low 32 bits of the segment's seq
//	lcrc    uint32 little endian: CRC-32C (Castagnoli) of the 8 bytes above
//	crc     uint32 little endian: CRC-32C of the body
//	body    version byte (1)
//	        uvarint project
//	        varint  IngestedAt as Unix nanoseconds (0 for the zero time)
//	        uvarint len, EventID bytes
//	        uvarint len, RemoteAddr bytes
//	        (version 2 only) uvarint len, Type bytes
//	        Payload (the rest of the body)
//
// and in a version 1 segment (fileMagicV1, written before) the same without
// seg, its lcrc covering the 4 length bytes alone.
//
// Version 1 records are events; version 2 records carry the envelope item
// type of their payload, and are written only for items that are not
// events, so a spool of events alone reads the same as before.
//
// The length has a CRC of its own so that a reader can tell a damaged length
// (damage) from a record that runs past the end of the file (a torn write).
//
// The seg field is what lets a segment file be reused (see Spool.spares):
// a reused file (fileMagicReused) holds its earlier records after the new
// ones until they are overwritten, and a process that dies leaves them
// after its last record. They name another segment, so no reader takes one
// for a record of this one; and Open cuts the last segment, the one a dead
// process was writing, at its last good record when the file was reused, so
// that what follows is not counted as damage. A segment sealed by a live
// process is cut at its end when it is sealed.
const (
	fileMagic       = "TSSPOOL\x02"
	fileMagicReused = "TSSPOOL\x03" // version 2 in a reused file
	fileMagicV1     = "TSSPOOL\x01"
	fileHeaderSize  = int64(len(fileMagic))
	frameHeaderSize = 16 // version 2
	frameHeaderV1   = 12
	recordVersion   = 1
	typedVersion    = 2 // a record with a Type
	// minBodySize is the smallest valid body: the version byte and four
	// one-byte varints.
	minBodySize = 5
	// maxBodySize bounds one record. Anything longer is a damaged length.
	maxBodySize = 64 << 20
	// maxFieldLen bounds EventID and RemoteAddr.
	maxFieldLen = 1024
	// maxProject bounds Project.
	maxProject = 1 << 31
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var errBadBody = errors.New("spool: malformed record body")

// appendMeta appends the body fields that precede the payload.
func appendMeta(dst []byte, r *Record) []byte {
	if r.Type != "" {
		dst = append(dst, typedVersion)
	} else {
		dst = append(dst, recordVersion)
	}
	dst = binary.AppendUvarint(dst, uint64(r.Project))
	var ns int64
	if !r.IngestedAt.IsZero() {
		ns = r.IngestedAt.UnixNano()
	}
	dst = binary.AppendVarint(dst, ns)
	dst = binary.AppendUvarint(dst, uint64(len(r.EventID)))
	dst = append(dst, r.EventID...)
	dst = binary.AppendUvarint(dst, uint64(len(r.RemoteAddr)))
	dst = append(dst, r.RemoteAddr...)
	if r.Type != "" {
		dst = binary.AppendUvarint(dst, uint64(len(r.Type)))
		dst = append(dst, r.Type...)
	}
	return dst
}

// frameHeader returns the version 2 frame header for a body made of meta
// and payload, without its seg and lcrc: the committer sets them
// (sealHeader) once it knows the segment the record goes to.
func frameHeader(meta, payload []byte) [frameHeaderSize]byte {
	var h [frameHeaderSize]byte
	binary.LittleEndian.PutUint32(h[:4], uint32(len(meta)+len(payload)))
	crc := crc32.Update(0, castagnoli, meta)
	crc = crc32.Update(crc, castagnoli, payload)
	binary.LittleEndian.PutUint32(h[12:], crc)
	return h
}

// sealHeader sets the seg and lcrc fields of version 2 frame header h for
// segment seq.
func sealHeader(h []byte, seq uint64) {
	binary.LittleEndian.PutUint32(h[4:8], uint32(seq))
	binary.LittleEndian.PutUint32(h[8:12], crc32.Checksum(h[:8], castagnoli))
}

// frame is what a frame header says.
type frame int

const (
	frameOK      frame = iota // a record of this segment follows
	frameBad                  // a damaged header (or zeros, or a torn one)
	frameForeign              // an intact header of another segment: a reused file's old record
)

// readFrame checks frame header h, of a version 1 segment (frameHeaderV1
// bytes) or a version 2 one (frameHeaderSize bytes) numbered seq, and
// returns the body length it gives.
func readFrame(h []byte, seq uint64) (int64, frame) {
	n := len(h) - 8 // the bytes lcrc covers: length, and seg in version 2
	if crc32.Checksum(h[:n], castagnoli) != binary.LittleEndian.Uint32(h[n:n+4]) {
		// Servers before the fix in batch.parts wrote some headers of a
		// batch with large records unsealed: seg and lcrc zero, length
		// and body CRC right. Such a record is read as this segment's;
		// its body CRC still has to match.
		if l := int64(binary.LittleEndian.Uint32(h[:4])); len(h) == frameHeaderSize &&
			binary.LittleEndian.Uint64(h[4:12]) == 0 && l >= minBodySize && l <= maxBodySize {
			return l, frameOK
		}
		return 0, frameBad
	}
	if len(h) == frameHeaderSize && binary.LittleEndian.Uint32(h[4:8]) != uint32(seq) {
		return 0, frameForeign
	}
	l := int64(binary.LittleEndian.Uint32(h[:4]))
	if l < minBodySize || l > maxBodySize {
		return 0, frameBad
	}
	return l, frameOK
}

// checkBody reports whether body matches the CRC in frame header h, the
// header's last 4 bytes in either version.
func checkBody(h []byte, body []byte) bool {
	return crc32.Checksum(body, castagnoli) == binary.LittleEndian.Uint32(h[len(h)-4:])
}

// decodeBody fills r from body. r.Payload aliases body.
func decodeBody(body []byte, r *Record) error {
	if len(body) < minBodySize || body[0] != recordVersion && body[0] != typedVersion {
		return errBadBody
	}
	b := body[1:]
	project, n := binary.Uvarint(b)
	if n <= 0 || project > maxProject {
		return errBadBody
	}
	b = b[n:]
	ns, n := binary.Varint(b)
	if n <= 0 {
		return errBadBody
	}
	b = b[n:]
	id, b, ok := cutField(b)
	if !ok {
		return errBadBody
	}
	addr, b, ok := cutField(b)
	if !ok {
		return errBadBody
	}
	var typ []byte
	if body[0] == typedVersion {
		if typ, b, ok = cutField(b); !ok || len(typ) == 0 {
			return errBadBody
		}
	}
	r.Project = int(project)
	r.IngestedAt = time.Time{}
	if ns != 0 {
		r.IngestedAt = time.Unix(0, ns).UTC()
	}
	r.EventID = string(id)
	r.RemoteAddr = string(addr)
	r.Type = itemType(typ)
	r.Payload = b
	return nil
}

// cutField splits a uvarint-length-prefixed field off b.
func cutField(b []byte) (field, rest []byte, ok bool) {
	l, n := binary.Uvarint(b)
	if n <= 0 || l > maxFieldLen || l > uint64(len(b)-n) {
		return nil, nil, false
	}
	return b[n : n+int(l)], b[n+int(l):], true
}

// itemType returns b as a string, without allocating for the common types.
func itemType(b []byte) string {
	switch string(b) {
	case "":
		return ""
	case "check_in":
		return "check_in"
	case "transaction":
		return "transaction"
	case "span":
		return "span"
	case "feedback":
		return "feedback"
	case "user_report":
		return "user_report"
	case "session":
		return "session"
	case "sessions":
		return "sessions"
	case "client_report":
		return "client_report"
	case "dropped_items":
		return "dropped_items"
	}
	return string(b)
}
