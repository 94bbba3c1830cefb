package store

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Accounts: what the admin changes about users and projects from the UI.

// MinPasswordLen is the shortest password SetPassword accepts.
const MinPasswordLen = 8

// CanSee reports whether u may see project pid: admins see every project,
// other users the projects granted to them.
func (u *User) CanSee(pid int) bool {
	return u.Admin || slices.Contains(u.Projects, pid)
}

// Users returns every user, ordered by name.
func (db *DB) Users() ([]User, error) {
	var out []User
	err := db.view(func(tx *kvTx) error {
		var ierr error
		err := tx.AscendKeys(userPattern, func(k, v string) bool {
			var u User
			if ierr = jsonUnmarshal(v, &u); ierr != nil {
				return false
			}
			out = append(out, u)
			return true
		})
		return errors.Join(err, ierr)
	})
	return out, err
}

// SetPassword replaces the user's password and ends all of the user's
// sessions.
func (db *DB) SetPassword(name, password string) error {
	if len(password) < MinPasswordLen {
		return fmt.Errorf("store: a password has at least %d characters", MinPasswordLen)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	return db.updateUser(name, func(tx *kvTx, u *User) error {
		u.PasswordHash = string(h)
		return deleteUserSessions(tx, name)
	})
}

// SetUserActive activates or deactivates a user. Deactivating ends the
// user's sessions; a deactivated user cannot log in.
func (db *DB) SetUserActive(name string, active bool) error {
	return db.updateUser(name, func(tx *kvTx, u *User) error {
		u.Active = active
		if !active {
			return deleteUserSessions(tx, name)
		}
		return nil
	})
}

// SetUserProjects replaces the projects granted to a user. Ids of projects
// that do not exist are dropped.
func (db *DB) SetUserProjects(name string, projects []int) error {
	return db.updateUser(name, func(tx *kvTx, u *User) error {
		var keep []int
		for _, pid := range projects {
			if _, err := tx.Get(projectKey(pid)); err == nil && !slices.Contains(keep, pid) {
				keep = append(keep, pid)
			}
		}
		slices.Sort(keep)
		u.Projects = keep
		return nil
	})
}

func (db *DB) updateUser(name string, fn func(tx *kvTx, u *User) error) error {
	return db.update(func(tx *kvTx) error {
		var u User
		if err := getJSON(tx, userKey(name), &u); err != nil {
			return err
		}
		if err := fn(tx, &u); err != nil {
			return err
		}
		return setJSON(tx, userKey(name), &u)
	})
}

// ProjectSettings are the settings of a project that its page edits.
type ProjectSettings struct {
	Name              string
	RetentionMax      int
	SummaryDays       int // 0: SummaryKeepDays
	AlertOnNewIssue   bool
	AlertOnRegression bool
	AlertOnUnmute     bool
}

// MaxRetention is the largest RetentionMax SetProjectSettings accepts.
const MaxRetention = 1_000_000

// SetProjectSettings changes a project's name, retention and alert
// toggles. The slug (and so the friendly ids) stays what it was.
func (db *DB) SetProjectSettings(id int, s ProjectSettings) error {
	s.Name = strings.TrimSpace(s.Name)
	if s.Name == "" || len(s.Name) > 100 {
		return fmt.Errorf("store: a project name has 1 to 100 characters")
	}
	if s.RetentionMax < 1 || s.RetentionMax > MaxRetention {
		return fmt.Errorf("store: retention is 1 to %d events", MaxRetention)
	}
	if s.SummaryDays < 0 || s.SummaryDays > SummaryKeepDays {
		return fmt.Errorf("store: summaries are kept 1 to %d days", SummaryKeepDays)
	}
	return db.update(func(tx *kvTx) error {
		var p Project
		if err := getJSON(tx, projectKey(id), &p); err != nil {
			return err
		}
		p.Name = s.Name
		p.RetentionMax = s.RetentionMax
		p.SummaryDays = s.SummaryDays
		p.AlertOnNewIssue = s.AlertOnNewIssue
		p.AlertOnRegression = s.AlertOnRegression
		p.AlertOnUnmute = s.AlertOnUnmute
		return setJSON(tx, projectKey(id), &p)
	})
}
