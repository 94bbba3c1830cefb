package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// podman runs one podman command and returns its trimmed standard output.
func podman(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command("podman", args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("podman %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), err
}

// TestImagePodman loads the amd64 archive into a real container engine
// (podman, daemonless) and runs it as a user would: `podman run` with the
// image's own entrypoint, user, volume and port, published on 127.0.0.1.
// The server answers its health checks, takes an event and serves it back
// through the API with a token made by `podman exec ... token create`; the
// image's health check command passes inside the container; and after
// `podman restart` the event is still there (the /data volume).
func TestImagePodman(t *testing.T) {
	dir := imageDir(t)
	if _, err := exec.LookPath("podman"); err != nil {
		t.Skip("podman not installed (.ci/run installs it): the image is not started by a container engine here")
	}
	archive := filepath.Join(dir, "tinysink-linux-amd64.oci.tar")
	l := readLayoutFile(t, archive)
	cfg := checkImage(t, l, l.images(t)[0], Platform{"linux", "amd64", ""})

	loaded, err := podman(t, "load", "-q", "-i", archive)
	if err != nil {
		t.Fatal(err)
	}
	// "Loaded image: localhost/tinysink:latest" (or "Loaded image(s): ...").
	_, ref, ok := strings.Cut(loaded, ": ")
	if !ok || ref == "" {
		t.Fatalf("podman load printed %q", loaded)
	}
	ref = strings.TrimSpace(strings.Split(ref, ",")[0])
	var suffix [4]byte
	rand.Read(suffix[:])
	name := "tinysink-image-test-" + hex.EncodeToString(suffix[:])
	t.Cleanup(func() {
		podman(t, "rm", "-f", "-v", name)
		podman(t, "rmi", "-f", ref)
	})

	// The engine's default open-files and process limits can be above what
	// a sandbox may raise them to: ask for modest ones, no higher than this
	// process's hard limit. crun refuses hybrid cgroup hierarchies, which
	// some machines have; runc runs on them.
	runArgs := []string{"run", "-d", "--name", name}
	for _, l := range []struct {
		name string
		res  int
		want uint64
	}{{"nofile", syscall.RLIMIT_NOFILE, 1 << 16}, {"nproc", 6 /* RLIMIT_NPROC */, 4096}} {
		var lim syscall.Rlimit
		if syscall.Getrlimit(l.res, &lim) == nil {
			n := min(l.want, lim.Max)
			runArgs = append(runArgs, "--ulimit", fmt.Sprintf("%s=%d:%d", l.name, n, n))
		}
	}
	runArgs = append(runArgs,
		"-e", "TINYSINK_ADMIN_PASSWORD=image-test",
		"-p", "127.0.0.1::8000", ref)
	// An engine that cannot start any container on this machine (no
	// namespaces or cgroups for it) is like no engine: the test says so and
	// skips; once a container runs, every check below is strict.
	if _, err := podman(t, runArgs...); err != nil {
		if _, lerr := exec.LookPath("runc"); lerr != nil {
			t.Skipf("podman cannot start a container here: %v", err)
		}
		t.Logf("%v; again with runc", err)
		podman(t, "rm", "-f", "-v", name)
		if _, err := podman(t, append([]string{"--runtime", "runc"}, runArgs...)...); err != nil {
			t.Skipf("podman cannot start a container here: %v", err)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := podman(t, "logs", name)
			t.Logf("container log:\n%s", logs)
		}
	})
	port, err := podman(t, "port", name, "8000/tcp")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + strings.TrimSpace(strings.Split(port, "\n")[0])

	// The DSN the server prints names the port inside the container; its
	// key is what the client needs.
	var key string
	for end := time.Now().Add(30 * time.Second); key == "" && time.Now().Before(end); {
		logs, _ := podman(t, "logs", name)
		for line := range strings.SplitSeq(logs, "\n") {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "DSN:"); ok {
				key, _, _ = strings.Cut(strings.TrimPrefix(strings.TrimSpace(rest), "http://"), "@")
			}
		}
		if key == "" {
			time.Sleep(100 * time.Millisecond) // the container is starting
		}
	}
	if key == "" {
		t.Fatal("the container did not print a DSN within 30 s")
	}

	user, err := podman(t, "inspect", "-f", "{{.Config.User}}", name)
	if err != nil || user != cfg.Config.User {
		t.Errorf("container user %q (%v), want the image's %q", user, err, cfg.Config.User)
	}
	exe := append([]string{"exec", name}, cfg.Config.Entrypoint...)
	token, err := podman(t, append(exe, "token", "create")...)
	if err != nil || token == "" {
		t.Fatalf("token create in the container: %q, %v", token, err)
	}

	client := &http.Client{Timeout: 10 * time.Second}
	ready := false
	for end := time.Now().Add(30 * time.Second); !ready && time.Now().Before(end); {
		resp, err := client.Get(base + "/health/ready")
		if err == nil {
			resp.Body.Close()
			ready = resp.StatusCode == http.StatusOK
		}
		if !ready {
			time.Sleep(100 * time.Millisecond) // the published port is being set up
		}
	}
	if !ready {
		t.Fatalf("GET %s/health/ready did not answer 200 within 30 s", base)
	}

	id := "fedcba9876543210fedcba9876543210"
	body := fmt.Sprintf(`{"event_id":%q,"message":"from podman","platform":"go"}`, id)
	resp, err := client.Post(base+"/api/1/store/?sentry_key="+key, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	ack, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(ack), id) {
		t.Fatalf("store: %s %s", resp.Status, ack)
	}
	readBack := func() bool {
		for end := time.Now().Add(30 * time.Second); time.Now().Before(end); {
			req, _ := http.NewRequest("GET", base+"/api/canonical/0/events/"+id+"/", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			if resp, err := client.Do(req); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK && strings.Contains(string(b), "from podman") {
					return true
				}
			}
			time.Sleep(50 * time.Millisecond) // the digest commits in batches
		}
		return false
	}
	if !readBack() {
		t.Fatal("the event was not readable through the API within 30 s")
	}

	// The image's health check, run by the engine inside the container.
	hc := cfg.Config.Healthcheck.Test[1:]
	if out, err := podman(t, append([]string{"exec", name}, hc...)...); err != nil || out != "OK" {
		t.Errorf("health check %v in the container: %q, %v", hc, out, err)
	}

	// The data lives on the image's volume: a restarted container keeps it.
	if _, err := podman(t, "restart", name); err != nil {
		t.Fatal(err)
	}
	if port, err = podman(t, "port", name, "8000/tcp"); err != nil {
		t.Fatal(err)
	}
	base = "http://" + strings.TrimSpace(strings.Split(port, "\n")[0])
	if !readBack() {
		t.Fatal("after podman restart the event was gone")
	}
}
