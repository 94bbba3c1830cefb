package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"
)

// BackupPath is the API endpoint that streams a backup of the running
// server (POST, bearer token).
const BackupPath = "/api/canonical/0/backup/"

// backupStatus is the trailer that tells the client the archive is
// complete: "ok", or the error that cut it short.
const backupStatus = "X-Tinysink-Backup-Status"

// writeStall is how long the client may leave the stream unread before the
// server gives up (the digest waits while a backup runs).
const writeStall = 30 * time.Second

// BackupHandler serves POST BackupPath: the archive of DB.Backup as
// the response body (application/zstd), with a trailer saying whether it
// is complete. Guard it with the API token check.
func BackupHandler(db *DB, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/zstd")
		w.Header().Set("Content-Disposition", `attachment; filename="tinysink-`+time.Now().UTC().Format("20060102-150405")+`.tar.zst"`)
		w.Header().Set("Trailer", backupStatus)
		start := time.Now()
		err := db.Backup(&deadlineWriter{w: w, rc: http.NewResponseController(w)})
		if err != nil {
			log.Error("backup failed", "err", err, "took", time.Since(start))
			w.Header().Set(backupStatus, "failed: "+strings.ReplaceAll(err.Error(), "\n", " "))
			return
		}
		log.Info("backup sent", "took", time.Since(start))
		w.Header().Set(backupStatus, "ok")
	})
}

// deadlineWriter pushes the write deadline forward before each write, so
// that a long backup outlives the server's WriteTimeout but a client that
// stops reading releases the digest within writeStall.
type deadlineWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (d *deadlineWriter) Write(b []byte) (int, error) {
	d.rc.SetWriteDeadline(time.Now().Add(writeStall))
	return d.w.Write(b)
}

// FetchBackup asks the server at baseURL for a backup and writes it to
// path, through a temporary file that is synced and renamed only once the
// server confirmed the archive complete.
func FetchBackup(ctx context.Context, baseURL, token, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(baseURL, "/")+BackupPath, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("ask the server for a backup: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("the server refused the backup: %s %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return WriteFileAtomic(path, func(f *os.File) error {
		if _, err := io.Copy(f, resp.Body); err != nil {
			return fmt.Errorf("receive the backup: %w", err)
		}
		if st := resp.Trailer.Get(backupStatus); st != "ok" {
			if st == "" {
				st = "the archive ended early"
			}
			return fmt.Errorf("the server could not complete the backup: %s", st)
		}
		return nil
	})
}

// WriteBackup writes a backup of db, opened by this process, to path.
func WriteBackup(db *DB, path string) error {
	return WriteFileAtomic(path, func(f *os.File) error { return db.Backup(f) })
}

// ErrNoToken is returned when a backup must go through the running server
// and no API token was given.
var ErrNoToken = errors.New("the data directory is in use by a running tinysink: give its URL and an API token (-url, -token or TINYSINK_URL, TINYSINK_TOKEN, or put the token in <data>/api-token)")
