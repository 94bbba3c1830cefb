package ui

import (
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/tinysink/tinysink/store"
)

// The same event_id stored in two projects is never answered with the
// wrong one: ?project= picks it, and without it the lookup is refused.
func TestEventLookupNeedsProjectWhenAmbiguous(t *testing.T) {
	t.Parallel()
	srv, db, tok := apiServer(t)
	p2, err := db.CreateProject("shop")
	if err != nil {
		t.Fatal(err)
	}
	var dup, only [16]byte
	dup[0] = 1 // apiServer's first event in project 1
	only[0] = 0xee
	for _, id := range [][16]byte{dup, only} {
		err := db.Digest(func(tx *store.Tx) error {
			p, _ := tx.Project(p2.ID)
			iss := &store.Issue{CalculatedType: "Error", CalculatedValue: "shop", FirstSeen: time.Now()}
			if err := tx.CreateIssue(p, iss, "shop"+hex.EncodeToString(id[:]), "shop", "test"); err != nil {
				return err
			}
			iss.DigestedEventCount++
			return tx.AddEvent(p, iss, &store.NewEvent{EventID: id, Body: []byte(`{"message":"from shop"}`)})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	dupID, onlyID := hex.EncodeToString(dup[:]), hex.EncodeToString(only[:])

	for _, path := range []string{"/api/canonical/0/events/" + dupID + "/", "/api/canonical/0/events/" + dupID + "/stacktrace/"} {
		code, body := call(t, srv, tok, "GET", path, "")
		if code != 400 || !strings.Contains(body["detail"].(string), "?project=") {
			t.Errorf("GET %s in two projects without ?project = %d %v, want 400 naming the parameter", path, code, body)
		}
	}
	for _, tt := range []struct {
		project string
		want    float64
	}{{"1", 1}, {"2", 2}} {
		code, body := call(t, srv, tok, "GET", "/api/canonical/0/events/"+dupID+"/?project="+tt.project, "")
		if code != 200 || body["project"] != tt.want {
			t.Errorf("?project=%s: %d project %v", tt.project, code, body["project"])
		}
	}
	if code, body := call(t, srv, tok, "GET", "/api/canonical/0/events/"+onlyID+"/", ""); code != 200 || body["project"] != float64(2) {
		t.Errorf("an event_id in one project, without ?project = %d %v", code, body["project"])
	}
	if code, _ := call(t, srv, tok, "GET", "/api/canonical/0/events/"+onlyID+"/?project=1", ""); code != 404 {
		t.Errorf("an event_id asked of the wrong project = %d, want 404", code)
	}
}
