package alerts

import (
	"os"
	"testing"

	"github.com/tinysink/tinysink/budget/testflag"
	"github.com/tinysink/tinysink/store"
)

// Passwords are hashed at bcrypt's lowest cost in these tests: what they
// check is not the cost, and at the real one each login takes ~60 ms.
func TestMain(m *testing.M) {
	testflag.ParallelForFsync(8)
	store.SetPasswordCostForTests(4)
	os.Exit(m.Run())
}
