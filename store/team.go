package store

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tidwall/buntdb"
	"github.com/tinysink/tinysink/internal/xsort"
)

// Teams group users and projects (reference §13.1): a member of a team
// sees the team's projects; an admin of a team also manages them (their
// settings, alert services, uploads and members) and the team's members.
// Superusers (User.Admin) see and manage everything, and alone create
// teams and put projects into them.

// Role is what a member may do in a team.
type Role string

// The team roles.
const (
	RoleMember Role = "member" // sees the team's projects
	RoleAdmin  Role = "admin"  // also manages them and the team's members
)

// Team is a named group of users with roles, and the projects they share.
type Team struct {
	Name      string       `json:"name"`
	Members   []TeamMember `json:"members,omitempty"` // ordered by user name
	Projects  []int        `json:"projects,omitempty"`
	CreatedAt time.Time    `json:"created_at"`
}

// TeamMember is one user's membership of a team.
type TeamMember struct {
	User string `json:"user"`
	Role Role   `json:"role"`
}

// Role returns user's role in the team, or "" when user is no member.
func (t *Team) Role(user string) Role {
	for _, m := range t.Members {
		if m.User == user {
			return m.Role
		}
	}
	return ""
}

// validTeamName accepts 1 to 64 characters without control characters or
// slashes (the name is a path segment of the team's page).
func validTeamName(s string) bool {
	return s != "" && len(s) <= 64 && strings.TrimSpace(s) == s &&
		!strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '/' || r == '\\' })
}

// CreateTeam creates an empty team. It returns a *ValidationError (ErrExists
// when the name is taken, ErrInvalid for a bad name).
func (db *DB) CreateTeam(name string) (*Team, error) {
	if !validTeamName(name) {
		return nil, Invalid("name", "a team name has 1 to 64 characters, no slashes and no surrounding spaces")
	}
	t := &Team{Name: name, CreatedAt: db.Now().UTC()}
	err := db.update(func(tx *kvTx) error {
		if _, err := tx.Get(teamKey(name)); err == nil {
			return &ValidationError{Kind: ErrExists, Field: "name", Msg: fmt.Sprintf("%q is taken", name)}
		}
		return setJSON(tx, teamKey(name), t)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// Team returns the team with the given name.
func (db *DB) Team(name string) (*Team, error) {
	var t Team
	if err := db.view(func(tx *kvTx) error { return getJSON(tx, teamKey(name), &t) }); err != nil {
		return nil, err
	}
	return &t, nil
}

// Teams returns every team, ordered by name.
func (db *DB) Teams() ([]Team, error) {
	var out []Team
	err := db.view(func(tx *kvTx) error {
		var err error
		out, err = teams(tx)
		return err
	})
	return out, err
}

func teams(tx *kvTx) ([]Team, error) {
	var out []Team
	var ierr error
	err := tx.AscendKeys(teamPattern, func(k, v string) bool {
		var t Team
		if ierr = jsonUnmarshal(v, &t); ierr != nil {
			ierr = fmt.Errorf("store: %s: %w", k, ierr)
			return false
		}
		out = append(out, t)
		return true
	})
	return out, errors.Join(err, ierr)
}

// DeleteTeam deletes a team. Its members lose what they saw through it.
func (db *DB) DeleteTeam(name string) error {
	return db.update(func(tx *kvTx) error {
		if _, err := tx.Delete(teamKey(name)); err != nil {
			if errors.Is(err, buntdb.ErrNotFound) {
				return ErrNotFound
			}
			return err
		}
		return nil
	})
}

// SetTeamMember adds user to the team with role, or changes the role; an
// empty role removes the user from the team. The user must exist.
func (db *DB) SetTeamMember(team, user string, role Role) error {
	switch role {
	case "", RoleMember, RoleAdmin:
	default:
		return Invalid("role", fmt.Sprintf("unknown role %q (want member or admin)", role))
	}
	return db.updateTeam(team, func(tx *kvTx, t *Team) error {
		if _, err := tx.Get(userKey(user)); err != nil && role != "" {
			return Invalid("user", fmt.Sprintf("no user %q", user))
		}
		t.Members = slices.DeleteFunc(t.Members, func(m TeamMember) bool { return m.User == user })
		if role != "" {
			t.Members = append(t.Members, TeamMember{User: user, Role: role})
			xsort.SortFunc(t.Members, func(a, b TeamMember) int { return strings.Compare(a.User, b.User) })
		}
		return nil
	})
}

// SetTeamProjects replaces the team's projects. Ids of projects that do not
// exist are dropped.
func (db *DB) SetTeamProjects(team string, projects []int) error {
	return db.updateTeam(team, func(tx *kvTx, t *Team) error {
		t.Projects = existingProjects(tx, projects)
		return nil
	})
}

func (db *DB) updateTeam(name string, fn func(tx *kvTx, t *Team) error) error {
	return db.update(func(tx *kvTx) error {
		var t Team
		if err := getJSON(tx, teamKey(name), &t); err != nil {
			return err
		}
		if err := fn(tx, &t); err != nil {
			return err
		}
		return setJSON(tx, teamKey(name), &t)
	})
}

// existingProjects returns the ids of ps that name projects, sorted and
// without repeats.
func existingProjects(tx *kvTx, ps []int) []int {
	var keep []int
	for _, pid := range ps {
		if _, err := tx.Get(projectKey(pid)); err == nil && !slices.Contains(keep, pid) {
			keep = append(keep, pid)
		}
	}
	slices.Sort(keep)
	return keep
}

// withTeams fills in what u sees and manages through its teams.
func withTeams(tx *kvTx, u *User) error {
	ts, err := teams(tx)
	if err != nil {
		return err
	}
	u.fillTeams(ts)
	return nil
}

// fillTeams fills in what u sees and manages through the teams ts.
func (u *User) fillTeams(ts []Team) {
	u.teamProjects, u.manages, u.teamAdmin = nil, nil, nil
	for _, t := range ts {
		switch t.Role(u.Name) {
		case RoleAdmin:
			u.manages = append(u.manages, t.Projects...)
			u.teamAdmin = append(u.teamAdmin, t.Name)
			fallthrough
		case RoleMember:
			u.teamProjects = append(u.teamProjects, t.Projects...)
		}
	}
}

// dropFromTeams removes a user (user != "") or a project (pid != 0) from
// every team.
func dropFromTeams(tx *kvTx, user string, pid int) error {
	ts, err := teams(tx)
	if err != nil {
		return err
	}
	for _, t := range ts {
		n, p := len(t.Members), len(t.Projects)
		t.Members = slices.DeleteFunc(t.Members, func(m TeamMember) bool { return m.User == user })
		t.Projects = slices.DeleteFunc(t.Projects, func(id int) bool { return id == pid })
		if len(t.Members) != n || len(t.Projects) != p {
			if err := setJSON(tx, teamKey(t.Name), &t); err != nil {
				return err
			}
		}
	}
	return nil
}
