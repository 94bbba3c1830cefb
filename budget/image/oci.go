package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"
)

// The media types of the OCI image specification (v1.1).
const (
	mediaIndex    = "application/vnd.oci.image.index.v1+json"
	mediaManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaConfig   = "application/vnd.oci.image.config.v1+json"
	mediaLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
)

// The image's fixed contents: where the binary lives, who runs it, and
// what the container runtime is told.
const (
	binPath  = "/usr/local/bin/tinysink"
	uid      = 65532 // the "nonroot" uid of distroless images
	userName = "tinysink"
	dataDir  = "/data"
	port     = "8000/tcp"
)

// Platform is one image's os, architecture and variant, as the image
// index and the config name it.
type Platform struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant,omitempty"`
}

func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Descriptor points at a blob: the OCI content descriptor.
type Descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Platform    *Platform         `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Index is an OCI image index (also the layout's index.json).
type Index struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	Manifests     []Descriptor      `json:"manifests"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// Manifest is an OCI image manifest.
type Manifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	Config        Descriptor        `json:"config"`
	Layers        []Descriptor      `json:"layers"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// Config is an OCI image configuration. Healthcheck is Docker's extension
// of the runtime config (podman and Docker honour it; the OCI runtime spec
// has no health checks).
type Config struct {
	Created string `json:"created"`
	Platform
	Config struct {
		User         string              `json:"User"`
		ExposedPorts map[string]struct{} `json:"ExposedPorts"`
		Env          []string            `json:"Env"`
		Entrypoint   []string            `json:"Entrypoint"`
		Cmd          []string            `json:"Cmd"`
		Volumes      map[string]struct{} `json:"Volumes"`
		WorkingDir   string              `json:"WorkingDir"`
		Labels       map[string]string   `json:"Labels,omitempty"`
		StopSignal   string              `json:"StopSignal"`
		Healthcheck  *Healthcheck        `json:"Healthcheck,omitempty"`
	} `json:"config"`
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
	History []struct {
		Created   string `json:"created"`
		CreatedBy string `json:"created_by"`
	} `json:"history"`
}

// Healthcheck is Docker's HEALTHCHECK of an image config (durations in
// nanoseconds).
type Healthcheck struct {
	Test        []string      `json:"Test"`
	Interval    time.Duration `json:"Interval"`
	Timeout     time.Duration `json:"Timeout"`
	StartPeriod time.Duration `json:"StartPeriod"`
	Retries     int           `json:"Retries"`
}

// Env is the image's environment: the server listens on port 8000 of
// every interface and keeps its data in the /data volume.
var Env = []string{
	"PATH=/usr/local/bin",
	"TINYSINK_ADDR=:8000",
	"TINYSINK_DATA=" + dataDir,
}

// Image is one platform's built image: its blobs by digest and the
// descriptor of its manifest.
type Image struct {
	Platform Platform
	Manifest Descriptor
	Blobs    map[string][]byte // digest → content
	Layer    int64             // compressed size of the one layer
}

// Build makes the image of one platform: a single layer holding bin and
// relay (the static tinysink and tinysink-relay binaries for that
// platform: tinysink -store=false executes the relay binary beside it), the
// CA bundle ca, /etc/passwd and
// /etc/group with the non-root user, /data owned by it, and /tmp; every
// file stamped with mtime, so the same inputs give the same bytes.
func Build(p Platform, bin, relay, ca []byte, version string, mtime time.Time) (*Image, error) {
	mtime = mtime.UTC().Truncate(time.Second)
	raw, err := layerTar(bin, relay, ca, mtime)
	if err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	zw.ModTime = time.Time{} // no timestamp in the gzip header
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	img := &Image{Platform: p, Blobs: map[string][]byte{}, Layer: int64(gz.Len())}

	created := mtime.Format(time.RFC3339)
	var c Config
	c.Created = created
	c.Platform = p
	c.Config.User = strconv.Itoa(uid) + ":" + strconv.Itoa(uid)
	c.Config.ExposedPorts = map[string]struct{}{port: {}}
	c.Config.Env = Env
	c.Config.Entrypoint = []string{binPath}
	c.Config.Cmd = []string{"serve"}
	c.Config.Volumes = map[string]struct{}{dataDir: {}}
	c.Config.WorkingDir = dataDir
	c.Config.StopSignal = "SIGTERM"
	c.Config.Labels = labels(version, created)
	c.Config.Healthcheck = &Healthcheck{
		Test:        []string{"CMD", binPath, "health"},
		Interval:    30 * time.Second,
		Timeout:     5 * time.Second,
		StartPeriod: 10 * time.Second,
		Retries:     3,
	}
	c.RootFS.Type = "layers"
	c.RootFS.DiffIDs = []string{digest(raw)}
	c.History = append(c.History, struct {
		Created   string `json:"created"`
		CreatedBy string `json:"created_by"`
	}{created, "make image (budget/image): tinysink " + version})
	cfg, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}

	m := Manifest{
		SchemaVersion: 2,
		MediaType:     mediaManifest,
		Config:        img.add(mediaConfig, cfg),
		Layers:        []Descriptor{img.add(mediaLayer, gz.Bytes())},
		Annotations:   labels(version, created),
	}
	mb, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	img.Manifest = img.add(mediaManifest, mb)
	img.Manifest.Platform = &p
	return img, nil
}

// labels are the standard OCI annotations of the image.
func labels(version, created string) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "tinysink",
		"org.opencontainers.image.description": "self-hosted Sentry-compatible error tracker",
		"org.opencontainers.image.version":     version,
		"org.opencontainers.image.created":     created,
		"org.opencontainers.image.source":      "https://github.com/tinysink/tinysink",
	}
}

// add stores a blob and returns its descriptor.
func (img *Image) add(mediaType string, b []byte) Descriptor {
	d := digest(b)
	img.Blobs[d] = b
	return Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// layerTar is the uncompressed tar of the image's one layer.
func layerTar(bin, relay, ca []byte, mtime time.Time) ([]byte, error) {
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\n%s:x:%d:%d:%s:%s:/sbin/nologin\n", userName, uid, uid, userName, dataDir)
	group := fmt.Sprintf("root:x:0:\n%s:x:%d:\n", userName, uid)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	entries := []struct {
		name  string
		mode  int64
		owner int
		body  []byte // nil: a directory
	}{
		{"data/", 0o700, uid, nil},
		{"etc/", 0o755, 0, nil},
		{"etc/group", 0o644, 0, []byte(group)},
		{"etc/passwd", 0o644, 0, []byte(passwd)},
		{"etc/ssl/", 0o755, 0, nil},
		{"etc/ssl/certs/", 0o755, 0, nil},
		{"etc/ssl/certs/ca-certificates.crt", 0o644, 0, ca},
		{"tmp/", 0o1777, 0, nil},
		{"usr/", 0o755, 0, nil},
		{"usr/local/", 0o755, 0, nil},
		{"usr/local/bin/", 0o755, 0, nil},
		{"usr/local/bin/tinysink", 0o755, 0, bin},
		{"usr/local/bin/tinysink-relay", 0o755, 0, relay},
	}
	for _, e := range entries {
		h := &tar.Header{
			Name:    e.name,
			Mode:    e.mode,
			Uid:     e.owner,
			Gid:     e.owner,
			ModTime: mtime,
			Format:  tar.FormatPAX,
		}
		if e.body == nil {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteLayout writes an OCI image layout as a tar to w: oci-layout,
// index.json naming ref (a tag such as "latest") and blobs/sha256/…. With
// one image, index.json lists its manifest (with Docker's manifest.json
// beside it, so older `docker load` reads the archive too); with several,
// index.json names one image index that lists each platform's manifest.
func WriteLayout(w io.Writer, ref, name string, mtime time.Time, imgs ...*Image) error {
	blobs := map[string][]byte{}
	for _, img := range imgs {
		for d, b := range img.Blobs {
			blobs[d] = b
		}
	}
	ann := map[string]string{
		"org.opencontainers.image.ref.name": ref,
		"io.containerd.image.name":          name + ":" + ref,
	}
	top := Index{SchemaVersion: 2, MediaType: mediaIndex}
	var dockerManifest []byte
	if len(imgs) == 1 {
		d := imgs[0].Manifest
		d.Annotations = ann
		top.Manifests = []Descriptor{d}
		var m Manifest
		if err := json.Unmarshal(imgs[0].Blobs[d.Digest], &m); err != nil {
			return err
		}
		dm, err := json.Marshal([]map[string]any{{
			"Config":   "blobs/sha256/" + hexOf(m.Config.Digest),
			"RepoTags": []string{name + ":" + ref},
			"Layers":   []string{"blobs/sha256/" + hexOf(m.Layers[0].Digest)},
		}})
		if err != nil {
			return err
		}
		dockerManifest = dm
	} else {
		idx := Index{SchemaVersion: 2, MediaType: mediaIndex}
		for _, img := range imgs {
			idx.Manifests = append(idx.Manifests, img.Manifest)
		}
		b, err := json.Marshal(idx)
		if err != nil {
			return err
		}
		d := digest(b)
		blobs[d] = b
		top.Manifests = []Descriptor{{MediaType: mediaIndex, Digest: d, Size: int64(len(b)), Annotations: ann}}
	}
	index, err := json.Marshal(top)
	if err != nil {
		return err
	}

	tw := tar.NewWriter(w)
	file := func(name string, b []byte) error {
		h := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if b == nil {
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	if err := file("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	if err := file("index.json", index); err != nil {
		return err
	}
	if dockerManifest != nil {
		if err := file("manifest.json", dockerManifest); err != nil {
			return err
		}
	}
	if err := file("blobs/", nil); err != nil {
		return err
	}
	if err := file("blobs/sha256/", nil); err != nil {
		return err
	}
	names := make([]string, 0, len(blobs))
	for d := range blobs {
		names = append(names, d)
	}
	sort.Strings(names)
	for _, d := range names {
		if err := file("blobs/sha256/"+hexOf(d), blobs[d]); err != nil {
			return err
		}
	}
	return tw.Close()
}

func hexOf(digest string) string { return digest[len("sha256:"):] }
