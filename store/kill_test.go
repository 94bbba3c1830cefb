package store

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The writer that TestKillDuringTreeWrites kills: it digests batches that
// each open new issues, count their events per hour, resolve some issues
// and advance the store's clock a day every few batches, so that the
// day's first batch rolls the counters up. It runs until it is killed,
// printing a line after every batch.
func TestKillWriter(t *testing.T) {
	t.Parallel()
	dir := os.Getenv("TINYSINK_KILL_WRITER")
	if dir == "" {
		t.Skip("run by TestKillDuringTreeWrites")
	}
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ps, _ := db.Projects()
	if len(ps) == 0 {
		t.Fatal("no project")
	}
	p := ps[0]
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for b := 0; ; b++ {
		pr, _ := db.Project(p.ID)
		// The clock follows the events digested so far, so that a
		// restarted writer goes on where the killed one stopped.
		day := int(pr.DigestedEventCount / 200)
		now := start.AddDate(0, 0, day).Add(time.Duration(pr.DigestedEventCount%200) * time.Minute)
		db.Now = func() time.Time { return now }
		n := int(pr.DigestedEventCount)
		var resolve []uint32
		err := db.Digest(func(tx *Tx) error {
			p, err := tx.Project(p.ID)
			if err != nil {
				return err
			}
			for i := n; i < n+50; i++ {
				hash := fmt.Sprintf("k%d", i/3) // a new issue every third event
				iss, err := tx.IssueForGrouping(p.ID, hash)
				if err != nil {
					iss = &Issue{CalculatedType: "E", CalculatedValue: hash, FirstSeen: now}
					if err := tx.CreateIssue(p, iss, hash, hash, "test"); err != nil {
						return err
					}
				}
				iss.DigestedEventCount++
				iss.LastSeen = now
				p.DigestedEventCount++
				if err := tx.AddEvent(p, iss, &NewEvent{EventID: eventID(i), Ingested: now, Timestamp: now, Body: []byte(`{}`)}); err != nil {
					return err
				}
				if err := tx.CountHour(ProjectSubject(p.ID), now, 1); err != nil {
					return err
				}
				if err := tx.CountHour(IssueSubject(iss.ID), now, 1); err != nil {
					return err
				}
				if err := tx.CountTag(iss, "server", fmt.Sprint("h", i%7)); err != nil {
					return err
				}
				if i%5 == 0 {
					resolve = append(resolve, iss.ID)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ApplyActions(resolve, ActionResolve, "killer"); err != nil {
			t.Fatal(err)
		}
		fmt.Println("batch", b)
	}
}

// A writer SIGKILLed again and again, in the middle of tree transactions
// and counter roll-ups, leaves a store whose issues, list indexes, state
// counts and counters agree with each other and with the events digested.
func TestKillDuringTreeWrites(t *testing.T) {
	t.Parallel() // a store and subprocesses of its own; runs beside TestIssuesPagedByIndex
	if testing.Short() {
		t.Skip("kills a subprocess")
	}
	dir := t.TempDir()
	db := openTest(t, dir)
	if _, err := db.CreateProject("p"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for round := range 6 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillWriter$", "-test.count=1")
		cmd.Env = append(os.Environ(), "TINYSINK_KILL_WRITER="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill it after a number of batches that differs per round, so
		// that the kills land at different points of the work.
		sc := bufio.NewScanner(out)
		var lines []string
		for seen := 0; seen < 3+round*4; {
			if !sc.Scan() {
				cmd.Wait()
				t.Fatalf("round %d: the writer stopped by itself:\n%s", round, strings.Join(lines, "\n"))
			}
			lines = append(lines, sc.Text())
			if strings.HasPrefix(sc.Text(), "batch ") {
				seen++
			}
		}
		time.Sleep(time.Duration(round) * 3 * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}
	db2 := openTest(t, dir)
	checkConsistent(t, db2)
}

// checkConsistent checks every issue against its index keys and the state
// counts, and the counters against the events digested.
func checkConsistent(t *testing.T, db *DB) {
	t.Helper()
	ps, _ := db.Projects()
	p := ps[0]
	if p.DigestedEventCount == 0 {
		t.Fatal("the writer digested nothing")
	}
	want := map[string]bool{}
	counts := map[IssueState]int64{}
	issues := 0
	db.view(func(tx *kvTx) error {
		tx.ascend(projectIssuePrefix(p.ID), func(k, v string) bool {
			var iss Issue
			if err := getJSON(tx, issueKey(parseID(v)), &iss); err != nil {
				t.Errorf("%s names issue %s: %v", k, v, err)
				return true
			}
			issues++
			for _, k := range iss.indexKeys() {
				want[k] = true
			}
			for _, s := range iss.states() {
				counts[s]++
			}
			return true
		})
		for _, prefix := range []string{"ils:", "iec:", "inext:"} {
			tx.ascend(prefix, func(k, v string) bool {
				if !want[k] {
					t.Errorf("index key %q belongs to no issue as stored", k)
				}
				delete(want, k)
				return true
			})
		}
		return nil
	})
	for k := range want {
		t.Errorf("index key %q missing", k)
	}
	for _, s := range []IssueState{StateAll, StateOpen, StateUnresolved, StateMuted, StateResolved} {
		if n, _ := db.IssueCount(p.ID, s); n != counts[s] {
			t.Errorf("IssueCount(%s) = %d, issues in that state %d", s, n, counts[s])
		}
	}
	if p.IssueCount != issues {
		t.Errorf("project counts %d issues, %d stored", p.IssueCount, issues)
	}
	// Every event was counted once in its hour, whatever roll-ups ran.
	first := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	days, err := db.Daily(ProjectSubject(p.ID), first, first.AddDate(0, 0, 400))
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, n := range days {
		sum += n
	}
	if sum != p.DigestedEventCount {
		t.Errorf("counters hold %d events, the project digested %d", sum, p.DigestedEventCount)
	}
	if slices.Max(days) != 200 && p.DigestedEventCount > 400 {
		t.Errorf("a full day holds %d events, want 200: %v", slices.Max(days), days[:5])
	}
	t.Logf("%d events, %d issues, %d days of counters", p.DigestedEventCount, issues, p.DigestedEventCount/200+1)
}
