package itest

import (
	"os"
	"testing"

	"github.com/ferry-hpc/ferry/internal/testcluster"
)

// TestMain runs the test binary as a client process when the tests ask
// for one (see clientproc_test.go), and as the tests otherwise.
func TestMain(m *testing.M) {
	if mode := os.Getenv(clientModeEnv); mode != "" {
		os.Exit(clientMain(mode))
	}
	if mode := os.Getenv("FERRY_ITEST_CHILD"); mode != "" {
		os.Exit(securityChild(mode))
	}
	os.Exit(testcluster.Main(m))
}
