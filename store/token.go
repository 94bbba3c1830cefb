package store

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/tidwall/buntdb"
)

// Scope is what an API token may do. Each scope implies the ones below it:
// admin implies write, and write implies read.
type Scope string

// The token scopes, weakest first.
const (
	ScopeRead  Scope = "read"  // read issues, events, releases
	ScopeWrite Scope = "write" // change issues, releases, alert settings; upload files
	ScopeAdmin Scope = "admin" // operator routes: backups, budgets
)

// Scopes lists every scope, weakest first.
var Scopes = []Scope{ScopeRead, ScopeWrite, ScopeAdmin}

func (s Scope) rank() int { return slices.Index(Scopes, s) }

// Token is an API bearer token as the operator sees it. The secret itself
// is never stored: only its SHA-256 hash, from which ID is derived.
type Token struct {
	ID       string    // first 16 hex digits of the secret's hash; safe to show
	Name     string    // the operator's label; may be empty
	Scopes   []Scope   // what the token may do
	Project  int64     // the one project it may touch; 0 = all projects
	Created  time.Time // when it was made
	LastUsed time.Time // when it last passed LookupToken, to within a minute; zero if never
}

// Has reports whether the token grants s, directly or through a stronger
// scope it holds.
func (t Token) Has(s Scope) bool {
	want := s.rank()
	if want < 0 {
		return false
	}
	for _, have := range t.Scopes {
		if have.rank() >= want {
			return true
		}
	}
	return false
}

// tokenRecord is a token as stored under tokenKey(hash). Tokens made
// before scopes existed have no "scopes" field: they keep every scope.
type tokenRecord struct {
	Hash      string    `json:"hash"`
	Name      string    `json:"name,omitempty"`
	Scopes    []Scope   `json:"scopes,omitempty"`
	Project   int64     `json:"project,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	LastUsed  time.Time `json:"last_used,omitzero"`
}

func (r tokenRecord) token() Token {
	t := Token{ID: tokenID(r.Hash), Name: r.Name, Scopes: r.Scopes, Project: r.Project,
		Created: r.CreatedAt, LastUsed: r.LastUsed}
	if len(t.Scopes) == 0 {
		t.Scopes = slices.Clone(Scopes)
	}
	return t
}

// tokenLastUsedEvery bounds how often LookupToken writes LastUsed: a busy
// client must not turn every request into a store write.
const tokenLastUsedEvery = time.Minute

// tokenSecretLen is the length of a token's secret: 40 lowercase hex digits.
const tokenSecretLen = 40

// CreateToken creates a token with every scope, for every project, and
// returns its secret: 40 lowercase hex digits.
func (db *DB) CreateToken() (string, error) {
	secret, _, err := db.CreateTokenWith("", Scopes, 0)
	return secret, err
}

// CreateTokenWith creates a token named name that grants scopes on project
// (0 = all projects). It returns the secret, which is shown once and never
// stored, and the token. It returns a *ValidationError for an unknown or
// missing scope, a negative project, or a project that does not exist.
func (db *DB) CreateTokenWith(name string, scopes []Scope, project int64) (secret string, t Token, err error) {
	if len(scopes) == 0 {
		return "", Token{}, Invalid("scopes", "must name at least one of read, write, admin")
	}
	for _, s := range scopes {
		if s.rank() < 0 {
			return "", Token{}, Invalid("scopes", fmt.Sprintf("unknown scope %q (want read, write or admin)", s))
		}
	}
	if project < 0 {
		return "", Token{}, Invalid("project", "must be 0 (all projects) or a project id")
	}
	if len(name) > 200 {
		return "", Token{}, Invalid("name", "is longer than 200 characters")
	}
	var b [tokenSecretLen / 2]byte
	rand.Read(b[:])
	secret = hex.EncodeToString(b[:])
	rec := tokenRecord{Hash: hashToken(secret), Name: name, Scopes: slices.Clone(scopes),
		Project: project, CreatedAt: db.Now().UTC()}
	err = db.update(func(tx *kvTx) error {
		if project != 0 {
			if _, err := tx.Get(projectKey(int(project))); err != nil {
				if errors.Is(err, buntdb.ErrNotFound) {
					return Invalid("project", fmt.Sprintf("no project %d", project))
				}
				return err
			}
		}
		return setJSON(tx, tokenKey(rec.Hash), rec)
	})
	if err != nil {
		return "", Token{}, err
	}
	return secret, rec.token(), nil
}

// LookupToken returns the token whose secret is secret, and whether there
// is one. It records the use (Token.LastUsed) at most once a minute.
func (db *DB) LookupToken(secret string) (Token, bool) {
	if len(secret) != tokenSecretLen {
		return Token{}, false
	}
	key := tokenKey(hashToken(secret))
	var rec tokenRecord
	if err := db.view(func(tx *kvTx) error { return getJSON(tx, key, &rec) }); err != nil {
		return Token{}, false
	}
	if now := db.Now().UTC(); now.Sub(rec.LastUsed) >= tokenLastUsedEvery {
		// Best effort: a failed write (disk full) must not refuse the request.
		db.update(func(tx *kvTx) error {
			var cur tokenRecord
			if err := getJSON(tx, key, &cur); err != nil {
				return err // revoked meanwhile: leave it gone
			}
			cur.LastUsed = now
			return setJSON(tx, key, cur)
		})
		rec.LastUsed = now
	}
	return rec.token(), true
}

// ListTokens returns every token, oldest first.
func (db *DB) ListTokens() ([]Token, error) {
	var out []Token
	err := db.view(func(tx *kvTx) error {
		var bad error
		tx.AscendKeys(tokenKey("*"), func(k, v string) bool {
			var rec tokenRecord
			if bad = jsonUnmarshal(v, &rec); bad != nil {
				bad = fmt.Errorf("store: token %s: %w", k, bad)
				return false
			}
			out = append(out, rec.token())
			return true
		})
		return bad
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, err
}

// RevokeToken deletes the token with the given ID. It returns ErrNotFound
// when there is none.
func (db *DB) RevokeToken(id string) error {
	if len(id) != tokenIDLen {
		return ErrNotFound
	}
	return db.update(func(tx *kvTx) error {
		var key string
		tx.AscendKeys(tokenKey(id+"*"), func(k, v string) bool { key = k; return false })
		if key == "" {
			return ErrNotFound
		}
		_, err := tx.Delete(key)
		return err
	})
}

// tokenIDLen is how many hex digits of the hash make a token's ID: 64 bits,
// enough to never collide among an operator's tokens, and useless for
// guessing the secret.
const tokenIDLen = 16

func tokenID(hash string) string { return hash[:min(tokenIDLen, len(hash))] }

func hashToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}
