package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/ferry-hpc/ferry/internal/testenv"
)

func TestPing(t *testing.T) {
	cl := startCluster(t, 3)
	out := mustRun(t, "ping", "--config", cl.ConfigPath)
	if len(regexp.MustCompile(`(?m)^\d+\s+127\.0\.0\.1:\d+\s`).FindAllString(out, -1)) != 3 || !strings.Contains(out, "data+metadata") || !strings.Contains(out, "client fabric:") {
		t.Fatalf("ping output:\n%s", out)
	}
	// Provider auto reaches servers on this host by shm, where it opens,
	// and moves requests from shm's eager threshold on by RMA.
	rdma, first := strings.Count(out, " rdma:shm ") == 3 && strings.Contains(out, " rma_from=1MiB"), out
	// The client is on the servers' host: it reads their datafiles.
	if strings.Count(out, " local ") != 3 {
		t.Errorf("ping: reads not local:\n%s", out)
	}
	if out := mustRun(t, "ping", "--config", cl.ConfigPath, "--strategy", "pipeline"); strings.Count(out, "by request (strategy pipeline)") != 3 {
		t.Errorf("ping --strategy pipeline: reads not by request:\n%s", out)
	}
	// Without a fabric, the data path says sockets and why.
	out = mustRun(t, "ping", "--config", cl.ConfigPath, "--provider", "none")
	if !strings.Contains(out, "sockets (provider none)") {
		t.Fatalf("ping --provider none:\n%s", out)
	}
	if code, _, errs := run(t, "ping", "--config", cl.ConfigPath, "--provider", "warp"); code != 1 || !strings.Contains(errs, "valid:") {
		t.Fatalf("unknown provider: %d %s", code, errs)
	}
	cl.Kill(2)
	code, out, errs := run(t, "ping", "--config", cl.ConfigPath)
	if code != 1 || !strings.Contains(out, "DOWN") || !strings.Contains(errs, "1 of 3") {
		t.Fatalf("ping with a dead server: %d\n%s%s", code, out, errs)
	}
	if !rdma {
		testenv.SkipOrFail(t, "no RDMA data path by default (shm not available?):\n%s", first)
	}
}
