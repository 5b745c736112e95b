// Package testenv decides what a test does when the machine lacks what
// the test is about, such as a libfabric provider.
//
// By default such a test skips with the reason, so `go test` works on a
// laptop without shm. With FERRY_TEST_REQUIRE_FABRIC=1 (scripts/test.sh,
// hence CI, sets it) the same test fails instead: on the project's own
// machines every provider-gated suite must run, and a skip there would
// leave a green result with no RDMA coverage.
package testenv

import (
	"fmt"
	"os"
	"testing"
)

// RequireFabricVar is the environment variable that turns skips into
// failures.
const RequireFabricVar = "FERRY_TEST_REQUIRE_FABRIC"

// FabricRequired reports whether RequireFabricVar is set to 1.
func FabricRequired() bool { return os.Getenv(RequireFabricVar) == "1" }

// SkipOrFail stops tb because the environment lacks something: it skips
// with the formatted reason, or fails when FabricRequired.
func SkipOrFail(tb testing.TB, format string, args ...any) {
	tb.Helper()
	reason := fmt.Sprintf(format, args...)
	if FabricRequired() {
		tb.Fatalf("%s (%s=1: this machine must provide it)", reason, RequireFabricVar)
	} else {
		tb.Skip(reason)
	}
}
