package spool

import (
	"os"
	"testing"

	"github.com/tinysink/tinysink/budget/testflag"
)

// Most tests here wait for fsync and loopback HTTP, not the CPU: more of
// them run at once (the ones that measure memory or set package hooks stay
// serial, and run before the parallel ones).
func TestMain(m *testing.M) {
	if dir := os.Getenv(killChildEnv); dir != "" {
		killChild(dir) // TestKillWhileReusing's child: runs until killed
	}
	testflag.ParallelForFsync(8)
	os.Exit(m.Run())
}
