package store

import (
	"archive/zip"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// Artifact bundles: the zip files `sentry-cli sourcemaps upload` sends
// (through the chunk store), holding minified sources and source maps and a
// manifest.json naming each file's URL, type and headers (among them the
// debug id that `sentry-cli sourcemaps inject` wrote into the file).
//
// Each file's bytes are kept once, by SHA1, in <data>/artifacts/<sha1>;
// the tree indexes them three ways (keys.go):
//
//	artbundle:<pid>:<bundle sha1>             the bundle (uploads page)
//	artfile:<pid>:<bundle sha1>:<n 6>         each of its files
//	artdebug:<pid>:<debug id>:<type>          the file of a debug id and type
//	artrel:<pid>:<release>\x00<dist>\x00<url> the file of a release at a URL
//
// A later upload of the same debug id or release URL replaces the index
// entry; the body goes when no entry refers to it (DeleteArtifactBundle,
// VacuumArtifacts).
const (
	artifactsDir = "artifacts"
	// maxManifest bounds a bundle's manifest.json.
	maxManifest = 16 << 20
	// maxBundleFiles bounds the files of one bundle.
	maxBundleFiles = 20000
	// maxBundleUnpacked bounds the unpacked bytes of one bundle.
	maxBundleUnpacked = 1 << 30
	// touchEvery is how stale LastUsed may get before a lookup rewrites it.
	touchEvery = 24 * time.Hour
	// ArtifactRetention is how long a bundle neither uploaded again nor
	// used to map a frame is kept.
	ArtifactRetention = 90 * 24 * time.Hour
)

// VacuumUploads deletes the chunks unused for ChunkTTL and the bundles
// unused for ArtifactRetention (with the bodies nothing refers to any
// more), as of now.
func (db *DB) VacuumUploads(now time.Time) (chunks, bundles int) {
	return db.VacuumChunks(now.Add(-ChunkTTL)), db.VacuumArtifacts(now.Add(-ArtifactRetention))
}

// ArtifactBundle is one uploaded bundle of a project.
type ArtifactBundle struct {
	Project  int       `json:"project"`
	Checksum string    `json:"checksum"`
	Uploaded time.Time `json:"uploaded"`
	Files    int       `json:"files"`
	Size     int64     `json:"size"` // unpacked bytes of the files kept
	Release  string    `json:"release,omitempty"`
	Dist     string    `json:"dist,omitempty"`
	DebugIDs []string  `json:"debug_ids,omitempty"` // at most 100
	// Skipped counts manifest entries with neither a debug id nor a
	// release to index them by.
	Skipped  int       `json:"skipped,omitempty"`
	LastUsed time.Time `json:"last_used,omitzero"`
}

// ArtifactFile is one file of a bundle.
type ArtifactFile struct {
	Project  int               `json:"project"`
	Bundle   string            `json:"bundle"`
	SHA1     string            `json:"sha1"`
	Size     int64             `json:"size"`
	Path     string            `json:"path"` // inside the zip
	URL      string            `json:"url,omitempty"`
	Type     string            `json:"type,omitempty"` // minified_source, source_map, source, ...
	DebugID  string            `json:"debug_id,omitempty"`
	Release  string            `json:"release,omitempty"`
	Dist     string            `json:"dist,omitempty"`
	Headers  map[string]string `json:"headers,omitempty"`
	Uploaded time.Time         `json:"uploaded"`
	LastUsed time.Time         `json:"last_used,omitzero"`
}

// Header returns the value of the header name (case-insensitive).
func (f *ArtifactFile) Header(name string) string {
	for k, v := range f.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// NormalizeDebugID returns id as a lowercase dashed UUID (appendices after
// the UUID dropped), or "" when it is not one.
func NormalizeDebugID(id string) string {
	id = strings.ToLower(strings.TrimSpace(id))
	hex := strings.ReplaceAll(id, "-", "")
	if len(hex) > 32 {
		hex = hex[:32]
	}
	if len(hex) != 32 {
		return ""
	}
	for i := 0; i < 32; i++ {
		if c := hex[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return ""
		}
	}
	return hex[:8] + "-" + hex[8:12] + "-" + hex[12:16] + "-" + hex[16:20] + "-" + hex[20:]
}

func (db *DB) artifactPath(sum string) string {
	return filepath.Join(db.dir, artifactsDir, sum)
}

// ErrBadBundle wraps the reasons an artifact bundle is refused.
var ErrBadBundle = errors.New("bad artifact bundle")

// bundleManifest is manifest.json of an artifact bundle.
type bundleManifest struct {
	Release string                  `json:"release"`
	Dist    string                  `json:"dist"`
	Files   map[string]manifestFile `json:"files"`
}

type manifestFile struct {
	URL     string            `json:"url"`
	Type    string            `json:"type"`
	Headers map[string]string `json:"headers"`
}

// HasArtifactBundle reports whether every project in pids has the bundle.
func (db *DB) HasArtifactBundle(pids []int, checksum string) bool {
	for _, pid := range pids {
		var b ArtifactBundle
		if db.view(func(tx *kvTx) error { return getJSON(tx, artBundleKey(pid, checksum), &b) }) != nil {
			return false
		}
	}
	return len(pids) > 0
}

// AddArtifactBundle unpacks the artifact bundle zip f (size bytes, SHA1
// checksum) into each project of pids: files with a debug-id header are
// indexed by debug id and type, files with a URL in a bundle with a release
// (the argument, else the manifest's) by release, dist and URL. Other
// entries are counted as skipped. A zip that is not a bundle is
// ErrBadBundle with the reason.
func (db *DB) AddArtifactBundle(pids []int, checksum string, f io.ReaderAt, size int64, release, dist string) (*ArtifactBundle, error) {
	zr, err := zip.NewReader(f, size)
	if err != nil {
		return nil, fmt.Errorf("%w: not a zip file: %v", ErrBadBundle, err)
	}
	var man bundleManifest
	var mf *zip.File
	for _, zf := range zr.File {
		if zf.Name == "manifest.json" {
			mf = zf
		}
	}
	if mf == nil {
		return nil, fmt.Errorf("%w: no manifest.json", ErrBadBundle)
	}
	if err := readZipJSON(mf, &man); err != nil {
		return nil, err
	}
	if release == "" {
		release, dist = man.Release, man.Dist
	}
	if len(man.Files) > maxBundleFiles {
		return nil, fmt.Errorf("%w: more than %d files", ErrBadBundle, maxBundleFiles)
	}
	byName := make(map[string]*zip.File, len(zr.File))
	for _, zf := range zr.File {
		byName[zf.Name] = zf
	}
	now := db.Now().UTC()
	b := ArtifactBundle{Checksum: checksum, Uploaded: now, Release: release, Dist: dist}
	paths := make([]string, 0, len(man.Files))
	for p := range man.Files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var files []ArtifactFile
	var unpacked int64
	for _, p := range paths {
		e := man.Files[p]
		af := ArtifactFile{Bundle: checksum, Path: p, URL: e.URL, Type: e.Type, Headers: e.Headers, Uploaded: now}
		af.DebugID = NormalizeDebugID(af.Header("debug-id"))
		if af.DebugID == "" && (release == "" || af.URL == "") {
			b.Skipped++
			continue
		}
		if af.DebugID == "" {
			af.Release, af.Dist = release, dist
		}
		zf := byName[p]
		if zf == nil {
			return nil, fmt.Errorf("%w: manifest.json lists %q, which the zip lacks", ErrBadBundle, p)
		}
		sum, n, err := db.storeArtifactBody(zf, maxBundleUnpacked-unpacked)
		if err != nil {
			return nil, err
		}
		unpacked += n
		af.SHA1, af.Size = sum, n
		files = append(files, af)
		if af.DebugID != "" && len(b.DebugIDs) < 100 && !slices.Contains(b.DebugIDs, af.DebugID) {
			b.DebugIDs = append(b.DebugIDs, af.DebugID)
		}
	}
	b.Files, b.Size = len(files), unpacked
	err = db.update(func(tx *kvTx) error {
		for _, pid := range pids {
			b.Project = pid
			if err := setJSON(tx, artBundleKey(pid, checksum), &b); err != nil {
				return err
			}
			for i := range files {
				af := files[i]
				af.Project = pid
				if err := setJSON(tx, artFileKey(pid, checksum, i), &af); err != nil {
					return err
				}
				var key string
				if af.DebugID != "" {
					key = artDebugKey(pid, af.DebugID, af.Type)
				} else {
					key = artRelKey(pid, af.Release, af.Dist, af.URL)
				}
				if err := setJSON(tx, key, &af); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &b, nil
}

func readZipJSON(zf *zip.File, v any) error {
	rc, err := zf.Open()
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadBundle, zf.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxManifest+1))
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadBundle, zf.Name, err)
	}
	if len(b) > maxManifest {
		return fmt.Errorf("%w: %s is over %d MiB", ErrBadBundle, zf.Name, maxManifest>>20)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadBundle, zf.Name, err)
	}
	return nil
}

// storeArtifactBody copies a zip entry of at most limit bytes into the
// artifacts directory under its SHA1 and returns the SHA1 and size.
func (db *DB) storeArtifactBody(zf *zip.File, limit int64) (string, int64, error) {
	dir := filepath.Join(db.dir, artifactsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", 0, err
	}
	rc, err := zf.Open()
	if err != nil {
		return "", 0, fmt.Errorf("%w: %s: %v", ErrBadBundle, zf.Name, err)
	}
	defer rc.Close()
	tmp, err := os.CreateTemp(dir, ".put-*")
	if err != nil {
		return "", 0, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha1.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(rc, limit+1))
	if err != nil {
		if errors.Is(err, zip.ErrChecksum) || errors.Is(err, zip.ErrFormat) || errors.Is(err, io.ErrUnexpectedEOF) {
			return "", 0, fmt.Errorf("%w: %s: %v", ErrBadBundle, zf.Name, err)
		}
		return "", 0, err
	}
	if n > limit {
		return "", 0, fmt.Errorf("%w: the files unpack to more than %d MiB", ErrBadBundle, maxBundleUnpacked>>20)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	path := db.artifactPath(sum)
	if _, err := os.Stat(path); err == nil {
		return sum, n, nil
	}
	if err := tmp.Sync(); err != nil {
		return "", 0, err
	}
	return sum, n, os.Rename(tmp.Name(), path)
}

// ArtifactByDebugID returns the project's file of the debug id and type
// (source_map, minified_source), or ErrNotFound.
func (db *DB) ArtifactByDebugID(pid int, debugID, typ string) (*ArtifactFile, error) {
	var f ArtifactFile
	err := db.view(func(tx *kvTx) error { return getJSON(tx, artDebugKey(pid, NormalizeDebugID(debugID), typ), &f) })
	if err != nil {
		return nil, err
	}
	return &f, nil
}

// HasDebugID reports whether any file of the debug id was uploaded to the
// project.
func (db *DB) HasDebugID(pid int, debugID string) bool {
	found := false
	db.view(func(tx *kvTx) error {
		tx.ascend(artDebugKey(pid, NormalizeDebugID(debugID), ""), func(k, v string) bool {
			found = true
			return false
		})
		return nil
	})
	return found
}

// ArtifactByURL returns the project's file uploaded for the release and
// dist at url, or ErrNotFound.
func (db *DB) ArtifactByURL(pid int, release, dist, url string) (*ArtifactFile, error) {
	var f ArtifactFile
	err := db.view(func(tx *kvTx) error { return getJSON(tx, artRelKey(pid, release, dist, url), &f) })
	if err != nil {
		return nil, err
	}
	return &f, nil
}

// HasReleaseArtifacts reports whether files were uploaded for the release.
func (db *DB) HasReleaseArtifacts(pid int, release, dist string) bool {
	found := false
	db.view(func(tx *kvTx) error {
		tx.ascend(artRelKey(pid, release, dist, ""), func(k, v string) bool {
			found = true
			return false
		})
		return nil
	})
	return found
}

// HasArtifacts reports whether any bundle was uploaded to the project.
func (db *DB) HasArtifacts(pid int) bool {
	found := false
	db.view(func(tx *kvTx) error {
		tx.ascend(artBundlePrefix(pid), func(k, v string) bool {
			found = true
			return false
		})
		return nil
	})
	return found
}

// ArtifactBody returns the bytes of a file, reading at most max bytes
// (a larger file is ErrChunkTooLarge).
func (db *DB) ArtifactBody(f *ArtifactFile, max int64) ([]byte, error) {
	if !IsSHA1(f.SHA1) {
		return nil, ErrNotFound
	}
	if f.Size > max {
		return nil, fmt.Errorf("%w: %s is %d bytes", ErrChunkTooLarge, f.URL, f.Size)
	}
	b, err := os.ReadFile(db.artifactPath(f.SHA1))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	return b, err
}

// ArtifactTail returns at most the last n bytes of a file.
func (db *DB) ArtifactTail(f *ArtifactFile, n int64) ([]byte, error) {
	if !IsSHA1(f.SHA1) {
		return nil, ErrNotFound
	}
	fh, err := os.Open(db.artifactPath(f.SHA1))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	off := max(0, st.Size()-n)
	b := make([]byte, st.Size()-off)
	_, err = fh.ReadAt(b, off)
	if err == io.EOF {
		err = nil
	}
	return b, err
}

// TouchArtifact records that f was used now, at most once per day (its
// index entry and its bundle).
func (db *DB) TouchArtifact(f *ArtifactFile) error {
	now := db.Now().UTC()
	if now.Sub(f.LastUsed) < touchEvery {
		return nil
	}
	f.LastUsed = now
	return db.update(func(tx *kvTx) error {
		var key string
		if f.DebugID != "" {
			key = artDebugKey(f.Project, f.DebugID, f.Type)
		} else {
			key = artRelKey(f.Project, f.Release, f.Dist, f.URL)
		}
		var cur ArtifactFile
		if getJSON(tx, key, &cur) == nil && cur.SHA1 == f.SHA1 {
			cur.LastUsed = now
			if err := setJSON(tx, key, &cur); err != nil {
				return err
			}
		}
		var b ArtifactBundle
		if getJSON(tx, artBundleKey(f.Project, f.Bundle), &b) == nil {
			b.LastUsed = now
			return setJSON(tx, artBundleKey(f.Project, f.Bundle), &b)
		}
		return nil
	})
}

// ArtifactBundles returns the project's bundles, newest first.
func (db *DB) ArtifactBundles(pid int) ([]ArtifactBundle, error) {
	var out []ArtifactBundle
	err := db.view(func(tx *kvTx) error {
		tx.ascend(artBundlePrefix(pid), func(k, v string) bool {
			var b ArtifactBundle
			if jsonUnmarshal(v, &b) == nil {
				out = append(out, b)
			}
			return true
		})
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Uploaded.After(out[j].Uploaded) })
	return out, err
}

// ArtifactFiles returns the files of a bundle of the project.
func (db *DB) ArtifactFiles(pid int, bundle string) ([]ArtifactFile, error) {
	var out []ArtifactFile
	err := db.view(func(tx *kvTx) error {
		tx.ascend(artFilePrefix(pid, bundle), func(k, v string) bool {
			var f ArtifactFile
			if jsonUnmarshal(v, &f) == nil {
				out = append(out, f)
			}
			return true
		})
		return nil
	})
	return out, err
}

// DeleteArtifactBundle removes a bundle of the project and the index
// entries that still point at its files, then deletes the bodies no entry
// refers to any more.
func (db *DB) DeleteArtifactBundle(pid int, bundle string) error {
	if !db.HasArtifactBundle([]int{pid}, bundle) {
		return ErrNotFound
	}
	if err := db.deleteBundleKeys(pid, bundle); err != nil {
		return err
	}
	db.VacuumArtifacts(time.Time{})
	return nil
}

// VacuumArtifacts deletes the bundles of every project not used (uploaded
// or looked up) since before cutoff (a zero cutoff deletes none), then the
// bodies in <data>/artifacts no bundle file refers to. It returns how many
// bundles it deleted.
func (db *DB) VacuumArtifacts(cutoff time.Time) int {
	n := 0
	if !cutoff.IsZero() {
		var stale []ArtifactBundle
		db.view(func(tx *kvTx) error {
			tx.ascend("artbundle:", func(k, v string) bool {
				var b ArtifactBundle
				if jsonUnmarshal(v, &b) == nil && b.Uploaded.Before(cutoff) && b.LastUsed.Before(cutoff) {
					stale = append(stale, b)
				}
				return true
			})
			return nil
		})
		for _, b := range stale {
			if db.deleteBundleKeys(b.Project, b.Checksum) == nil {
				n++
			}
		}
	}
	live := map[string]bool{}
	db.view(func(tx *kvTx) error {
		tx.ascend("artfile:", func(k, v string) bool {
			var f ArtifactFile
			if jsonUnmarshal(v, &f) == nil {
				live[f.SHA1] = true
			}
			return true
		})
		return nil
	})
	dir := filepath.Join(db.dir, artifactsDir)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if IsSHA1(e.Name()) && !live[e.Name()] {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return n
}

func (db *DB) deleteBundleKeys(pid int, bundle string) error {
	return db.update(func(tx *kvTx) error {
		var keys []string
		var files []ArtifactFile
		tx.ascend(artFilePrefix(pid, bundle), func(k, v string) bool {
			var f ArtifactFile
			if jsonUnmarshal(v, &f) == nil {
				keys = append(keys, k)
				files = append(files, f)
			}
			return true
		})
		tx.Delete(artBundleKey(pid, bundle))
		for i, f := range files {
			tx.Delete(keys[i])
			key := artRelKey(pid, f.Release, f.Dist, f.URL)
			if f.DebugID != "" {
				key = artDebugKey(pid, f.DebugID, f.Type)
			}
			var cur ArtifactFile
			if getJSON(tx, key, &cur) == nil && cur.Bundle == bundle {
				tx.Delete(key)
			}
		}
		return nil
	})
}
