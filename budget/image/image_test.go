package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The same inputs give the same archive, byte for byte, and the archive
// is a valid layout whose config says what the image runs and how.
func TestBuildReproducible(t *testing.T) {
	p := Platform{"linux", "arm", "v6"}
	mtime := time.Unix(1_700_000_000, 0)
	archive := func() []byte {
		img, err := Build(p, []byte("\x7fELF not really"), []byte("\x7fELF relay"), []byte("-----BEGIN CERTIFICATE-----\n"), "v1", mtime)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := WriteLayout(&b, "latest", "tinysink", mtime, img); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	a, b := archive(), archive()
	if !bytes.Equal(a, b) {
		t.Fatal("two builds of the same inputs differ")
	}
	l := readLayout(t, bytes.NewReader(a))
	imgs := l.images(t)
	if len(imgs) != 1 {
		t.Fatalf("%d images, want 1", len(imgs))
	}
	checkImage(t, l, imgs[0], p)
	for name, h := range l.headers {
		if !h.ModTime.Equal(mtime) {
			t.Errorf("%s: mtime %v, want %v", name, h.ModTime, mtime)
		}
	}
}

// imageDir is where `make image` left the archives (make image-test sets
// it); without it the tests of the real images skip.
func imageDir(t *testing.T) string {
	dir := os.Getenv("TINYSINK_IMAGE_DIR")
	if dir == "" {
		t.Skip("TINYSINK_IMAGE_DIR not set: `make image-test` builds the images and runs this test on them")
	}
	return dir
}

// Every archive `make image` wrote: valid digests, the config (entrypoint,
// user, volume, env, port, health check, platform), a binary built for
// that platform, the files the binary needs, and the size bar.
func TestImageArchives(t *testing.T) {
	dir := imageDir(t)
	var all []Platform
	for _, p := range platforms {
		all = append(all, p.Platform)
		t.Run(p.bin, func(t *testing.T) {
			name := filepath.Join(dir, p.bin+".oci.tar")
			fi, err := os.Stat(name)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %.2f MB", p.Platform, float64(fi.Size())/1e6)
			if fi.Size() > maxImage {
				t.Errorf("%d bytes, over the %d-byte bar", fi.Size(), maxImage)
			}
			l := readLayoutFile(t, name)
			if _, ok := l.files["manifest.json"]; !ok {
				t.Error("no Docker manifest.json beside index.json")
			}
			imgs := l.images(t)
			if len(imgs) != 1 {
				t.Fatalf("%d images, want 1", len(imgs))
			}
			cfg := checkImage(t, l, imgs[0], p.Platform)
			if cfg.Config.Healthcheck == nil || !slices.Equal(cfg.Config.Healthcheck.Test, []string{"CMD", binPath, "health"}) {
				t.Errorf("health check %+v, want CMD %s health", cfg.Config.Healthcheck, binPath)
			}
			skopeoAgrees(t, name, p.Platform)
		})
	}
	t.Run("multi-arch", func(t *testing.T) {
		l := readLayoutFile(t, filepath.Join(dir, "tinysink.oci.tar"))
		imgs := l.images(t)
		var got []Platform
		for _, m := range imgs {
			got = append(got, *m.Platform)
			checkImage(t, l, m, *m.Platform)
		}
		if !slices.Equal(got, all) {
			t.Errorf("index lists %v, want %v", got, all)
		}
	})
}

// skopeoAgrees has skopeo, an outside reader of OCI layouts, read the
// archive's config, when it is installed (.ci/run installs it).
func skopeoAgrees(t *testing.T, name string, p Platform) {
	if _, err := exec.LookPath("skopeo"); err != nil {
		t.Log("skopeo not installed: the archive is not read by an outside tool")
		return
	}
	out, err := exec.Command("skopeo", "inspect", "--config", "oci-archive:"+name).Output()
	if err != nil {
		t.Fatalf("skopeo inspect: %v", err)
	}
	var c Config
	if err := json.Unmarshal(out, &c); err != nil {
		t.Fatal(err)
	}
	if c.Platform != p || c.Config.User != "65532:65532" || !slices.Equal(c.Config.Entrypoint, []string{binPath}) {
		t.Errorf("skopeo reads %s %q %q", c.Platform, c.Config.User, c.Config.Entrypoint)
	}
}

// The amd64 image's root filesystem, unpacked and started as the image
// says (entrypoint, command, env, working directory, uid 65532): under
// unshare with a user namespace (the layer as root directory, its own /proc
// and pid namespace), or, where user namespaces are refused, as root with
// chroot --userspec (TINYSINK_IMAGE_RUNNER=unshare or chroot picks one).
// `tinysink token create`, then the server answers /health, takes an event
// and serves it back, and the image's health check command passes.
func TestImageRuns(t *testing.T) {
	dir := imageDir(t)
	runner := os.Getenv("TINYSINK_IMAGE_RUNNER")
	if runner == "" {
		runner = "unshare"
		if err := exec.Command("unshare", "--user", "--map-user=65532", "--map-group=65532", "true").Run(); err != nil {
			if os.Getuid() != 0 {
				t.Skipf("cannot start a user namespace with unshare (util-linux), and not root for chroot: %v", err)
			}
			t.Logf("no user namespace (%v): chroot as root", err)
			runner = "chroot"
		}
	}
	l := readLayoutFile(t, filepath.Join(dir, "tinysink-linux-amd64.oci.tar"))
	m := l.images(t)[0]
	cfg := checkImage(t, l, m, Platform{"linux", "amd64", ""})
	var man Manifest
	mustJSON(t, l.blob(t, m.Digest), &man)
	root := t.TempDir()
	unpack(t, l.blob(t, man.Layers[0].Digest), root, runner == "chroot")

	var prefix []string
	switch runner {
	case "unshare":
		// What a container runtime adds: a mount point for /proc.
		if err := os.Mkdir(filepath.Join(root, "proc"), 0o755); err != nil {
			t.Fatal(err)
		}
		user, _, _ := strings.Cut(cfg.Config.User, ":")
		prefix = []string{"unshare",
			"--user", "--map-user=" + user, "--map-group=" + user,
			"--mount", "--pid", "--fork", "--kill-child",
			"--root=" + root, "--mount-proc=/proc", "--wd=" + cfg.Config.WorkingDir}
	case "chroot":
		// t.TempDir's parents are 0700: the image's user must reach root.
		os.Chmod(filepath.Dir(root), 0o755)
		prefix = []string{"chroot", "--userspec=" + cfg.Config.User, root}
	default:
		t.Fatalf("TINYSINK_IMAGE_RUNNER=%q: want unshare or chroot", runner)
	}
	// Each command runs in a process group of its own, which stop kills
	// whole: the relay (the image's tinysink exec'ing tinysink-relay)
	// once outlived its killed unshare, reparented to init, and kept the
	// pipe to its stderr open, so that Wait never returned (a CI run
	// timed out after 10 min in the cleanup). WaitDelay bounds what Wait
	// waits for the pipes should a process escape the group too.
	run := func(env []string, args ...string) *exec.Cmd {
		argv := append(slices.Clone(prefix), append(cfg.Config.Entrypoint, args...)...)
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(slices.Clone(cfg.Config.Env), env...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.WaitDelay = 5 * time.Second
		return cmd
	}
	out, err := run(nil, "token", "create").Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	token := strings.TrimSpace(string(out))

	// The image's own Cmd, on a free loopback port instead of :8000.
	srv := run([]string{"TINYSINK_ADDR=127.0.0.1:0", "TINYSINK_ADMIN_PASSWORD=image-test"}, cfg.Config.Cmd...)
	stdout, _ := srv.StdoutPipe()
	var stderr bytes.Buffer
	srv.Stderr = &stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop(srv)
		srv.Wait()
		if t.Failed() {
			t.Logf("server log:\n%s", stderr.String())
		}
	})
	var base, dsn string
	deadline := time.AfterFunc(30*time.Second, func() { stop(srv) })
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if _, rest, ok := strings.Cut(line, " listening on "); ok {
			base = strings.TrimSpace(rest)
		}
		if rest, ok := strings.CutPrefix(line, "DSN:"); ok {
			dsn = strings.TrimSpace(rest)
			break
		}
	}
	deadline.Stop()
	go io.Copy(io.Discard, stdout)
	if base == "" || dsn == "" {
		t.Fatal("the server in the image did not print its address and DSN")
	}
	key, _, _ := strings.Cut(strings.TrimPrefix(dsn, "http://"), "@")

	client := &http.Client{Timeout: 10 * time.Second}
	for _, path := range []string{"/health/live", "/health/ready"} {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", path, resp.Status)
		}
	}

	id := "0123456789abcdef0123456789abcdef"
	storeEvent(t, client, base, key, id, "from the image")
	if !eventServed(client, base, token, id, "from the image") {
		t.Fatal("the event was not readable through the API within 30 s")
	}

	// The health check as the runtime runs it, inside the image.
	hc := cfg.Config.Healthcheck.Test[1:]
	check := run([]string{"TINYSINK_URL=" + base}, hc[1:]...)
	if out, err := check.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "OK" {
		t.Errorf("%v: %v, %q", hc, err, out)
	}

	// A relay-only tinysink from the same image (it executes the image's
	// tinysink-relay) relays an event to the server above.
	rel := run([]string{"TINYSINK_ADDR=127.0.0.1:0", "TINYSINK_DATA=/tmp/relay"}, "serve", "-store=false", "-forward-dsn", dsn)
	rout, _ := rel.StdoutPipe()
	var rerr bytes.Buffer
	rel.Stderr = &rerr
	if err := rel.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop(rel)
		rel.Wait()
		if t.Failed() {
			t.Logf("relay log:\n%s", rerr.String())
		}
	})
	var relayBase string
	deadline = time.AfterFunc(30*time.Second, func() { stop(rel) })
	sc = bufio.NewScanner(rout)
	for sc.Scan() {
		if _, rest, ok := strings.Cut(sc.Text(), " relaying on "); ok {
			addr, _, _ := strings.Cut(rest, " ")
			relayBase = "http://" + addr
			break
		}
	}
	deadline.Stop()
	go io.Copy(io.Discard, rout)
	if relayBase == "" {
		t.Fatal("the relay in the image did not print its address")
	}
	relayed := "fedcba9876543210fedcba9876543210"
	storeEvent(t, client, relayBase, key, relayed, "through the relay in the image")
	if !eventServed(client, base, token, relayed, "through the relay in the image") {
		t.Fatal("the relayed event was not readable through the server's API within 30 s")
	}
	if strings.Contains(rerr.String(), "in this process") {
		t.Errorf("the relay ran inside the tinysink binary, not as %s:\n%s", "tinysink-relay", rerr.String())
	}
}

