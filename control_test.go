package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinysink/tinysink/store"
)

// The account commands work on a data directory no server holds, and
// through the control socket on one a server holds.
func TestAccountCommands(t *testing.T) {
	user := func(t *testing.T, stdin string, args ...string) (string, error) {
		t.Helper()
		var out bytes.Buffer
		err := cmdUser(args, strings.NewReader(stdin), &out, io.Discard)
		return out.String(), err
	}
	token := func(t *testing.T, args ...string) (string, error) {
		t.Helper()
		var out bytes.Buffer
		err := cmdToken(args, &out, io.Discard)
		return strings.TrimSpace(out.String()), err
	}
	check := func(t *testing.T, db *store.DB, dir string) {
		t.Helper()
		if out, err := user(t, "first-password\n", "create", "ann", "-data", dir); err != nil || !strings.Contains(out, "created ann") {
			t.Fatalf("user create ann = %q, %v", out, err)
		}
		if _, err := user(t, "other-password\n", "create", "ann", "-data", dir); err == nil || !strings.Contains(err.Error(), "exists already") {
			t.Errorf("second user create ann = %v", err)
		}
		if _, err := user(t, "short\n", "password", "ann", "-data", dir); err == nil || !strings.Contains(err.Error(), "at least 8") {
			t.Errorf("short password = %v", err)
		}
		if _, err := user(t, "whatever-password\n", "password", "nobody", "-data", dir); err == nil || !strings.Contains(err.Error(), `no user "nobody"`) {
			t.Errorf("password of nobody = %v", err)
		}
		if _, err := user(t, "new-password-1\r\n", "password", "ann", "-data", dir); err != nil {
			t.Fatalf("user password ann: %v", err)
		}
		out, err := user(t, "", "create", "root2", "-admin", "-data", dir)
		made, ok := strings.CutPrefix(strings.TrimSpace(out), "created root2 with the password ")
		if err != nil || !ok || len(made) < 16 {
			t.Fatalf("user create root2 (no stdin) = %q, %v", out, err)
		}
		if _, err := user(t, "x\n", "create", "bad name", "-data", dir); err == nil {
			t.Error("a user name with a space was accepted")
		}
		tok, err := token(t, "create", "-name", "ci", "-scope", "read", "-data", dir)
		if err != nil || len(tok) != 40 {
			t.Fatalf("token create = %q, %v", tok, err)
		}
		if _, err := token(t, "create", "-scope", "root", "-data", dir); err == nil {
			t.Error("an unknown scope was accepted")
		}
		if db == nil {
			var err error
			if db, err = store.Open(dir); err != nil {
				t.Fatal(err)
			}
			defer db.Close()
		}
		if _, err := db.CheckPassword("ann", "new-password-1"); err != nil {
			t.Errorf("ann's new password: %v", err)
		}
		if u, err := db.CheckPassword("root2", made); err != nil || !u.Admin {
			t.Errorf("root2 = %+v, %v", u, err)
		}
		if tk, ok := db.LookupToken(tok); !ok || tk.Name != "ci" || tk.Has(store.ScopeWrite) {
			t.Errorf("token = %+v, %v", tk, ok)
		}
	}
	t.Run("without a server", func(t *testing.T) {
		check(t, nil, t.TempDir())
	})
	t.Run("through a running server", func(t *testing.T) {
		ts := startServer(t)
		dir := ts.db.Dir()
		fi, err := os.Stat(filepath.Join(dir, controlSocket))
		if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
			t.Fatalf("control socket: %v, %v", fi, err)
		}
		check(t, ts.db, dir)
	})
}
