package store

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestGenerateFormat1 wrote testdata/format1.tar.zst and format1.dump.json
// with the build of format 1 (commit 920b29f): checked out there, with this
// file and dump_test.go copied in, TINYSINK_GEN_FORMAT1=DIR go test -run
// GenerateFormat1 ./store writes them to DIR. With this build it writes a
// directory of the current format instead, so it is skipped by default.
func TestGenerateFormat1(t *testing.T) {
	t.Parallel()
	out := os.Getenv("TINYSINK_GEN_FORMAT1")
	if out == "" {
		t.Skip("set TINYSINK_GEN_FORMAT1=DIR to write the format fixture")
	}
	now := format1Now
	db := openTest(t, t.TempDir())
	db.Now = func() time.Time { return now }
	app, _ := db.CreateProject("App")
	web, _ := db.CreateProject("Web")
	db.CreateUser("admin", "password1", true)
	db.SetAlertAddress("admin", "root@example.org")
	// Eleven days of events, a few issues a day, counted per hour.
	n := 0
	for d := 10; d >= 0; d-- {
		now = format1Now.AddDate(0, 0, -d).Add(-time.Duration(d) * time.Hour)
		for _, pid := range []int{app.ID, web.ID} {
			for k := 0; k < 3; k++ {
				hash := fmt.Sprintf("g%d", (d+k)%5)
				addEvents(t, db, pid, hash, n, 2+k)
				err := db.Digest(func(tx *Tx) error {
					for _, s := range []string{IssueSubject(1), ProjectSubject(pid), InstallSubject} {
						if err := tx.CountHour(s, now, int64(2+k)); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				n += 2 + k
			}
		}
	}
	now = format1Now
	for _, ref := range []string{"APP-1", "APP-2", "APP-3", "WEB-2"} {
		iss, err := db.IssueByRef(ref)
		if err != nil {
			t.Fatal(err)
		}
		switch ref {
		case "APP-1":
			db.ApplyAction(iss.ID, ActionResolve, "admin", "fixed it")
		case "APP-2":
			db.ApplyAction(iss.ID, MuteUntil("day", 1, 10), "admin", "")
		case "APP-3":
			db.ApplyAction(iss.ID, ActionResolveNext, "admin", "")
		case "WEB-2":
			db.AddComment(iss.ID, "admin", "a comment")
			db.ApplyAction(iss.ID, ResolveInRelease("1.0"), "admin", "")
		}
	}
	db.CreateRelease(app.ID, "1.0", format1Now.Add(-time.Hour), nil)
	db.AddDeploy(&Deploy{Project: app.ID, Version: "1.0", Environment: "production", DateFinished: format1Now})
	err := db.Digest(func(tx *Tx) error {
		return tx.EnqueueAlert(&Alert{Project: app.ID, Issue: 1, Reason: ReasonNew, CreatedAt: format1Now})
	})
	if err != nil {
		t.Fatal(err)
	}
	dump := dumpStore(t, db, format1Now)
	if err := os.WriteFile(filepath.Join(out, "format1.dump.json"), []byte(dump), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(out, "format1.tar.zst"))
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	if err := db.Backup(bw); err != nil {
		t.Fatal(err)
	}
	bw.Flush()
	f.Close()
}

// format1Now is the frozen clock of the format-1 fixture.
var format1Now = time.Date(2026, 11, 20, 15, 30, 0, 0, time.UTC)
