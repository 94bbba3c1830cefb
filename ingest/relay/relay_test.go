package relay

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The relay binary links none of the server's parts: no store (its
// database, b-trees, search), no digest but the raw-event rules ingest applies
// (digest/rawevent), no UI, alerts, user-agent parser or regexps.
// Every package it links is code every relay maps into its memory.
func TestRelayBinaryDeps(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH: dependency check skipped")
	}
	out, err := exec.Command(goBin, "list", "-deps", "../cmd/relay").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	const mod = "github.com/tinysink/tinysink/"
	for _, dep := range strings.Fields(string(out)) {
		for _, bad := range []string{mod + "store", mod + "digest", mod + "ui", mod + "alerts", "github.com/tidwall", "github.com/mssola", "html/template", "regexp"} {
			if dep == bad || strings.HasPrefix(dep, bad+"/") && !allowed(dep) {
				t.Errorf("the relay binary links %s", dep)
			}
		}
	}
}

// allowed are the leaf packages under store and digest a relay needs.
func allowed(dep string) bool {
	switch strings.TrimPrefix(dep, "github.com/tinysink/tinysink/") {
	case "store/disk", "store/attach", "digest/rawevent":
		return true
	}
	return false
}

// A Config survives its trip through the environment, and a field the
// relay binary does not know (a binary of another build) is an error.
func TestDecodeConfig(t *testing.T) {
	c := Config{Version: "v1", Addr: "127.0.0.1:0", Data: "/d", ForwardDSN: "http://k@h/1", MaxBacklog: 1 << 30,
		MinFreeFrac: 0.01, MaxConns: 256, AttachMaxAge: time.Hour, LogLevel: "info", LogFormat: "json"}
	raw, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeConfig(string(raw))
	if err != nil || got != c {
		t.Errorf("DecodeConfig = %+v, %v; want %+v", got, err, c)
	}
	if _, err := DecodeConfig(`{"addr":":1","new_setting":1}`); err == nil || !strings.Contains(err.Error(), Binary) {
		t.Errorf("unknown field: %v, want an error naming %s", err, Binary)
	}
}
