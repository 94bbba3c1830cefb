package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/tidwall/buntdb"
)

// Links between users and OpenID Connect identities. A provider names a
// person by its issuer and a subject (the ID token's iss and sub), which
// never change, unlike the email address or user name it also sends. The
// first login through the provider links the identity to a local user;
// from then on the identity logs in as that user, whatever name it sends.
// The user's record holds the link (User.OIDC); oidcsub:<hash> finds the
// user from the identity, both written in the same transaction.

// OIDCLink is the OpenID Connect identity a user logs in with.
type OIDCLink struct {
	Issuer   string    `json:"iss"`
	Subject  string    `json:"sub"`
	LinkedAt time.Time `json:"linked_at"`
}

// Limits of an identity's parts; a provider's are far shorter (OIDC Core
// caps sub at 255 ASCII characters).
const (
	maxIssuerLen  = 2048
	maxSubjectLen = 1024
)

// ErrLinked is returned by LinkOIDC when the identity or the user is
// already linked elsewhere.
var ErrLinked = errors.New("store: already linked to another account")

func oidcSubKey(issuer, subject string) string {
	h := sha256.Sum256([]byte(issuer + "\x00" + subject))
	return "oidcsub:" + hex.EncodeToString(h[:])
}

// UserByOIDC returns the user linked to the identity (issuer, subject),
// or ErrNotFound.
func (db *DB) UserByOIDC(issuer, subject string) (*User, error) {
	var u User
	err := db.view(func(tx *kvTx) error {
		name, err := tx.Get(oidcSubKey(issuer, subject))
		if errors.Is(err, buntdb.ErrNotFound) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		if err := getJSON(tx, userKey(name), &u); err != nil {
			return err
		}
		if u.OIDC == nil || u.OIDC.Issuer != issuer || u.OIDC.Subject != subject {
			return ErrNotFound // a stale index entry; never log in through it
		}
		return withTeams(tx, &u)
	})
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// LinkOIDC links the user name to the identity (issuer, subject). Linking
// the same pair again changes nothing. It returns ErrLinked when the
// identity belongs to another user or the user to another identity, so a
// second account cannot take over a linked user by sending its name.
func (db *DB) LinkOIDC(name, issuer, subject string) error {
	if issuer == "" || subject == "" || len(issuer) > maxIssuerLen || len(subject) > maxSubjectLen {
		return &ValidationError{Kind: ErrInvalid, Field: "sub", Msg: "an issuer and a subject of sensible length"}
	}
	return db.updateUser(name, func(tx *kvTx, u *User) error {
		if u.OIDC != nil {
			if u.OIDC.Issuer == issuer && u.OIDC.Subject == subject {
				return nil
			}
			return fmt.Errorf("user %s: %w", name, ErrLinked)
		}
		k := oidcSubKey(issuer, subject)
		if other, err := tx.Get(k); err == nil && other != name {
			var o User
			if getJSON(tx, userKey(other), &o) == nil && o.OIDC != nil && o.OIDC.Issuer == issuer && o.OIDC.Subject == subject {
				return fmt.Errorf("identity of user %s: %w", other, ErrLinked)
			}
		} else if err != nil && !errors.Is(err, buntdb.ErrNotFound) {
			return err
		}
		u.OIDC = &OIDCLink{Issuer: issuer, Subject: subject, LinkedAt: db.Now().UTC()}
		_, _, err := tx.Set(k, name, nil)
		return err
	})
}

// UnlinkOIDC removes the user's OpenID Connect link, if any; the next
// login through the provider links again by name. The user's sessions
// end, as they would after a password change.
func (db *DB) UnlinkOIDC(name string) error {
	return db.updateUser(name, func(tx *kvTx, u *User) error {
		if u.OIDC == nil {
			return nil
		}
		if err := unlinkOIDC(tx, u); err != nil {
			return err
		}
		return deleteUserSessions(tx, name)
	})
}

// unlinkOIDC drops u's link and its index entry (u is saved by the caller).
func unlinkOIDC(tx *kvTx, u *User) error {
	if u.OIDC == nil {
		return nil
	}
	k := oidcSubKey(u.OIDC.Issuer, u.OIDC.Subject)
	if owner, err := tx.Get(k); err == nil && owner == u.Name {
		if _, err := tx.Delete(k); err != nil {
			return err
		}
	}
	u.OIDC = nil
	return nil
}
