package store

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

// repairAOF cuts a damaged buntdb file at the end of its last whole command.
// The original is kept beside it as <path>.damaged-<unix time>.
func repairAOF(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	good, err := lastGoodOffset(bufio.NewReaderSize(f, 64<<10))
	f.Close()
	if err != nil {
		return err
	}
	backup := fmt.Sprintf("%s.damaged-%d", path, time.Now().Unix())
	if err := copyFile(path, backup); err != nil {
		return err
	}
	return os.Truncate(path, good)
}

// lastGoodOffset parses RESP arrays of bulk strings (the buntdb file format)
// and returns the offset just after the last complete, well-formed one.
func lastGoodOffset(r *bufio.Reader) (int64, error) {
	var off, good int64
	readLine := func() (string, bool) {
		line, err := r.ReadString('\n')
		off += int64(len(line))
		if err != nil || len(line) < 2 || line[len(line)-2] != '\r' {
			return "", false
		}
		return line[:len(line)-2], true
	}
	for {
		// buntdb skips NUL bytes between commands.
		b, err := r.ReadByte()
		if err == io.EOF {
			return good, nil
		}
		if err != nil {
			return good, err
		}
		off++
		if b == 0 {
			good = off
			continue
		}
		if b != '*' {
			return good, nil
		}
		line, ok := readLine()
		if !ok {
			return good, nil
		}
		n, err := strconv.Atoi(line)
		if err != nil || n < 1 {
			return good, nil
		}
		for range n {
			h, ok := readLine()
			if !ok || len(h) < 2 || h[0] != '$' {
				return good, nil
			}
			sz, err := strconv.Atoi(h[1:])
			if err != nil || sz < 0 {
				return good, nil
			}
			if _, err := r.Discard(sz); err != nil {
				return good, nil
			}
			off += int64(sz)
			crlf := make([]byte, 2)
			if _, err := io.ReadFull(r, crlf); err != nil || crlf[0] != '\r' || crlf[1] != '\n' {
				return good, nil
			}
			off += 2
		}
		good = off
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
