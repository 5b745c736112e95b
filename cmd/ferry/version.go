package main

import (
	"fmt"
	"runtime"

	"github.com/ferry-hpc/ferry/internal/version"
	"github.com/ferry-hpc/ferry/proto"
)

func versionLine() string {
	return fmt.Sprintf("%s (protocol %d, %s)", version.String(), proto.Version, runtime.Version())
}
