package store

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tinysink/tinysink/store/disk"
)

func TestStatfsAndUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sp, err := disk.Statfs(dir)
	if err != nil || sp.Total <= 0 || sp.Avail <= 0 || sp.Avail > sp.Total {
		t.Fatalf("Statfs = %+v, %v", sp, err)
	}
	db := openTest(t, dir)
	p, _ := db.CreateProject("app")
	addEvents(t, db, p.ID, "a", 0, 50)
	os.MkdirAll(filepath.Join(dir, "spool"), 0o700)
	os.WriteFile(filepath.Join(dir, "spool", "0000000000000001.spool"), make([]byte, 10000), 0o600)
	us, err := db.ProjectUsage()
	if err != nil || len(us) != 1 || us[0].StoredEvents != 50 || us[0].Bytes < 50*recSize {
		t.Errorf("ProjectUsage = %+v, %v", us, err)
	}
	u, err := db.DataUsage()
	if err != nil || u.Events != us[0].Bytes || u.Spool < 10000 || u.Store == 0 || u.Total() != u.Store+u.Events+u.Spool+u.Other {
		t.Errorf("DataUsage = %+v, %v", u, err)
	}
	if err := db.ProbeWrite(); err != nil {
		t.Errorf("ProbeWrite: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, probeFile)); err != nil || len(b) == 0 {
		t.Errorf("probe file = %q, %v", b, err)
	}
}