// stop kills the process group of cmd, started by run: the runner
// (unshare or chroot) and whatever it started, wherever they were
// reparented.
func stop(cmd *exec.Cmd) {
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

// storeEvent sends a store request for an event with this id and message
// and wants it acknowledged.
func storeEvent(t *testing.T, client *http.Client, base, key, id, message string) {
	t.Helper()
	body := fmt.Sprintf(`{"event_id":%q,"message":%q,"platform":"go"}`, id, message)
	resp, err := client.Post(base+"/api/1/store/?sentry_key="+key, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	ack, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(ack), id) {
		t.Fatalf("store: %s %s", resp.Status, ack)
	}
}

// eventServed reports whether the API serves the event (with its message)
// within 30 s: the digest commits in batches.
func eventServed(client *http.Client, base, token, id, message string) bool {
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); {
		req, _ := http.NewRequest("GET", base+"/api/canonical/0/events/"+id+"/", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if resp, err := client.Do(req); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(b), message) {
				return true
			}
		}
		time.Sleep(50 * time.Millisecond) // the digest commits in batches
	}
	return false
}

// layout is an OCI layout archive read into memory.
type layout struct {
	files   map[string][]byte
	headers map[string]*tar.Header
}

func readLayoutFile(t *testing.T, name string) *layout {
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return readLayout(t, f)
}

