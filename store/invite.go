package store

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tidwall/buntdb"
	"github.com/tinysink/tinysink/internal/xsort"
	"golang.org/x/crypto/bcrypt"
)

// Invite links and password-reset links. Both are random 32-byte tokens
// handed out once (on screen or by email); the store keeps only their
// sha256, with buntdb expiring the key at the deadline, and a link works
// once.

// Invite is a one-time link that lets whoever holds it create an account.
type Invite struct {
	ID        string    `json:"id"` // first 16 hex digits of the token's hash; safe to show
	Admin     bool      `json:"admin,omitempty"`
	Projects  []int     `json:"projects,omitempty"`
	Team      string    `json:"team,omitempty"` // joined as a member, when set
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// newLinkToken returns a fresh link token: 64 lowercase hex digits.
func newLinkToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// CreateInvite stores an invite valid for ttl and returns its token. The
// account it creates is an admin when admin is set, sees projects, and
// joins team (when not empty) as a member.
func (db *DB) CreateInvite(by string, admin bool, projects []int, team string, ttl time.Duration) (string, *Invite, error) {
	if ttl <= 0 {
		return "", nil, fmt.Errorf("store: invite ttl must be positive")
	}
	tok, err := newLinkToken()
	if err != nil {
		return "", nil, err
	}
	now := db.Now().UTC()
	h := sessionHash(tok)
	inv := &Invite{ID: tokenID(h), Admin: admin, Team: team, CreatedBy: by, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	err = db.update(func(tx *kvTx) error {
		inv.Projects = existingProjects(tx, projects)
		if team != "" {
			if _, err := tx.Get(teamKey(team)); err != nil {
				return Invalid("team", fmt.Sprintf("no team %q", team))
			}
		}
		v, err := jsonString(inv)
		if err != nil {
			return err
		}
		_, _, err = tx.Set(inviteKey(h), v, &buntdb.SetOptions{Expires: true, TTL: ttl})
		return err
	})
	if err != nil {
		return "", nil, err
	}
	return tok, inv, nil
}

// Invite returns the open invite with the given token, or ErrNotFound for
// an unknown, used or expired one.
func (db *DB) Invite(tok string) (*Invite, error) {
	if len(tok) != 64 {
		return nil, ErrNotFound
	}
	var inv Invite
	if err := db.view(func(tx *kvTx) error { return getJSON(tx, inviteKey(sessionHash(tok)), &inv) }); err != nil {
		return nil, err
	}
	if !db.Now().Before(inv.ExpiresAt) {
		return nil, ErrNotFound
	}
	return &inv, nil
}

// Invites returns the open invites, oldest first.
func (db *DB) Invites() ([]Invite, error) {
	var out []Invite
	now := db.Now()
	err := db.view(func(tx *kvTx) error {
		return tx.AscendKeys(invitePattern, func(k, v string) bool {
			var inv Invite
			if jsonUnmarshal(v, &inv) == nil && now.Before(inv.ExpiresAt) {
				out = append(out, inv)
			}
			return true
		})
	})
	xsort.SortFunc(out, func(a, b Invite) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, err
}

// RevokeInvite deletes the open invite with the given ID.
func (db *DB) RevokeInvite(id string) error {
	if len(id) != tokenIDLen {
		return ErrNotFound
	}
	return db.update(func(tx *kvTx) error {
		var key string
		tx.AscendKeys(inviteKey(id+"*"), func(k, v string) bool { key = k; return false })
		if key == "" {
			return ErrNotFound
		}
		_, err := tx.Delete(key)
		return err
	})
}

// AcceptInvite uses the invite with the given token to create the user
// name with password, and returns the user. The invite is gone afterwards.
// It returns ErrNotFound for an unknown, used or expired invite, and a
// *ValidationError (ErrExists) when the name is taken.
func (db *DB) AcceptInvite(tok, name, password string) (*User, error) {
	if len(password) < MinPasswordLen {
		return nil, Invalid("password", fmt.Sprintf("has at least %d characters", MinPasswordLen))
	}
	if len(tok) != 64 {
		return nil, ErrNotFound
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	now := db.Now().UTC()
	var u *User
	err = db.update(func(tx *kvTx) error {
		key := inviteKey(sessionHash(tok))
		var inv Invite
		if err := getJSON(tx, key, &inv); err != nil {
			return err
		}
		if !now.Before(inv.ExpiresAt) {
			return ErrNotFound
		}
		if _, err := tx.Get(userKey(name)); err == nil {
			return &ValidationError{Kind: ErrExists, Field: "name", Msg: fmt.Sprintf("%q is taken", name)}
		}
		u = &User{Name: name, PasswordHash: string(h), Admin: inv.Admin, Active: true, CreatedAt: now,
			Projects: existingProjects(tx, inv.Projects)}
		if err := setJSON(tx, userKey(name), u); err != nil {
			return err
		}
		if inv.Team != "" {
			var t Team
			if err := getJSON(tx, teamKey(inv.Team), &t); err == nil && t.Role(name) == "" {
				t.Members = append(t.Members, TeamMember{User: name, Role: RoleMember})
				xsort.SortFunc(t.Members, func(a, b TeamMember) int { return strings.Compare(a.User, b.User) })
				if err := setJSON(tx, teamKey(t.Name), &t); err != nil {
					return err
				}
			}
		}
		_, err := tx.Delete(key)
		return err
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// passwordReset is a reset link as stored under resetKey.
type passwordReset struct {
	User      string    `json:"user"`
	ExpiresAt time.Time `json:"expires_at"`
}

// resetUser reads the open reset link stored under key.
func (db *DB) resetUser(tx *kvTx, key string) (string, error) {
	var pr passwordReset
	if err := getJSON(tx, key, &pr); err != nil {
		return "", err
	}
	if !db.Now().Before(pr.ExpiresAt) {
		return "", ErrNotFound
	}
	return pr.User, nil
}

// CreatePasswordReset stores a password-reset link for user, valid for
// ttl, and returns its token.
func (db *DB) CreatePasswordReset(user string, ttl time.Duration) (string, error) {
	if ttl <= 0 {
		return "", fmt.Errorf("store: reset ttl must be positive")
	}
	tok, err := newLinkToken()
	if err != nil {
		return "", err
	}
	err = db.update(func(tx *kvTx) error {
		if _, err := tx.Get(userKey(user)); err != nil {
			if errors.Is(err, buntdb.ErrNotFound) {
				return ErrNotFound
			}
			return err
		}
		v, err := jsonString(passwordReset{User: user, ExpiresAt: db.Now().UTC().Add(ttl)})
		if err != nil {
			return err
		}
		_, _, err = tx.Set(resetKey(sessionHash(tok)), v, &buntdb.SetOptions{Expires: true, TTL: ttl})
		return err
	})
	if err != nil {
		return "", err
	}
	return tok, nil
}

// PasswordResetUser returns the name of the user whose open reset link tok
// is, or ErrNotFound.
func (db *DB) PasswordResetUser(tok string) (string, error) {
	if len(tok) != 64 {
		return "", ErrNotFound
	}
	var name string
	err := db.view(func(tx *kvTx) error {
		var err error
		name, err = db.resetUser(tx, resetKey(sessionHash(tok)))
		return err
	})
	return name, err
}

// ResetPassword uses the reset link tok to set the user's password (ending
// the user's sessions) and returns the user's name. The link is gone
// afterwards. It returns ErrNotFound for an unknown, used or expired link.
func (db *DB) ResetPassword(tok, password string) (string, error) {
	if len(password) < MinPasswordLen {
		return "", Invalid("password", fmt.Sprintf("has at least %d characters", MinPasswordLen))
	}
	if len(tok) != 64 {
		return "", ErrNotFound
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	var name string
	err = db.update(func(tx *kvTx) error {
		key := resetKey(sessionHash(tok))
		var err error
		if name, err = db.resetUser(tx, key); err != nil {
			return err
		}
		var u User
		if err := getJSON(tx, userKey(name), &u); err != nil {
			return err
		}
		u.PasswordHash = string(h)
		if err := setJSON(tx, userKey(name), &u); err != nil {
			return err
		}
		if err := deleteUserSessions(tx, name); err != nil {
			return err
		}
		_, err = tx.Delete(key)
		return err
	})
	return name, err
}
