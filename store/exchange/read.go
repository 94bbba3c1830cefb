package exchange

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// Reader reads an export in order: Projects, Releases, Events, Issues,
// each once. It checks what it reads and holds at most one index chunk.
type Reader struct {
	src      source
	Manifest Manifest
	slugs    map[string]bool
	step     int
}

// OpenDir opens the export in directory dir.
func OpenDir(dir string) (*Reader, error) { return newReader(dirSource{dir: dir}) }

// OpenStream opens an export written as a tar stream (ExportTar).
func OpenStream(r io.Reader) (*Reader, error) { return newReader(newTarSource(r)) }

func newReader(src source) (*Reader, error) {
	r := &Reader{src: src, slugs: map[string]bool{}}
	b, err := readFile(src, "manifest.json", maxMeta)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no manifest.json at its start (is it a tinysink export?)", ErrFormat)
	} else if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &r.Manifest); err != nil {
		return nil, fmt.Errorf("%w: manifest.json: %v", ErrFormat, err)
	}
	switch {
	case r.Manifest.Format != Format:
		return nil, fmt.Errorf("%w: manifest.json names format %q, not %q", ErrFormat, r.Manifest.Format, Format)
	case r.Manifest.Version < 1 || r.Manifest.Version > Version:
		return nil, fmt.Errorf("%w: export format version %d; this tinysink reads version %d", ErrFormat, r.Manifest.Version, Version)
	}
	return r, nil
}

// ndjson calls fn with each line of the named file, which must exist.
func (r *Reader) ndjson(step int, name string, fn func(n int, line []byte) error) error {
	if r.step != step {
		return fmt.Errorf("exchange: %s read out of order", name)
	}
	r.step++
	f, err := r.src.open(name)
	if errors.Is(err, fs.ErrNotExist) {
		if next := r.src.next(); next != "" {
			return fmt.Errorf("%w: %s missing (found %s in its place)", ErrFormat, name, next)
		}
		return fmt.Errorf("%w: %s missing (the export is incomplete)", ErrFormat, name)
	} else if err != nil {
		return err
	}
	defer f.Close()
	return lines(name, f, fn)
}

// Projects calls fn for each project.
func (r *Reader) Projects(fn func(Project) error) error {
	return r.ndjson(0, "projects.ndjson", func(n int, line []byte) error {
		var p Project
		if err := decodeLine("projects.ndjson", n, line, &p); err != nil {
			return err
		}
		if p.Slug == "" || strings.TrimSpace(p.Name) == "" {
			return fmt.Errorf("%w: projects.ndjson line %d: a project needs a slug and a name", ErrFormat, n)
		}
		if r.slugs[p.Slug] {
			return fmt.Errorf("%w: projects.ndjson line %d: project %q twice", ErrFormat, n, p.Slug)
		}
		r.slugs[p.Slug] = true
		return fn(p)
	})
}

func (r *Reader) project(name string, n int, slug string) error {
	if !r.slugs[slug] {
		return fmt.Errorf("%w: %s line %d: project %q is not in projects.ndjson", ErrFormat, name, n, slug)
	}
	return nil
}

// Releases calls fn for each release.
func (r *Reader) Releases(fn func(Release) error) error {
	return r.ndjson(1, "releases.ndjson", func(n int, line []byte) error {
		var rel Release
		if err := decodeLine("releases.ndjson", n, line, &rel); err != nil {
			return err
		}
		if err := r.project("releases.ndjson", n, rel.Project); err != nil {
			return err
		}
		if rel.Version == "" {
			return fmt.Errorf("%w: releases.ndjson line %d: a release needs a version", ErrFormat, n)
		}
		return fn(rel)
	})
}

// Events calls fn for each event, with the envelope that holds it and the
// envelope's event payload.
func (r *Reader) Events(fn func(ev Event, envelope, payload []byte) error) error {
	if r.step != 2 {
		return errors.New("exchange: events read out of order")
	}
	r.step++
	for chunk := 1; ; chunk++ {
		name := chunkName(chunk)
		f, err := r.src.open(name)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		} else if err != nil {
			return err
		}
		var evs []Event
		err = lines(name, f, func(n int, line []byte) error {
			var ev Event
			if err := decodeLine(name, n, line, &ev); err != nil {
				return err
			}
			if err := r.project(name, n, ev.Project); err != nil {
				return err
			}
			if !validID(ev.EventID) {
				return fmt.Errorf("%w: %s line %d: event_id %q is not 32 lowercase hex digits", ErrFormat, name, n, ev.EventID)
			}
			if len(evs) == ChunkSize {
				return fmt.Errorf("%w: %s has more than %d events", ErrFormat, name, ChunkSize)
			}
			evs = append(evs, ev)
			return nil
		})
		f.Close()
		if err != nil {
			return err
		}
		for _, ev := range evs {
			file := envelopeName(chunk, ev.EventID)
			env, err := readFile(r.src, file, maxEnvelope)
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%w: %s missing (listed in %s)", ErrFormat, file, name)
			} else if err != nil {
				return err
			}
			id, payload, err := EnvelopeEvent(env)
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			if strings.ToLower(strings.ReplaceAll(id, "-", "")) != ev.EventID {
				return fmt.Errorf("%w: %s holds event %q, not %s", ErrFormat, file, id, ev.EventID)
			}
			if err := fn(ev, env, payload); err != nil {
				return err
			}
		}
	}
}

// Issues calls fn for each issue.
func (r *Reader) Issues(fn func(Issue) error) error {
	return r.ndjson(3, "issues.ndjson", func(n int, line []byte) error {
		var iss Issue
		if err := decodeLine("issues.ndjson", n, line, &iss); err != nil {
			return err
		}
		if err := r.project("issues.ndjson", n, iss.Project); err != nil {
			return err
		}
		return fn(iss)
	})
}

// End checks that nothing follows the issues (for a stream).
func (r *Reader) End() error {
	if next := r.src.next(); next != "" {
		return fmt.Errorf("%w: unexpected %s after issues.ndjson", ErrFormat, next)
	}
	return nil
}
