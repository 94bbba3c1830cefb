package store

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tidwall/buntdb"
)

// Sessions of the web UI. The browser holds a random 32-byte token; the
// store keeps only the token's sha256, so a copy of the data directory
// logs nobody in. buntdb expires the key by itself (keys.go: session:).

// Session is a logged-in browser.
type Session struct {
	User      string    `json:"user"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// IDToken is the OpenID Connect ID token the session was logged in
	// with, kept to end the session at the provider too on logout (its
	// id_token_hint); "" for other logins. At most MaxSessionIDToken bytes.
	IDToken string `json:"id_token,omitempty"`
}

// MaxSessionIDToken bounds Session.IDToken: sessions live in memory, and
// an ID token of a few claims is about 1 KB.
const MaxSessionIDToken = 8 << 10

// CreateSession starts a session for user that expires after ttl and
// returns its token: 64 lowercase hex digits, to be sent to the browser and
// nowhere else.
func (db *DB) CreateSession(user string, ttl time.Duration) (string, error) {
	return db.CreateOIDCSession(user, ttl, "")
}

// CreateOIDCSession is CreateSession for a login through an OpenID Connect
// provider, keeping its ID token with the session (Session.IDToken). An ID
// token longer than MaxSessionIDToken is refused.
func (db *DB) CreateOIDCSession(user string, ttl time.Duration, idToken string) (string, error) {
	if ttl <= 0 {
		return "", fmt.Errorf("store: session ttl must be positive")
	}
	if len(idToken) > MaxSessionIDToken {
		return "", fmt.Errorf("store: an ID token of %d bytes is longer than %d", len(idToken), MaxSessionIDToken)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(b[:])
	now := db.Now().UTC()
	s := Session{User: user, CreatedAt: now, ExpiresAt: now.Add(ttl), IDToken: idToken}
	err := db.update(func(tx *kvTx) error {
		if _, err := tx.Get(userKey(user)); err != nil {
			if errors.Is(err, buntdb.ErrNotFound) {
				return ErrNotFound
			}
			return err
		}
		v, err := jsonString(s)
		if err != nil {
			return err
		}
		_, _, err = tx.Set(sessionKey(sessionHash(tok)), v, &buntdb.SetOptions{Expires: true, TTL: ttl})
		return err
	})
	if err != nil {
		return "", err
	}
	return tok, nil
}

// SessionUser returns the active user of the session with the given token.
// It returns ErrNotFound for an unknown, expired or malformed token, and for
// a session whose user was deleted or deactivated.
func (db *DB) SessionUser(tok string) (*User, error) {
	if len(tok) != 64 {
		return nil, ErrNotFound
	}
	var s Session
	var u User
	err := db.view(func(tx *kvTx) error {
		if err := getJSON(tx, sessionKey(sessionHash(tok)), &s); err != nil {
			return err
		}
		if err := getJSON(tx, userKey(s.User), &u); err != nil {
			return err
		}
		return withTeams(tx, &u)
	})
	if err != nil {
		return nil, err
	}
	// buntdb removes expired keys in a background sweep; do not trust a key
	// that outlived its deadline by a moment.
	if !db.Now().Before(s.ExpiresAt) || !u.Active {
		return nil, ErrNotFound
	}
	return &u, nil
}

// DeleteSession ends the session with the given token. Ending an unknown
// session is not an error.
func (db *DB) DeleteSession(tok string) error {
	_, err := db.EndSession(tok)
	return err
}

// EndSession ends the session with the given token and returns what it
// was; a zero Session for an unknown one.
func (db *DB) EndSession(tok string) (Session, error) {
	var s Session
	err := db.update(func(tx *kvTx) error {
		v, err := tx.Delete(sessionKey(sessionHash(tok)))
		if errors.Is(err, buntdb.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if jsonUnmarshal(v, &s) != nil {
			s = Session{}
		}
		return nil
	})
	return s, err
}

// DeleteUserSessions ends every session of user, for example after a
// password change or a deactivation.
func (db *DB) DeleteUserSessions(user string) error {
	return db.update(func(tx *kvTx) error { return deleteUserSessions(tx, user) })
}

func deleteUserSessions(tx *kvTx, user string) error {
	var keys []string
	err := tx.AscendKeys(sessionPrefix+"*", func(k, v string) bool {
		var s Session
		if jsonUnmarshal(v, &s) == nil && s.User == user {
			keys = append(keys, k)
		}
		return true
	})
	if err != nil {
		return err
	}
	return tx.deleteKeys(keys)
}

func sessionHash(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
