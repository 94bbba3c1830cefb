package main

import (
	"flag"
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
//
// When the whole package runs, the tinysink binary those subprocesses run
// is built (linked: ~3 s of CPU) while the in-process tests run, not after
// them; it is removed at the end.
func TestMain(m *testing.M) {
	testflag.ParallelForFsync(8)
	store.SetPasswordCostForTests(4)
	prebuild := !testing.Short() && flag.Lookup("test.run").Value.String() == ""
	if prebuild {
		go buildBinary()
	}
	code := m.Run()
	if prebuild || binDir != "" {
		buildBinary() // wait for the prebuild
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}
