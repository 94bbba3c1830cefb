package main

import (
	"os"
	"testing"

	"github.com/tinysink/tinysink/budget/testflag"
	"github.com/tinysink/tinysink/store"
)

// Passwords are hashed at bcrypt's lowest cost in the servers these tests
// run in-process: what they check is not the cost, and at the real one each
// admin created or login takes ~60 ms. (Subprocesses keep the real cost.)
//
// The parallel tests here each run a subprocess of their own and mostly
// wait for it (TestStartOnFullDisk, the crash tests, TestBudgetOldScenario):
// all of them at once, not two at a time.
func TestMain(m *testing.M) {
	testflag.ParallelForFsync(8)
	store.SetPasswordCostForTests(4)
	os.Exit(m.Run())
}