// readLayout reads a layout archive and checks that every blob's name is
// the SHA-256 of its content.
func readLayout(t *testing.T, r io.Reader) *layout {
	t.Helper()
	l := &layout{files: map[string][]byte{}, headers: map[string]*tar.Header{}}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		l.files[h.Name], l.headers[h.Name] = b, h
		if hx, ok := strings.CutPrefix(h.Name, "blobs/sha256/"); ok && hx != "" {
			if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != hx {
				t.Errorf("%s: content hashes to %x", h.Name, sum)
			}
		}
	}
	if string(l.files["oci-layout"]) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout %q", l.files["oci-layout"])
	}
	return l
}

// blob is the blob of descriptor digest d.
func (l *layout) blob(t *testing.T, d string) []byte {
	t.Helper()
	b, ok := l.files["blobs/sha256/"+strings.TrimPrefix(d, "sha256:")]
	if !ok {
		t.Fatalf("blob %s missing", d)
	}
	return b
}

// images follows index.json (through a nested image index if there is
// one) to the manifest descriptors, checking each descriptor's size.
func (l *layout) images(t *testing.T) []Descriptor {
	t.Helper()
	var top Index
	mustJSON(t, l.files["index.json"], &top)
	if len(top.Manifests) != 1 || top.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "latest" {
		t.Fatalf("index.json: %+v, want one entry tagged latest", top.Manifests)
	}
	d := top.Manifests[0]
	l.sized(t, d)
	if d.MediaType == mediaManifest {
		return []Descriptor{d}
	}
	var idx Index
	mustJSON(t, l.blob(t, d.Digest), &idx)
	for _, m := range idx.Manifests {
		l.sized(t, m)
		if m.MediaType != mediaManifest || m.Platform == nil {
			t.Errorf("index entry %+v: want a manifest with a platform", m)
		}
	}
	return idx.Manifests
}

