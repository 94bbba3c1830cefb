package store

import (
	"os"
	"testing"

	"github.com/tinysink/tinysink/budget/testflag"
)

// Passwords are hashed at bcrypt's lowest cost in these tests: what they
// check is not the cost, and at the real one each login takes ~60 ms.
func TestMain(m *testing.M) {
	testflag.ParallelForFsync(8)
	SetPasswordCostForTests(4)
	os.Exit(m.Run())
}
