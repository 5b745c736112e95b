package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/ferry-hpc/ferry/proto"
)

// buildVersion is set at link time (-ldflags "-X main.buildVersion=v1.2.3");
// otherwise the module's version or the VCS revision stands in.
var buildVersion string

func version() string {
	v := buildVersion
	if bi, ok := debug.ReadBuildInfo(); ok && v == "" {
		v = bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
	}
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	return fmt.Sprintf("%s (protocol %d, %s)", v, proto.Version, runtime.Version())
}
