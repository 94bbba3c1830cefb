package ui

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/tinysink/tinysink/store"
)

// sentry-cli's chunk upload (reference §11.1): it asks for the upload
// options, sends each file as SHA1-named chunks (plain `file` parts or
// gzip-compressed `file_gzip` parts of a multipart body), and then asks an
// assemble endpoint (artifact bundles here, debug files elsewhere) to make
// a file of a list of chunk checksums. The chunks live in the store
// (store/chunks.go); these handlers are the HTTP side, shared by every
// assemble endpoint.

const (
	// chunksPerRequest and maxChunkRequest bound one upload request.
	chunksPerRequest = 4
	maxChunkRequest  = chunksPerRequest*store.ChunkSize + 64<<10
)

// chunkErr turns the store's refusals of chunks into client errors.
func chunkErr(err error) error {
	switch {
	case errors.Is(err, store.ErrChunkTooLarge):
		return &userError{http.StatusRequestEntityTooLarge, err.Error()}
	case errors.Is(err, store.ErrChunksFull):
		return &userError{http.StatusInsufficientStorage, err.Error()}
	case errors.Is(err, store.ErrChunkChecksum), errors.Is(err, store.ErrChunkMissing):
		return errBadInput("%s", err.Error())
	}
	return err
}

// handleChunkOptions serves GET /api/0/organizations/{org}/chunk-upload/:
// what sentry-cli may send and where.
func (a *API) handleChunkOptions(w http.ResponseWriter, r *http.Request) error {
	base := a.baseURL
	if base == "" {
		base = "http://" + r.Host
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"url":              base + r.URL.Path,
		"chunkSize":        store.ChunkSize,
		"chunksPerRequest": chunksPerRequest,
		"maxFileSize":      store.MaxAssembledSize,
		"maxRequestSize":   maxChunkRequest,
		"concurrency":      1,
		"hashAlgorithm":    "sha1",
		"compression":      []string{"gzip"},
		"accept":           []string{"debug_files", "release_files", "sources", "artifact_bundles"},
	})
	return nil
}

// handleChunkUpload serves POST /api/0/organizations/{org}/chunk-upload/: a
// multipart body whose parts are named `file` (plain) or `file_gzip`
// (gzip), each with the SHA1 of its uncompressed bytes as filename. The
// parts are streamed to disk one at a time.
func (a *API) handleChunkUpload(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxChunkRequest)
	mr, err := r.MultipartReader()
	if err != nil {
		return errBadInput("chunk upload: want a multipart/form-data body: %v", err)
	}
	n := 0
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return chunkReadErr(err)
		}
		var body io.Reader = part
		switch part.FormName() {
		case "file":
		case "file_gzip":
			zr, err := gzip.NewReader(part)
			if err != nil {
				return errBadInput("chunk %s: not gzip: %v", part.FileName(), err)
			}
			body = zr
		default:
			part.Close()
			continue
		}
		if n++; n > chunksPerRequest {
			return errBadInput("chunk upload: more than %d chunks in one request", chunksPerRequest)
		}
		if err := a.db.PutChunk(strings.TrimSpace(part.FileName()), body); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return chunkReadErr(err)
			}
			if errors.Is(err, store.ErrChunkUnreadable) {
				return errBadInput("%v", err)
			}
			return chunkErr(err)
		}
		part.Close()
	}
	writeJSON(w, http.StatusOK, map[string]any{})
	return nil
}

// chunkReadErr explains a body that could not be read.
func chunkReadErr(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &userError{http.StatusRequestEntityTooLarge, fmt.Sprintf("chunk upload: the request is over %d bytes", maxChunkRequest)}
	}
	return errBadInput("chunk upload: cannot read the multipart body: %v", err)
}
