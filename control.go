package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tinysink/tinysink/store"
)

// The control socket lets the account commands (tinysink user, tinysink
// token) change a data directory that a running server holds. The server
// listens on <data>/control.sock, a unix socket only its owner may open
// (mode 0600, inside the private data directory), and answers each
// request by running the same operation the command runs on a store it
// opened itself when no server holds the directory.

// controlSocket is the socket's file name in the data directory.
const controlSocket = "control.sock"

// controlRequest is one account operation.
type controlRequest struct {
	Op       string        `json:"op"` // user-create, user-password, token-create
	Name     string        `json:"name,omitempty"`
	Password string        `json:"password,omitempty"`
	Admin    bool          `json:"admin,omitempty"`
	Scopes   []store.Scope `json:"scopes,omitempty"`
	Project  int64         `json:"project,omitempty"`
}

// controlReply is the outcome of a controlRequest.
type controlReply struct {
	Secret string `json:"secret,omitempty"` // a new token's secret
	Error  string `json:"error,omitempty"`
}

// runControl performs req on db.
func runControl(db *store.DB, req controlRequest) (controlReply, error) {
	switch req.Op {
	case "user-create":
		if !store.ValidUserName(req.Name) {
			return controlReply{}, errors.New("a user name has 1 to 64 letters, digits and . _ @ + - characters")
		}
		if len(req.Password) < store.MinPasswordLen {
			return controlReply{}, fmt.Errorf("a password has at least %d characters", store.MinPasswordLen)
		}
		if _, err := db.CreateUser(req.Name, req.Password, req.Admin); err != nil {
			if errors.Is(err, store.ErrExists) {
				return controlReply{}, fmt.Errorf("user %q exists already", req.Name)
			}
			return controlReply{}, err
		}
		return controlReply{}, nil
	case "user-password":
		if len(req.Password) < store.MinPasswordLen {
			return controlReply{}, fmt.Errorf("a password has at least %d characters", store.MinPasswordLen)
		}
		err := db.SetPassword(req.Name, req.Password)
		if errors.Is(err, store.ErrNotFound) {
			return controlReply{}, fmt.Errorf("no user %q", req.Name)
		}
		return controlReply{}, err
	case "token-create":
		secret, _, err := db.CreateTokenWith(req.Name, req.Scopes, req.Project)
		return controlReply{Secret: secret}, err
	}
	return controlReply{}, fmt.Errorf("unknown control operation %q", req.Op)
}

// listenControl opens the control socket in dir. A socket file left by a
// server that died is removed first: whoever calls this holds the data
// directory's lock, so no other server serves it.
func listenControl(dir string) (net.Listener, error) {
	path := filepath.Join(dir, controlSocket)
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return peerCheck{ln}, nil
}

// peerCheck closes connections from other users (control_linux.go).
type peerCheck struct{ net.Listener }

func (l peerCheck) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || controlPeerAllowed(c) {
			return c, err
		}
		c.Close()
	}
}

// controlHandler serves POST /control with a controlRequest as JSON.
func controlHandler(db *store.DB, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /control", func(w http.ResponseWriter, r *http.Request) {
		var req controlRequest
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(controlReply{Error: "bad request: " + err.Error()})
			return
		}
		rep, err := runControl(db, req)
		if err != nil {
			rep.Error = err.Error()
			w.WriteHeader(http.StatusBadRequest)
		} else {
			log.Info("control", "op", req.Op, "name", req.Name)
		}
		json.NewEncoder(w).Encode(rep)
	})
	return mux
}

// callControl sends req to the server listening on dir's control socket.
func callControl(dir string, req controlRequest) (controlReply, error) {
	path := filepath.Join(dir, controlSocket)
	client := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}},
	}
	body, _ := json.Marshal(req)
	resp, err := client.Post("http://tinysink/control", "application/json", strings.NewReader(string(body)))
	if err != nil {
		return controlReply{}, fmt.Errorf("the data directory %s is in use by a running tinysink, and its control socket does not answer: %w", dir, err)
	}
	defer resp.Body.Close()
	var rep controlReply
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&rep); err != nil {
		return controlReply{}, fmt.Errorf("control socket: %w", err)
	}
	if rep.Error != "" {
		return rep, errors.New(rep.Error)
	}
	return rep, nil
}

// control performs req on the data directory dir: on the store directly
// when no server holds it, through the running server's control socket
// when one does.
func control(dir string, req controlRequest) (controlReply, error) {
	db, err := store.Open(dir)
	if errors.Is(err, store.ErrLocked) {
		return callControl(dir, req)
	}
	if err != nil {
		return controlReply{}, err
	}
	defer db.Close()
	return runControl(db, req)
}

// readPassword reads one line from r, without its line end.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
