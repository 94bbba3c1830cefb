package store

import (
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/crypto/bcrypt"
)

// bcryptCost keeps a login under half a second on a Pi Zero 2 (about 57 ms
// at cost 10 on a 2-core x86 VM; a Pi is several times slower). It is a
// variable only so that tests of other packages that log in thousands of
// times can lower it with SetPasswordCostForTests.
var bcryptCost = 10

// SetPasswordCostForTests sets the bcrypt cost of passwords hashed from
// now on (bcrypt's minimum is 4). Only tests call it: the UI's login
// tests make thousands of guesses, each a full bcrypt comparison.
func SetPasswordCostForTests(cost int) { bcryptCost = cost }

// User is a person who can log in to the UI.
type User struct {
	Name         string    `json:"name"`
	PasswordHash string    `json:"password_hash"`
	Admin        bool      `json:"admin"`
	Active       bool      `json:"active"`
	Projects     []int     `json:"projects,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	// OIDC is the OpenID Connect identity the user logs in with, nil
	// before the first such login (oidclink.go).
	OIDC *OIDCLink `json:"oidc,omitempty"`

	// Filled in from the teams by User and SessionUser (team.go): the
	// projects the user sees and manages through teams, and the teams the
	// user is an admin of.
	teamProjects, manages []int
	teamAdmin             []string
}

// ValidUserName accepts 1 to 64 letters, digits and the characters
// . _ @ + - (an e-mail address works).
func ValidUserName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune("._@+-", r) {
			return false
		}
	}
	return true
}

// CreateUser creates a user with the given password. It returns ErrExists
// when the name is taken.
func (db *DB) CreateUser(name, password string, admin bool) (*User, error) {
	if name == "" {
		return nil, fmt.Errorf("store: empty user name")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	u := &User{Name: name, PasswordHash: string(h), Admin: admin, Active: true, CreatedAt: db.Now().UTC()}
	err = db.update(func(tx *kvTx) error {
		if _, err := tx.Get(userKey(name)); err == nil {
			return &ValidationError{Kind: ErrExists, Field: "name", Msg: fmt.Sprintf("%q is taken", name)}
		}
		return setJSON(tx, userKey(name), u)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// User returns the user with the given name.
func (db *DB) User(name string) (*User, error) {
	var u User
	err := db.view(func(tx *kvTx) error {
		if err := getJSON(tx, userKey(name), &u); err != nil {
			return err
		}
		return withTeams(tx, &u)
	})
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// UserCount returns the number of users.
func (db *DB) UserCount() (int, error) {
	n := 0
	err := db.view(func(tx *kvTx) error {
		return tx.AscendKeys(userPattern, func(k, v string) bool { n++; return true })
	})
	return n, err
}

// CheckPassword returns the user when name and password match an active
// user, and ErrNotFound otherwise.
func (db *DB) CheckPassword(name, password string) (*User, error) {
	u, err := db.User(name)
	if err != nil || !u.Active {
		// Spend the same time as a real check, so timing tells nothing.
		bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
		return nil, ErrNotFound
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) != nil {
		return nil, ErrNotFound
	}
	return u, nil
}

// dummyHash is compared against for unknown users, at the same cost as a
// real hash.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("not a password"), bcryptCost)
	return h
})
