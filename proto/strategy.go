package proto

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
)

// Strategies by which a server moves a data request's bytes, as configs,
// flags and IOReq.Strategy name them. This list is the vocabulary's one
// home: client, server and bench check names against it, and the server
// has exactly one implementation per name (a test in ioserver/data holds
// it to that).
const (
	StrategyAuto     = "auto"     // the server picks per request
	StrategyCopy     = "copy"     // one registered bounce buffer at a time
	StrategyPipeline = "pipeline" // K bounce buffers, disk reads overlap transfers
	StrategySendfile = "sendfile" // RMA straight from a registered mapping of the datafile
	StrategySockets  = "sockets"  // no fabric: bytes in the frames on the control connection
)

var strategyNames = []string{StrategyAuto, StrategyCopy, StrategyPipeline, StrategySendfile, StrategySockets}

// StrategyNames returns every valid strategy name, "auto" first.
func StrategyNames() []string { return slices.Clone(strategyNames) }

// CheckStrategy returns an error wrapping EINVAL, listing the valid names,
// when name is not a strategy. The empty name (the server's choice) is valid.
func CheckStrategy(name string) error {
	if name == "" || slices.Contains(strategyNames, name) {
		return nil
	}
	return fmt.Errorf("unknown strategy %q (valid: %s): %w", name, strings.Join(strategyNames, ", "), syscall.EINVAL)
}
