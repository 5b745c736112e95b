// Package version names the build of Ferry's programs, so a client and
// the servers it reports on can be told apart.
package version

import (
	"runtime/debug"
)

// Build is set at link time:
//
//	go build -ldflags "-X github.com/ferry-hpc/ferry/internal/version.Build=v1.2.3"
//
// Without it, the module version or the VCS revision stands in.
var Build string

// String is the build's version: "v1.2.3", "devel abcdef012345", or "devel".
func String() string {
	if Build != "" {
		return Build
	}
	v := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				if v == "" {
					v = "devel"
				}
				v += " " + s.Value[:12]
			}
		}
	}
	if v == "" {
		v = "devel"
	}
	return v
}
