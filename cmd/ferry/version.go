package main

import "github.com/ferry-hpc/ferry/internal/buildinfo"

// version is what `ferry --version` prints after the name: the same
// version, commit and protocol as `ferryd --version` and ferry_version()
// (internal/buildinfo; the build stamps the commit with -ldflags -X).
func version() string { return buildinfo.String() }
