package store

import (
	"errors"
	"testing"
	"time"
)

func TestSessions(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir())
	if _, err := db.CreateUser("ann", "password1", false); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateSession("nobody", time.Hour); !errors.Is(err, ErrNotFound) {
		t.Errorf("CreateSession(unknown user) = %v, want ErrNotFound", err)
	}
	tok, err := db.CreateSession("ann", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) != 64 {
		t.Errorf("token %q has %d characters, want 64", tok, len(tok))
	}
	u, err := db.SessionUser(tok)
	if err != nil || u.Name != "ann" {
		t.Fatalf("SessionUser = %v, %v; want ann", u, err)
	}

	t.Run("only the hash is stored", func(t *testing.T) {
		db.view(func(tx *kvTx) error {
			if _, err := tx.Get(sessionKey(tok)); err == nil {
				t.Error("the raw token is a key")
			}
			if _, err := tx.Get(sessionKey(sessionHash(tok))); err != nil {
				t.Errorf("hashed key: %v", err)
			}
			return nil
		})
	})
	t.Run("bad tokens", func(t *testing.T) {
		for _, bad := range []string{"", "x", tok[:63], tok + "0", "0000000000000000000000000000000000000000000000000000000000000000"} {
			if _, err := db.SessionUser(bad); !errors.Is(err, ErrNotFound) {
				t.Errorf("SessionUser(%q) = %v, want ErrNotFound", bad, err)
			}
		}
	})
	t.Run("expired by the clock", func(t *testing.T) {
		db.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
		defer func() { db.Now = time.Now }()
		if _, err := db.SessionUser(tok); !errors.Is(err, ErrNotFound) {
			t.Errorf("SessionUser after expiry = %v, want ErrNotFound", err)
		}
	})
	t.Run("expired by buntdb", func(t *testing.T) {
		short, err := db.CreateSession("ann", 20*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(60 * time.Millisecond)
		db.Now = func() time.Time { return time.Now().Add(-time.Hour) } // the clock alone would still accept it
		defer func() { db.Now = time.Now }()
		if _, err := db.SessionUser(short); !errors.Is(err, ErrNotFound) {
			t.Errorf("SessionUser after TTL = %v, want ErrNotFound", err)
		}
	})
	t.Run("deactivation ends sessions", func(t *testing.T) {
		tok2, _ := db.CreateSession("ann", time.Hour)
		if err := db.SetUserActive("ann", false); err != nil {
			t.Fatal(err)
		}
		if _, err := db.SessionUser(tok2); !errors.Is(err, ErrNotFound) {
			t.Errorf("SessionUser of deactivated user = %v, want ErrNotFound", err)
		}
		db.SetUserActive("ann", true)
		if _, err := db.SessionUser(tok2); !errors.Is(err, ErrNotFound) {
			t.Errorf("session came back after reactivation: %v", err)
		}
	})
	t.Run("logout", func(t *testing.T) {
		tok3, _ := db.CreateSession("ann", time.Hour)
		if err := db.DeleteSession(tok3); err != nil {
			t.Fatal(err)
		}
		if _, err := db.SessionUser(tok3); !errors.Is(err, ErrNotFound) {
			t.Errorf("SessionUser after logout = %v", err)
		}
		if err := db.DeleteSession(tok3); err != nil {
			t.Errorf("second DeleteSession = %v, want nil", err)
		}
	})
}
