package main

import (
	"strings"
	"testing"
)

func TestPing(t *testing.T) {
	cl := startCluster(t, 3)
	out := mustRun(t, "ping", "--config", cl.ConfigPath)
	if strings.Count(out, "127.0.0.1:") != 3 || !strings.Contains(out, "data+metadata") || !strings.Contains(out, "sockets") {
		t.Fatalf("ping output:\n%s", out)
	}
	cl.Kill(2)
	code, out, errs := run(t, "ping", "--config", cl.ConfigPath)
	if code != 1 || !strings.Contains(out, "DOWN") || !strings.Contains(errs, "1 of 3") {
		t.Fatalf("ping with a dead server: %d\n%s%s", code, out, errs)
	}
}
