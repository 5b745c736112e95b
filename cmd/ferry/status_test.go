package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-hpc/ferry/internal/testcluster"
)

type statusJSON struct {
	Servers []serverStatus `json:"servers"`
	Up      int            `json:"up"`
	Down    int            `json:"down"`
}

func TestStatusAndDf(t *testing.T) {
	cl := startCluster(t, 3)
	cfg := cl.ConfigPath
	var st statusJSON
	if err := json.Unmarshal([]byte(mustRun(t, "status", "--json", "--config", cfg)), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Servers) != 3 || st.Up != 3 || st.Down != 0 {
		t.Fatalf("status: %+v", st)
	}
	for i, s := range st.Servers {
		want := cl.Config.Servers[i].Address
		role := "data"
		if i == cl.Config.MetadataServer {
			role = "data+metadata"
		}
		if s.ID != i || s.Address != want || s.Role != role || !s.Up || s.Version == "" || s.SizeBytes == 0 ||
			s.AvailBytes > s.SizeBytes || s.Connections < 1 || s.RequestsInFlight < 1 || s.PID != int64(cl.Pids()[i]) {
			t.Errorf("server %d: %+v (want address %s, pid %d)", i, s, want, cl.Pids()[i])
		}
	}
	out := mustRun(t, "status", "--config", cfg)
	if strings.Count(out, "  up  ") != 3 {
		t.Fatalf("status:\n%s", out)
	}

	// df: a line per server and a total that is their sum.
	var rows []dfRow
	if err := json.Unmarshal([]byte(mustRun(t, "df", "--json", "--config", cfg)), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || rows[3].Server != "total" {
		t.Fatalf("df rows: %+v", rows)
	}
	var sum uint64
	for _, r := range rows[:3] {
		sum += r.Size
	}
	if sum != rows[3].Size || sum == 0 {
		t.Fatalf("df total %d, servers sum to %d", rows[3].Size, sum)
	}
	out = mustRun(t, "df", "--config", cfg)
	if !regexp.MustCompile(`(?m)^ *total .*[KMGT]iB .*%`).MatchString(out) || strings.Count(out, "127.0.0.1:") != 3 {
		t.Fatalf("df:\n%s", out)
	}

	// A server down: status says which, through the real binary, and exits 1.
	bin := testcluster.Binary(t, "ferry")
	cl.Kill(2)
	cmd := exec.Command(bin, "status", "--json", "--config", cfg)
	b, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("status with a server down: %v\n%s", err, b)
	}
	st = statusJSON{}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if st.Up != 2 || st.Down != 1 || st.Servers[2].Up || st.Servers[2].Error == "" || !st.Servers[0].Up {
		t.Fatalf("status with server 2 down: %+v", st)
	}
	out2, err := exec.Command(bin, "status", "--config", cfg).CombinedOutput()
	if err == nil || !strings.Contains(string(out2), "DOWN") || !strings.Contains(string(out2), "1 of 3 servers down") {
		t.Fatalf("status text with a server down: %v\n%s", err, out2)
	}
	if code, _, errs := run(t, "df", "--config", cfg); code != 1 || !strings.Contains(errs, "1 of 3") {
		t.Fatalf("df with a server down: %d %s", code, errs)
	}
	// The metadata server down too: the one left still reports.
	cl.Kill(cl.Config.MetadataServer)
	code, out, _ := run(t, "status", "--json", "--config", cfg)
	st = statusJSON{}
	if err := json.Unmarshal([]byte(out), &st); code != 1 || err != nil || st.Up != 1 || !st.Servers[1].Up {
		t.Fatalf("status with servers 0 and 2 down: %d %v %s", code, err, out)
	}
}

// stat FILE names the servers that hold the file's strips and the bytes
// each holds.
func TestStatServers(t *testing.T) {
	cl := startCluster(t, 4)
	cfg := cl.ConfigPath
	src := filepath.Join(t.TempDir(), "f")
	os.WriteFile(src, make([]byte, 3*65536+100), 0o644)
	mustRun(t, "cp", "--config", cfg, "--strip-size", "64K", "--count", "2", src, "ferry:/f")
	out := mustRun(t, "stat", "ferry:/f", "--config", cfg)
	// Strips 0 and 2 on the first server, 1 and 3 (100 bytes) on the second.
	m := regexp.MustCompile(`(?m)^\s+(\d+)\s+(127\.0\.0\.1:\d+)\s+(\d+) \(`).FindAllStringSubmatch(out, -1)
	if len(m) != 2 || m[0][3] != "131072" || m[1][3] != "65636" {
		t.Fatalf("stat strips:\n%s", out)
	}
}

// status --timeout bounds the wait for a stopped server, its hello
// included (which waited the config's timeout before).
func TestStatusTimeout(t *testing.T) {
	cl := startCluster(t, 2)
	stopped := 1 - cl.Config.MetadataServer
	cl.Signal(stopped, syscall.SIGSTOP)
	defer cl.Signal(stopped, syscall.SIGCONT)
	start := time.Now()
	code, out, _ := run(t, "status", "--json", "--timeout", "1s", "--config", cl.ConfigPath)
	took := time.Since(start)
	var st statusJSON
	if err := json.Unmarshal([]byte(out), &st); code != 1 || err != nil || st.Up != 1 || st.Servers[stopped].Up {
		t.Fatalf("status with server %d stopped: %d %v %s", stopped, code, err, out)
	}
	// Not a speed figure: the bound the flag promises, against the
	// config's 10 s that the hello waited before.
	if took >= cl.Config.Timeout.Duration {
		t.Fatalf("status --timeout 1s took %v, the config's whole timeout", took)
	}
	// A bound of nothing is a usage error, not every server down.
	for _, d := range []string{"0", "-1s"} {
		if code, _, errs := run(t, "status", "--timeout", d, "--config", cl.ConfigPath); code != 2 || !strings.Contains(errs, "positive") {
			t.Errorf("status --timeout %s: exit %d %q, want 2", d, code, errs)
		}
	}
}