func (l *layout) sized(t *testing.T, d Descriptor) {
	t.Helper()
	if n := int64(len(l.blob(t, d.Digest))); n != d.Size {
		t.Errorf("%s: %d bytes, descriptor says %d", d.Digest, n, d.Size)
	}
}

// checkImage checks one image's manifest, config and layer against what
// the image must be for platform p, and returns its config.
func checkImage(t *testing.T, l *layout, d Descriptor, p Platform) *Config {
	t.Helper()
	var m Manifest
	mustJSON(t, l.blob(t, d.Digest), &m)
	l.sized(t, m.Config)
	var c Config
	mustJSON(t, l.blob(t, m.Config.Digest), &c)
	if m.MediaType != mediaManifest || m.Config.MediaType != mediaConfig || len(m.Layers) != 1 || m.Layers[0].MediaType != mediaLayer {
		t.Fatalf("manifest %+v", m)
	}
	l.sized(t, m.Layers[0])
	if c.Platform != p {
		t.Errorf("config platform %s, want %s", c.Platform, p)
	}
	cc := c.Config
	if cc.User != "65532:65532" {
		t.Errorf("User %q, want 65532:65532", cc.User)
	}
	if !slices.Equal(cc.Entrypoint, []string{"/usr/local/bin/tinysink"}) || !slices.Equal(cc.Cmd, []string{"serve"}) {
		t.Errorf("Entrypoint %q Cmd %q", cc.Entrypoint, cc.Cmd)
	}
	if _, ok := cc.Volumes["/data"]; !ok || len(cc.Volumes) != 1 {
		t.Errorf("Volumes %v, want /data", cc.Volumes)
	}
	if _, ok := cc.ExposedPorts["8000/tcp"]; !ok || len(cc.ExposedPorts) != 1 {
		t.Errorf("ExposedPorts %v, want 8000/tcp", cc.ExposedPorts)
	}
	for _, e := range []string{"TINYSINK_ADDR=:8000", "TINYSINK_DATA=/data"} {
		if !slices.Contains(cc.Env, e) {
			t.Errorf("Env %q lacks %s", cc.Env, e)
		}
	}

	// The layer: its digest in the config, and its files.
	gz := l.blob(t, m.Layers[0].Digest)
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(raw); len(c.RootFS.DiffIDs) != 1 || c.RootFS.DiffIDs[0] != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Errorf("diff_ids %v, layer hashes to %x", c.RootFS.DiffIDs, sum)
	}
	files := map[string]*tar.Header{}
	bodies := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = h
		bodies[h.Name], _ = io.ReadAll(tr)
	}
	want := []struct {
		name       string
		mode       int64
		uid        int
		mustHaveIn string
	}{
		{"data/", 0o700, 65532, ""},
		{"tmp/", 0o1777, 0, ""},
		{"etc/passwd", 0o644, 0, "tinysink:x:65532:65532:"},
		{"etc/group", 0o644, 0, "tinysink:x:65532:"},
		{"etc/ssl/certs/ca-certificates.crt", 0o644, 0, "BEGIN CERTIFICATE"},
		{"usr/local/bin/tinysink", 0o755, 0, ""},
		{"usr/local/bin/tinysink-relay", 0o755, 0, ""},
	}
	for _, w := range want {
		h := files[w.name]
		switch {
		case h == nil:
			t.Errorf("layer lacks %s", w.name)
		case h.Mode != w.mode || h.Uid != w.uid || h.Gid != w.uid:
			t.Errorf("%s: mode %o uid %d gid %d, want %o %d", w.name, h.Mode, h.Uid, h.Gid, w.mode, w.uid)
		case !bytes.Contains(bodies[w.name], []byte(w.mustHaveIn)):
			t.Errorf("%s lacks %q", w.name, w.mustHaveIn)
		}
	}
	// A real binary (the unit test's stand-in is not one): built for p.
	for _, name := range []string{"usr/local/bin/tinysink", "usr/local/bin/tinysink-relay"} {
		if bin := bodies[name]; bytes.HasPrefix(bin, []byte("\x7fELF")) && len(bin) > 1<<20 {
			checkBinary(t, bin, p)
		}
	}
	return &c
}

