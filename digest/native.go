package digest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tinysink/tinysink/budget"
	"github.com/tinysink/tinysink/digest/minidump"
	"github.com/tinysink/tinysink/digest/minidump/sym"
	"github.com/tinysink/tinysink/digest/minidump/symstore"
	"github.com/tinysink/tinysink/ingest"
	"github.com/tinysink/tinysink/store/attach"
)

// minidumpReader marks the minidump reader loaded at the first dump
// (budget's registry of optional parts).
var minidumpReader = budget.FirstUse("minidump")

// OriginalName is the file beside an event's attachments that keeps the
// event as ingest spooled it, so that the dump can be processed again
// once its symbols are uploaded.
const OriginalName = "original.json"

// Native is what the digest needs to process minidumps.
type Native struct {
	Attachments *attach.Store
	Symbols     *symstore.Store // nil: no symbols
	// MaxAge is how long attachments are kept (0: as long as their event).
	MaxAge time.Duration
}

// hasMinidump is a cheap test for ingest's marker, which markMinidump
// writes as the payload's first key.
func hasMinidump(payload []byte) bool {
	return bytes.HasPrefix(payload, []byte(`{"`+ingest.MinidumpField+`":`))
}

// MergeMinidump processes the minidump an event's marker names and returns
// the event with the dump's threads, exception, contexts and images merged
// in (reference §11.2). A dump that does not read leaves the event with an
// exception that says so. Payloads without the marker come back as they
// are.
func (n *Native) MergeMinidump(project int, eventID string, payload []byte) ([]byte, error) {
	var ev map[string]any
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&ev); err != nil || ev == nil {
		return payload, nil // not an object: the normaliser says why
	}
	mark, ok := ev[ingest.MinidumpField].(json.Number)
	if !ok {
		return payload, nil
	}
	delete(ev, ingest.MinidumpField)
	num, err := mark.Int64()
	if err != nil || n.Attachments == nil {
		return json.Marshal(ev)
	}
	minidumpReader()
	dir := filepath.Dir(n.Attachments.Path(project, eventID, 0))
	if _, err := os.Stat(filepath.Join(dir, OriginalName)); err != nil {
		writeFile(filepath.Join(dir, OriginalName), payload)
	}
	info := map[string]any{"attachment": num}
	f, err := os.Open(n.Attachments.Path(project, eventID, int(num)))
	var d *minidump.Dump
	if err == nil {
		defer f.Close()
		var st os.FileInfo
		if st, err = f.Stat(); err == nil {
			d, err = minidump.Read(f, st.Size())
		}
	}
	if err != nil {
		setDefault(ev, "level", "fatal")
		ev["exception"] = map[string]any{"values": []any{map[string]any{
			"type":      "Minidump",
			"value":     fmt.Sprintf("The minidump could not be processed: %v", err),
			"mechanism": map[string]any{"type": "minidump", "handled": false, "synthetic": true},
		}}}
		info["notes"] = []string{err.Error()}
		setExtra(ev, info)
		return json.Marshal(ev)
	}
	var syms minidump.Symbols
	if n.Symbols != nil {
		syms = func(m *minidump.Module) *sym.Table { return n.Symbols.Table(m.DebugID) }
	}
	p := minidump.Process(d, syms)
	if p.Level == "fatal" {
		ev["level"] = "fatal"
	} else {
		setDefault(ev, "level", p.Level)
	}
	if _, ok := ev["timestamp"]; !ok && p.Timestamp > 0 {
		ev["timestamp"] = p.Timestamp
	}
	ctx, _ := ev["contexts"].(map[string]any)
	if ctx == nil {
		ctx = map[string]any{}
	}
	for k, v := range p.Contexts {
		if _, ok := ctx[k]; !ok {
			ctx[k] = v
		}
	}
	ev["contexts"] = ctx
	ev["threads"] = map[string]any{"values": p.Threads}
	ev["exception"] = map[string]any{"values": []any{p.Exception}}
	ev["debug_meta"] = map[string]any{"images": p.Images}
	if _, ok := ev["fingerprint"]; !ok {
		ev["fingerprint"] = p.Fingerprint
	}
	setDefault(ev, "platform", "native")
	if len(p.Missing) > 0 {
		info["missing_symbols"] = p.Missing
	}
	if len(p.Notes) > 0 {
		info["notes"] = p.Notes
	}
	for k, v := range p.Extra {
		info[k] = v
	}
	setExtra(ev, info)
	return json.Marshal(ev)
}

func setDefault(ev map[string]any, k string, v any) {
	if _, ok := ev[k]; !ok {
		ev[k] = v
	}
}

func setExtra(ev map[string]any, info map[string]any) {
	extra, _ := ev["extra"].(map[string]any)
	if extra == nil {
		extra = map[string]any{}
	}
	extra["minidump"] = info
	ev["extra"] = extra
}

func writeFile(path string, b []byte) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	f.Write(b)
	f.Sync()
	f.Close()
}
