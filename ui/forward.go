package ui

import (
	"net/http"
	"strings"
	"time"

	"github.com/tinysink/tinysink/ingest/forward"
)

// Forwarding is what the pages and the API show and change of forwarding
// to an upstream (main's).
type Forwarding struct {
	// InstallDSN is the installation's -forward-dsn ("" if none).
	InstallDSN string
	// Stats returns the forwarder's figures, and false while no forwarder
	// runs.
	Stats func() (forward.Stats, bool)
	// Changed is called after a project's forward DSN changed, so that a
	// forwarder not running yet starts. May be nil.
	Changed func()
}

// forwardView is the forwarding section of a project's settings page.
type forwardView struct {
	DSN        string // the project's own
	InstallDSN string
	Running    bool
	Stats      forward.Stats
	Lag        string // the age of the oldest item not forwarded
	RetryIn    string
}

func (u *UI) forwardView(dsn string) *forwardView {
	v := &forwardView{DSN: dsn}
	if f := u.forward; f != nil {
		v.InstallDSN = f.InstallDSN
		if f.Stats != nil {
			v.Stats, v.Running = f.Stats()
		}
	}
	v.Lag = (time.Duration(v.Stats.LagSeconds) * time.Second).String()
	if !v.Stats.RetryAt.IsZero() {
		v.RetryIn = max(0, time.Until(v.Stats.RetryAt)).Round(time.Second).String()
	}
	return v
}

// checkForwardDSN returns dsn trimmed, or an error saying why it cannot be
// a forward DSN; "" (no forwarding) is fine.
func checkForwardDSN(dsn string) (string, error) {
	dsn = strings.TrimSpace(dsn)
	if dsn == "" {
		return "", nil
	}
	if len(dsn) > 1000 {
		return "", errBadInput("forward_dsn has at most 1000 characters")
	}
	if _, err := forward.ParseDSN(dsn); err != nil {
		return "", errBadInput("forward_dsn: %s", strings.TrimPrefix(err.Error(), "forward: "))
	}
	return dsn, nil
}

// handleProjectForwardSave serves POST /projects/{pid}/forward/ with
// forward_dsn ("" stops forwarding the project, unless the installation
// forwards everything).
func (u *UI) handleProjectForwardSave(w http.ResponseWriter, r *http.Request) error {
	p, err := u.project(r)
	if err != nil {
		return err
	}
	dsn, err := checkForwardDSN(r.PostFormValue("forward_dsn"))
	if err != nil {
		return u.settingsError(w, r, p, "Not saved: "+err.Error())
	}
	if err := u.db.SetProjectForwardDSN(p.ID, dsn); err != nil {
		return err
	}
	if u.forward != nil && u.forward.Changed != nil {
		u.forward.Changed()
	}
	return redirect(w, r, settingsURL(p, "saved", "forwarding"))
}

// apiForward is what GET /forward/ answers.
type apiForward struct {
	Running bool `json:"running"`
	// InstallDSN says whether the installation forwards everything
	// (-forward-dsn); the DSN itself is not shown.
	InstallDSN bool `json:"install_dsn"`
	// Projects lists the projects with a forward DSN of their own.
	Projects []int `json:"projects"`
	forward.Stats
}

// handleForward serves GET /forward/: the forwarder's lag and failures.
func (a *API) handleForward(w http.ResponseWriter, r *http.Request) error {
	out := apiForward{Projects: []int{}}
	if f := a.Forwarding; f != nil {
		out.InstallDSN = f.InstallDSN != ""
		if f.Stats != nil {
			out.Stats, out.Running = f.Stats()
		}
	}
	ps, err := a.db.Projects()
	if err != nil {
		return err
	}
	for _, p := range ps {
		if p.ForwardDSN != "" {
			out.Projects = append(out.Projects, p.ID)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
