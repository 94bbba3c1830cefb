package spool

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// killChildEnv names the spool directory a re-executed test binary writes
// to as killChild.
const killChildEnv = "TINYSINK_SPOOL_KILL_CHILD"

// A kill child's records carry their number in the payload; its reader
// keeps its position in this file (written before it releases).
const killPosFile = "reader.pos"

// killRecord returns record n of a kill child: its number is in its event
// id, and its size varies so that old frames and new ones do not line up.
func killRecord(n int) *Record {
	return &Record{Project: 1, EventID: fmt.Sprintf("%032x", n), Payload: fmt.Appendf(nil, `{"n":%d,"pad":"%s"}`, n, strings.Repeat("x", n%300))}
}

// recordNumber returns the number killRecord gave r.
func recordNumber(r *Record) int {
	v, _ := strconv.ParseUint(r.EventID[16:], 16, 64)
	return int(v)
}

// readKillPos returns the reader's saved position and the number of the
// last record it passed.
func readKillPos(dir string) (Pos, int) {
	b, err := os.ReadFile(filepath.Join(dir, killPosFile))
	if err != nil {
		return Pos{}, 0
	}
	pos, last, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	p, _ := ParsePos(pos)
	n, _ := strconv.Atoi(last)
	return p, n
}

// killChild appends numbered records to the spool in dir, printing each
// number once Append returned, while a reader reads them in order,
// saves its position and releases what it passed, so that released files
// are reused. It runs until it is killed; it exits 3 when the reader
// meets a record out of order (an old record of a reused file read as
// new).
func killChild(dir string) {
	// With fsync the reader keeps up, and released files come back as
	// new segments while the appender writes.
	s, err := Open(dir, Options{SegmentSize: 4 << 10})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	pos, last := readKillPos(dir)
	next := last + 1
	s.ReadFrom(pos, 1<<30, 0, func(r *Record, _ Pos) error {
		next = max(next, recordNumber(r)+1)
		return nil
	})
	go func() {
		for {
			time.Sleep(200 * time.Microsecond)
			p, err := s.ReadFrom(pos, 1<<20, 0, func(r *Record, _ Pos) error {
				if n := recordNumber(r); n != last+1 {
					fmt.Printf("out of order: %d after %d\n", n, last)
					os.Exit(3)
				}
				last++
				return nil
			})
			if err != nil || p == pos {
				continue
			}
			pos = p
			tmp := filepath.Join(dir, killPosFile+".tmp")
			os.WriteFile(tmp, fmt.Appendf(nil, "%s %d\n", pos, last), 0o600)
			os.Rename(tmp, filepath.Join(dir, killPosFile))
			s.Release(pos)
		}
	}()
	w := bufio.NewWriter(os.Stdout)
	for n := next; ; n++ {
		if err := s.Append(killRecord(n)); err != nil {
			fmt.Println("append:", err)
			os.Exit(2)
		}
		fmt.Fprintln(w, n)
		w.Flush()
	}
}

// TestKillWhileReusing SIGKILLs a process that appends to a spool whose
// released files are reused, three times, and reads what is left: every
// acknowledged record is there, in order, and no record of a file's
// earlier use is read as a new one.
func TestKillWhileReusing(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs and kills subprocesses")
	}
	dir := t.TempDir()
	acked := map[int]bool{}
	reused := false
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), killChildEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() }) // if the test stops early
		sc := bufio.NewScanner(out)
		want := 500 * (round + 1) // enough to fill and reuse dozens of 4 KiB segments
		got := 0
		for got < want && sc.Scan() {
			n, err := strconv.Atoi(sc.Text())
			if err != nil {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("round %d: child said %q", round, sc.Text())
			}
			acked[n] = true
			got++
		}
		cmd.Process.Signal(syscall.SIGKILL)
		for sc.Scan() {
			if n, err := strconv.Atoi(sc.Text()); err == nil {
				acked[n] = true // printed before the kill landed
			} else {
				t.Errorf("round %d: child said %q", round, sc.Text())
			}
		}
		cmd.Wait()
		if got < want {
			t.Fatalf("round %d: the child stopped after %d records", round, got)
		}
		reused = reused || len(globDir(t, dir, "*.spare")) > 0
		for _, name := range globDir(t, dir, "*.spool") {
			reused = reused || magicOf(name) == fileMagicReused
		}
	}
	// A spare is renamed to the next segment as soon as one starts, so
	// after a kill reuse shows as a spare or as a segment in a reused file.
	if !reused {
		t.Error("no spare file and no reused segment after any kill: the test did not reuse any")
	}

	s := mustOpen(t, dir, Options{NoSync: true})
	defer s.Close()
	pos, last := readKillPos(dir)
	got, _ := readAll(t, s, pos, 100)
	for _, r := range got {
		if n := recordNumber(&r); n != last+1 {
			t.Fatalf("after the kills: record %d after %d", n, last)
		}
		last++
	}
	for n := range acked {
		if n > last {
			t.Errorf("acknowledged record %d is gone (the spool ends at %d)", n, last)
		}
	}
	if d := s.Stats().Damaged; d != 0 {
		t.Errorf("Damaged = %d, want 0", d)
	}
	t.Logf("%d acknowledged, %d read in order, over 3 kills", len(acked), last)
}
