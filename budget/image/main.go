// Command image packs the static binaries of `make cross` into OCI image
// archives, without a container daemon or any other tool (`make image`).
//
//	go run ./budget/image -bin bin -out bin/image -version V [-epoch SECONDS]
//
// For each platform it writes OUT/tinysink-linux-ARCH.oci.tar, an OCI image
// layout of one image (`docker load -i`, `podman load -i`, or `skopeo copy
// oci-archive:…`), and OUT/tinysink.oci.tar, one layout with a multi-arch
// index of all four (`skopeo copy --all oci-archive:… docker://…` pushes
// it). Each image is one layer on an empty base: the binary, the CA
// certificates (for webhooks and alert mail), /etc/passwd and /etc/group
// with the non-root user 65532, /data owned by it (the volume), and /tmp.
// All timestamps are -epoch (default $SOURCE_DATE_EPOCH, else 0), so the
// same binaries give the same archives, byte for byte.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// platforms are the images built, with the `make cross` binary of each.
var platforms = []struct {
	Platform
	bin string
}{
	{Platform{"linux", "amd64", ""}, "tinysink-linux-amd64"},
	{Platform{"linux", "arm64", ""}, "tinysink-linux-arm64"},
	{Platform{"linux", "arm", "v7"}, "tinysink-linux-armv7"},
	{Platform{"linux", "arm", "v6"}, "tinysink-linux-armv6"},
}

// maxImage is the bar for one platform's archive (issue 16).
const maxImage = 15_000_000

func main() {
	binDir := flag.String("bin", "bin", "directory of the `make cross` binaries")
	out := flag.String("out", "bin/image", "directory the archives are written to")
	version := flag.String("version", "dev", "version recorded in the image labels")
	ca := flag.String("ca", "/etc/ssl/certs/ca-certificates.crt", "CA certificate bundle copied into the image")
	ref := flag.String("tag", "latest", "tag the archives name their image by (tinysink:TAG)")
	epochDefault := int64(0)
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		epochDefault, _ = strconv.ParseInt(s, 10, 64)
	}
	epoch := flag.Int64("epoch", epochDefault, "Unix time of every file and of the image's creation (env SOURCE_DATE_EPOCH)")
	flag.Parse()
	if err := run(*binDir, *out, *version, *ca, *ref, time.Unix(*epoch, 0)); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(binDir, out, version, caPath, ref string, mtime time.Time) error {
	ca, err := os.ReadFile(caPath)
	if err != nil {
		return fmt.Errorf("CA certificates: %w (install ca-certificates or pass -ca FILE)", err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	var imgs []*Image
	for _, p := range platforms {
		bin, err := os.ReadFile(filepath.Join(binDir, p.bin))
		if err != nil {
			return fmt.Errorf("%w (make cross builds it)", err)
		}
		relay, err := os.ReadFile(filepath.Join(binDir, relayBin(p.bin)))
		if err != nil {
			return fmt.Errorf("%w (make cross builds it)", err)
		}
		img, err := Build(p.Platform, bin, relay, ca, version, mtime)
		if err != nil {
			return err
		}
		imgs = append(imgs, img)
		name := filepath.Join(out, p.bin+".oci.tar")
		n, err := writeFile(name, func(b *bytes.Buffer) error { return WriteLayout(b, ref, "tinysink", mtime, img) })
		if err != nil {
			return err
		}
		fmt.Printf("%-40s %-14s %5.2f MB (layer %5.2f MB, binaries %5.2f MB)\n", name, p.Platform, float64(n)/1e6, float64(img.Layer)/1e6, float64(len(bin)+len(relay))/1e6)
		if n > maxImage {
			return fmt.Errorf("%s is %d bytes, over the %d-byte bar", name, n, maxImage)
		}
	}
	name := filepath.Join(out, "tinysink.oci.tar")
	n, err := writeFile(name, func(b *bytes.Buffer) error { return WriteLayout(b, ref, "tinysink", mtime, imgs...) })
	if err != nil {
		return err
	}
	fmt.Printf("%-40s %-14s %5.2f MB\n", name, "multi-arch", float64(n)/1e6)
	return nil
}

// writeFile writes what fill produces to name (through a temporary file,
// so a failed build leaves no half archive) and returns its size.
func writeFile(name string, fill func(*bytes.Buffer) error) (int, error) {
	var b bytes.Buffer
	if err := fill(&b); err != nil {
		return 0, err
	}
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
		return 0, err
	}
	return b.Len(), os.Rename(tmp, name)
}

// relayBin is the file name of the relay binary of a platform whose
// tinysink binary is bin: tinysink-linux-ARCH → tinysink-relay-linux-ARCH.
func relayBin(bin string) string { return strings.Replace(bin, "tinysink-", "tinysink-relay-", 1) }
