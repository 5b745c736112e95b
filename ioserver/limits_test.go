package ioserver

import (
	"testing"

	"github.com/ferry-hpc/ferry/config"
)

// The connection cap leaves 256 descriptors for datafiles, the store and
// the fabrics and counts the rest by what a connection holds: two on a
// server with a Unix socket (the connection and its reply socket), one on
// a server without.
func TestConnLimitsCountDescriptors(t *testing.T) {
	for _, c := range []struct {
		nofile      uint64
		descPerConn int
		want        int
	}{
		{0, 2, config.DefaultMaxConns}, // limit unknown: the configured cap
		{4352, 2, 2048},
		{4352, 1, 4096},
		{1 << 20, 2, config.DefaultMaxConns},
		{280, 2, 16}, // never below 16
	} {
		l := connLimits(&config.Config{}, c.nofile, c.descPerConn)
		if l.maxConns != c.want {
			t.Errorf("RLIMIT_NOFILE %d, %d per connection: cap %d, want %d", c.nofile, c.descPerConn, l.maxConns, c.want)
		}
		if l.perHost > l.maxConns {
			t.Errorf("RLIMIT_NOFILE %d: per-host cap %d above the cap %d", c.nofile, l.perHost, l.maxConns)
		}
	}
	if l := connLimits(&config.Config{MaxConns: 100}, 4352, 2); l.maxConns != 100 {
		t.Errorf("configured cap 100 under a larger limit: %d", l.maxConns)
	}
}
