package testenv

import (
	"testing"
)

// recorder is a testing.TB that records how a test ended instead of
// ending the real one.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper() {}
func (r *recorder) Skip(args ...any) {
	r.skipped = true
	r.msg = args[0].(string)
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = true
	r.msg = format
}

func TestSkipOrFail(t *testing.T) {
	t.Setenv(RequireFabricVar, "")
	r := &recorder{TB: t}
	SkipOrFail(r, "provider %s: %v", "shm", "not here")
	if !r.skipped || r.failed || r.msg != "provider shm: not here" {
		t.Fatalf("unset: skipped %v failed %v %q", r.skipped, r.failed, r.msg)
	}
	t.Setenv(RequireFabricVar, "1")
	r = &recorder{TB: t}
	SkipOrFail(r, "provider %s", "shm")
	if r.skipped || !r.failed {
		t.Fatalf("set: skipped %v failed %v", r.skipped, r.failed)
	}
	t.Setenv(RequireFabricVar, "0")
	if FabricRequired() {
		t.Fatal("0 requires the fabric")
	}
}
