package profile

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"time"

	"github.com/tinysink/tinysink/digest/minidump/sample"
)

// stageMinidump is the row of the first minidump, symbolicated.
const stageMinidump = "+ first minidump (with symbols)"

// minidump uploads test.dmp's Breakpad symbols, sends the dump as a
// Breakpad form post, and waits until its event is stored with frame 0
// symbolicated.
func (s *session) minidump() error {
	zr, err := gzip.NewReader(bytes.NewReader(sample.SymGz))
	if err != nil {
		return err
	}
	req, _ := http.NewRequest("POST", s.base+"/api/canonical/0/symbols/", zr)
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("symbol upload: %s", resp.Status)
	}

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("sentry[release]", "budget@1")
	fw, _ := mw.CreateFormFile("upload_file_minidump", "test.dmp")
	fw.Write(sample.Dump)
	mw.Close()
	resp, err = s.client.Post(s.base+"/api/1/minidump/?sentry_key="+s.key, mw.FormDataContentType(), &body)
	if err != nil {
		return err
	}
	var id struct{ ID string }
	json.NewDecoder(resp.Body).Decode(&id)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || id.ID == "" {
		return fmt.Errorf("minidump: %s", resp.Status)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest("GET", s.base+"/api/canonical/0/events/"+id.ID+"/", nil)
		req.Header.Set("Authorization", "Bearer "+s.token)
		resp, err := s.client.Do(req)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			if !strings.Contains(string(b), sample.CrashFunction) {
				return fmt.Errorf("the minidump's event is not symbolicated")
			}
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("the minidump's event was not stored within 30s")
}
