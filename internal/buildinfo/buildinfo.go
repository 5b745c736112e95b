// Package buildinfo is the one place that knows which Ferry this is: the
// release version and the commit it was built from. ferry, ferryd and
// libferry (ferry_version) all report String, so a site can tell at a
// glance whether its servers, tools and library came from one build.
package buildinfo

import (
	"fmt"
	"runtime/debug"
	"sync"

	"github.com/ferry-hpc/ferry/proto"
)

// The build may set these with
// -ldflags "-X github.com/ferry-hpc/ferry/internal/buildinfo.version=V -X ...commit=C"
// (CMake does, from project(VERSION) and git). Left unset, version is
// DefaultVersion and commit comes from the VCS stamp go build embeds.
var (
	version string
	commit  string
)

// DefaultVersion is the release this source tree is; it equals
// FERRY_VERSION in capi/include/ferry.h and project(VERSION) in
// CMakeLists.txt (a test checks both).
const DefaultVersion = "0.1.0"

// Version is the release version ("0.1.0").
func Version() string {
	if version != "" {
		return version
	}
	return DefaultVersion
}

// Commit is the commit the binary was built from, with "-dirty" when the
// tree had changes, or "" when unknown (go test binaries, say).
var Commit = sync.OnceValue(func() string {
	if commit != "" {
		return commit
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev string
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" && dirty {
		rev += "-dirty"
	}
	return rev
})

// Full is the version with the commit as semver build metadata
// ("0.1.0+1a2b3c4d5e6f"), or the bare version when the commit is unknown.
// The part before '+' is always Version.
func Full() string {
	if c := Commit(); c != "" {
		return Version() + "+" + c
	}
	return Version()
}

// String is what --version prints after the program's name.
func String() string {
	return fmt.Sprintf("%s (protocol %d)", Full(), proto.Version)
}