// checkBinary reads the Go build settings of bin: GOARCH, GOARM for the
// ARM variants, a static build (no cgo) with the release tags.
func checkBinary(t *testing.T, bin []byte, p Platform) {
	t.Helper()
	bi, err := buildinfo.Read(bytes.NewReader(bin))
	if err != nil {
		t.Fatal(err)
	}
	s := map[string]string{}
	for _, kv := range bi.Settings {
		s[kv.Key] = kv.Value
	}
	armOK := p.Architecture != "arm" || s["GOARM"] == strings.TrimPrefix(p.Variant, "v")
	if s["GOOS"] != p.OS || s["GOARCH"] != p.Architecture || !armOK || s["CGO_ENABLED"] != "0" || !strings.Contains(s["-tags"], "nethttpomithttp2") {
		t.Errorf("binary for %s built with %v", p, s)
	}
}

// unpack extracts a gzipped layer into root with its modes. With owners
// (as root) files keep the layer's owners; without, they belong to whoever
// runs the test, as with a rootless runtime, whose user namespace maps
// that user to the image's user.
func unpack(t *testing.T, gz []byte, root string, owners bool) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, filepath.FromSlash(h.Name))
		mode := os.FileMode(h.Mode).Perm()
		if h.Mode&0o1000 != 0 {
			mode |= os.ModeSticky
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			b, _ := io.ReadAll(tr)
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("%s: unexpected type %c", h.Name, h.Typeflag)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if owners {
			if err := os.Lchown(p, h.Uid, h.Gid); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v in %.200s", err, b)
	}
}

// The compose file of the README runs this image as built: its volume,
// port and health check.
func TestComposeFile(t *testing.T) {
	b, err := os.ReadFile("../../compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"image: tinysink:latest",
		`"8000:8000"`,
		"tinysink-data:" + dataDir,
		`test: ["CMD", "` + binPath + `", "health"]`,
	} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("compose.yaml lacks %s", want)
		}
	}
}
