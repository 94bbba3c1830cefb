package store

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestTokenScopesImply(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		have []Scope
		want Scope
		ok   bool
	}{
		{[]Scope{ScopeRead}, ScopeRead, true},
		{[]Scope{ScopeRead}, ScopeWrite, false},
		{[]Scope{ScopeWrite}, ScopeRead, true},
		{[]Scope{ScopeWrite}, ScopeAdmin, false},
		{[]Scope{ScopeAdmin}, ScopeRead, true},
		{[]Scope{ScopeAdmin}, ScopeWrite, true},
		{nil, ScopeRead, false},
		{[]Scope{ScopeAdmin}, Scope("root"), false},
	} {
		if got := (Token{Scopes: tt.have}).Has(tt.want); got != tt.ok {
			t.Errorf("Token{%v}.Has(%s) = %v, want %v", tt.have, tt.want, got, tt.ok)
		}
	}
}

func TestTokenLifecycle(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir())
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	db.Now = func() time.Time { return now }

	all, err := db.CreateToken()
	if err != nil {
		t.Fatal(err)
	}
	p, err := db.CreateProject("web")
	if err != nil {
		t.Fatal(err)
	}
	secret, tok, err := db.CreateTokenWith("ci", []Scope{ScopeRead}, int64(p.ID))
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) != 40 || tok.Name != "ci" || tok.Project != int64(p.ID) || !slices.Equal(tok.Scopes, []Scope{ScopeRead}) {
		t.Fatalf("CreateTokenWith = %q, %+v", secret, tok)
	}

	got, ok := db.LookupToken(all)
	if !ok || !got.Has(ScopeAdmin) || got.Project != 0 || !got.LastUsed.Equal(now) {
		t.Fatalf("LookupToken(CreateToken()) = %+v, %v; want admin, all projects, used now", got, ok)
	}
	if _, ok := db.LookupToken(all[:39] + "x"); ok {
		t.Error("LookupToken accepted a wrong secret")
	}

	// LastUsed moves at most once a minute.
	now = now.Add(30 * time.Second)
	got, _ = db.LookupToken(all)
	if !got.LastUsed.Equal(now.Add(-30 * time.Second)) {
		t.Errorf("LastUsed after 30 s = %v, want unchanged", got.LastUsed)
	}
	now = now.Add(31 * time.Second)
	got, _ = db.LookupToken(all)
	if !got.LastUsed.Equal(now) {
		t.Errorf("LastUsed after 61 s = %v, want %v", got.LastUsed, now)
	}

	list, err := db.ListTokens()
	if err != nil || len(list) != 2 {
		t.Fatalf("ListTokens = %v, %v; want 2", list, err)
	}
	if err := db.RevokeToken(tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := db.LookupToken(secret); ok {
		t.Error("revoked token still valid")
	}
	if err := db.RevokeToken(tok.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("RevokeToken twice = %v, want ErrNotFound", err)
	}

	for _, bad := range []struct {
		scopes  []Scope
		project int64
	}{{nil, 0}, {[]Scope{"root"}, 0}, {[]Scope{ScopeRead}, -1}, {[]Scope{ScopeRead}, 999}} {
		if _, _, err := db.CreateTokenWith("x", bad.scopes, bad.project); !IsValidation(err) {
			t.Errorf("CreateTokenWith(%v, %d) = %v, want a ValidationError", bad.scopes, bad.project, err)
		}
	}
}

// A token stored before scopes existed keeps every scope on every project.
func TestTokenLegacyRecord(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir())
	secret := "0123456789abcdef0123456789abcdef01234567"
	h := hashToken(secret)
	if err := db.update(func(tx *kvTx) error {
		_, _, err := tx.Set(tokenKey(h), `{"hash":"`+h+`","created_at":"2025-01-01T00:00:00Z"}`, nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	tok, ok := db.LookupToken(secret)
	if !ok || !tok.Has(ScopeAdmin) || tok.Project != 0 || tok.ID != h[:16] {
		t.Fatalf("legacy token = %+v, %v", tok, ok)
	}
}
