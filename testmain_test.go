package main

import (
	"os"
	"testing"

	"github.com/tinysink/tinysink/store"
)

// Passwords are hashed at bcrypt's lowest cost in the servers these tests
// run in-process: what they check is not the cost, and at the real one each
// admin created or login takes ~60 ms. (Subprocesses keep the real cost.)
func TestMain(m *testing.M) {
	store.SetPasswordCostForTests(4)
	os.Exit(m.Run())
}
