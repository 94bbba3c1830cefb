package store

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/buntdb"
	"golang.org/x/crypto/bcrypt"
)

// Accounts: what the admin changes about users and projects from the UI.

// MinPasswordLen is the shortest password SetPassword accepts.
const MinPasswordLen = 8

// CanSee reports whether u may see project pid: admins see every project,
// other users the projects granted to them and their teams' projects.
func (u *User) CanSee(pid int) bool {
	return u.Admin || slices.Contains(u.Projects, pid) || slices.Contains(u.teamProjects, pid)
}

// Granted reports whether project pid is granted to u directly (not
// through a team).
func (u *User) Granted(pid int) bool { return slices.Contains(u.Projects, pid) }

// CanManage reports whether u may change project pid's settings, alert
// services, uploads and members: admins, and admins of a team that holds
// the project.
func (u *User) CanManage(pid int) bool {
	return u.Admin || slices.Contains(u.manages, pid)
}

// CanManageTeam reports whether u may change the members of team.
func (u *User) CanManageTeam(team string) bool {
	return u.Admin || slices.Contains(u.teamAdmin, team)
}

// ManagesAny reports whether u manages any team (or is an admin).
func (u *User) ManagesAny() bool { return u.Admin || len(u.teamAdmin) > 0 }

// SetUserAdmin promotes a user to admin or demotes one. It refuses to
// demote the last active admin.
func (db *DB) SetUserAdmin(name string, admin bool) error {
	return db.updateUser(name, func(tx *kvTx, u *User) error {
		if !admin && u.Admin {
			if err := notLastAdmin(tx, name); err != nil {
				return err
			}
		}
		u.Admin = admin
		return nil
	})
}

// ErrLastAdmin is returned when a change would leave no active admin.
var ErrLastAdmin = errors.New("store: the last admin cannot be removed or demoted")

func notLastAdmin(tx *kvTx, except string) error {
	n := 0
	err := tx.AscendKeys(userPattern, func(k, v string) bool {
		var u User
		if jsonUnmarshal(v, &u) == nil && u.Admin && u.Active && u.Name != except {
			n++
		}
		return n == 0
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrLastAdmin
	}
	return nil
}

// DeleteUser deletes a user with the user's sessions, alert settings,
// team memberships and OpenID Connect link, and unassigns the issues
// assigned to the user, recording that in each issue's history as done by
// the user named by. It refuses to delete the last active admin.
func (db *DB) DeleteUser(name, by string) error {
	return db.update(func(tx *kvTx) error {
		var u User
		if err := getJSON(tx, userKey(name), &u); err != nil {
			return err
		}
		if u.Admin {
			if err := notLastAdmin(tx, name); err != nil {
				return err
			}
		}
		if err := deleteUserSessions(tx, name); err != nil {
			return err
		}
		if err := unlinkOIDC(tx, &u); err != nil {
			return err
		}
		if err := unassignUser(tx, name, by, db.Now().UTC()); err != nil {
			return err
		}
		if err := dropFromTeams(tx, name, 0); err != nil {
			return err
		}
		var keys []string
		tx.AscendKeys("alertoptout:*", func(k, v string) bool {
			if _, user, ok := strings.Cut(strings.TrimPrefix(k, "alertoptout:"), ":"); ok && user == name {
				keys = append(keys, k)
			}
			return true
		})
		keys = append(keys, alertAddrKey(name), userKey(name))
		return tx.deleteKeys(keys)
	})
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
		u.Projects = existingProjects(tx, projects)
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

// unassignUser unassigns every issue assigned to the user name, in every
// project (through the iasg: index), with a history entry by by.
func unassignUser(tx *kvTx, name, by string, now time.Time) error {
	var pids []int
	err := tx.AscendKeys(projectPattern, func(k, v string) bool {
		var p Project
		if jsonUnmarshal(v, &p) == nil {
			pids = append(pids, p.ID)
		}
		return true
	})
	if err != nil {
		return err
	}
	for _, pid := range pids {
		var ids []uint32
		prefix := assignedPrefix(pid, name)
		tx.ascend(prefix, func(k, v string) bool {
			if n, err := strconv.ParseUint(strings.TrimPrefix(k, prefix), 10, 32); err == nil {
				ids = append(ids, uint32(n))
			}
			return true
		})
		for _, id := range ids {
			var iss Issue
			if err := getJSON(tx, issueKey(id), &iss); errors.Is(err, ErrNotFound) {
				// An index entry without its issue: drop it.
				if _, err := tx.Delete(prefix + pad10(id)); err != nil && !errors.Is(err, buntdb.ErrNotFound) {
					return err
				}
				continue
			} else if err != nil {
				return err
			}
			if iss.AssignedTo != name {
				// A stale index entry: drop it.
				if _, err := tx.Delete(prefix + pad10(id)); err != nil && !errors.Is(err, buntdb.ErrNotFound) {
					return err
				}
				continue
			}
			iss.AssignedTo = ""
			if err := putIssue(tx, &iss); err != nil {
				return err
			}
			if err := addHistory(tx, id, HistoryEntry{Kind: HistoryAssigned, User: by, At: now, Comment: "The user " + name + " was deleted."}); err != nil {
				return err
			}
		}
	}
	return nil
}
