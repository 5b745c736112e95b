package buildinfo

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

func root() string {
	_, f, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(f), "..", "..")
}

// The three places that state the release must agree.
func TestDefaultVersionMatchesHeaderAndCMake(t *testing.T) {
	h, err := os.ReadFile(filepath.Join(root(), "capi", "include", "ferry.h"))
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`#define FERRY_VERSION "([^"]+)"`).FindSubmatch(h); m == nil || string(m[1]) != DefaultVersion {
		t.Errorf("ferry.h FERRY_VERSION %q, buildinfo %q", m, DefaultVersion)
	}
	c, err := os.ReadFile(filepath.Join(root(), "CMakeLists.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`project\(ferry VERSION ([0-9.]+)`).FindSubmatch(c); m == nil || string(m[1]) != DefaultVersion {
		t.Errorf("CMakeLists.txt project VERSION %q, buildinfo %q", m, DefaultVersion)
	}
}

func TestFull(t *testing.T) {
	if f := Full(); !strings.HasPrefix(f, Version()) {
		t.Fatalf("Full %q does not start with Version %q", f, Version())
	}
	if !strings.Contains(String(), "protocol") {
		t.Fatalf("String %q names no protocol version", String())
	}
}
