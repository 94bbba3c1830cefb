package store

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tidwall/buntdb"
)

// Deploy is one deployment of a release to an environment, as sentry-cli
// reports it.
type Deploy struct {
	Project      int       `json:"project"`
	Version      string    `json:"version"`
	Environment  string    `json:"environment"`
	Name         string    `json:"name,omitempty"`
	URL          string    `json:"url,omitempty"`
	DateStarted  time.Time `json:"date_started,omitzero"`
	DateFinished time.Time `json:"date_finished"`
}

// MaxVersionLen caps a release version, as Sentry does.
const MaxVersionLen = 250

func checkVersion(v string) error {
	if v == "" || len(v) > MaxVersionLen || strings.ContainsAny(v, "\x00\n\r\t") {
		return Invalid("version", fmt.Sprintf("has 1 to %d characters and no control characters", MaxVersionLen))
	}
	return nil
}

// ErrInvalid is the Kind of the *ValidationError returned for input the
// store refuses (see Invalid); the error's text says why and is meant for
// the user.
var ErrInvalid = errors.New("store: invalid input")

// Release returns the project's release with the given version.
func (db *DB) Release(project int, version string) (*Release, error) {
	var r Release
	if err := db.view(func(tx *kvTx) error { return getJSON(tx, releaseKey(project, version), &r) }); err != nil {
		return nil, err
	}
	return &r, nil
}

// CreateRelease creates a release (or, when it exists, returns it
// unchanged with created false). A zero date means now.
func (db *DB) CreateRelease(project int, version string, date time.Time, epoch EpochFunc) (r *Release, created bool, err error) {
	if err := checkVersion(version); err != nil {
		return nil, false, err
	}
	if date.IsZero() {
		date = db.Now()
	}
	err = db.Digest(func(tx *Tx) error {
		if _, err := tx.Project(project); err != nil {
			return err
		}
		created, err = tx.EnsureRelease(project, version, date, epoch)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	r, err = db.Release(project, version)
	return r, created, err
}

// AddDeploy records a deploy of an existing release.
func (db *DB) AddDeploy(d *Deploy) error {
	if d.Environment == "" {
		return Invalid("environment", "is required for a deploy")
	}
	return db.update(func(tx *kvTx) error {
		if _, err := tx.Get(releaseKey(d.Project, d.Version)); err != nil {
			if errors.Is(err, buntdb.ErrNotFound) {
				return ErrNotFound
			}
			return err
		}
		seq, err := nextSeq(tx, "deploy")
		if err != nil {
			return err
		}
		return setJSON(tx, deployKey(d.Project, d.Version, seq), d)
	})
}

// Deploys returns the deploys of a release, oldest first.
func (db *DB) Deploys(project int, version string) ([]Deploy, error) {
	var out []Deploy
	err := db.view(func(tx *kvTx) error {
		prefix := deployPrefix(project, version)
		tx.ascend(prefix, func(k, v string) bool {
			var d Deploy
			if jsonUnmarshal(v, &d) == nil {
				out = append(out, d)
			}
			return true
		})
		return nil
	})
	return out, err
}
