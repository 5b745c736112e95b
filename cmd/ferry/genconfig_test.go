package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-hpc/ferry/config"
)

func TestGenconfig(t *testing.T) {
	key := filepath.Join(t.TempDir(), "ferry.key")
	out := mustRun(t, "genconfig", "--servers", "127.0.0.1:7000,127.0.0.1:7001", "--storage", "/srv/ferry", "--strip-size", "65536", "--key-file", key)
	if _, err := config.ReadKey(key); err != nil {
		t.Fatalf("genconfig's key: %v", err)
	}
	p := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(p, []byte(out), 0o644)
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatalf("generated config does not load: %v\n%s", err, out)
	}
	if len(cfg.Servers) != 2 || cfg.StripSize != 65536 || cfg.Servers[1].Storage != "/srv/ferry/server1" || cfg.KeyFile != key {
		t.Fatalf("config %+v", cfg)
	}
	if code, _, errs := run(t, "genconfig", "--servers", "node[3-1]", "--storage", "/x", "--key-file", key); code == 0 || !strings.Contains(errs, "node[3-1]") {
		t.Fatalf("bad address accepted: %d %s", code, errs)
	}
	if code, _, _ := run(t, "genconfig"); code != 2 {
		t.Fatalf("missing flags: exit %d, want 2", code)
	}
	// Only what it must: no limits written as 0 (which reads as "none").
	if strings.Contains(out, "max_conns") {
		t.Fatalf("genconfig wrote a default connection limit:\n%s", out)
	}
	if code, _, errs := run(t, "genconfig", "--servers", "127.0.0.1:7000", "--storage", "/x", "--key-file", key, "--provider", "bogus"); code != 2 || !strings.Contains(errs, "bogus") {
		t.Fatalf("--provider bogus: %d %s; want a usage error", code, errs)
	}
	// An existing key that servers would refuse (others may read it).
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := run(t, "genconfig", "--servers", "127.0.0.1:7000", "--storage", "/x", "--key-file", key); code == 0 || !strings.Contains(errs, "servers would refuse it") {
		t.Fatalf("world-readable key: %d %s; want an error", code, errs)
	}
}

func TestGenconfigHostListAndClient(t *testing.T) {
	out := mustRun(t, "genconfig", "--servers", "node[01-04]", "--port", "7100", "--storage", "/srv/ferry",
		"--bind-all", "--fabric-ports", "7200-7207", "--provider", "tcp", "--key-file", filepath.Join(t.TempDir(), "ferry.key"))
	for _, frozen := range []string{"strip_size", "timeout", "pool_bytes", "chunk_size", "pipeline_depth"} {
		if strings.Contains(out, frozen) {
			t.Errorf("config freezes the default %s:\n%s", frozen, out)
		}
	}
	p := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(p, []byte(out), 0o644)
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(cfg.Servers) != 4 || cfg.Servers[3].Address != "node04:7100" || cfg.Servers[3].Bind != "0.0.0.0:7100" ||
		cfg.Servers[0].FabricPorts != "7200-7207" || cfg.Servers[0].Provider != "tcp" {
		t.Fatalf("config %+v", cfg.Servers)
	}
	out = mustRun(t, "genconfig", "--client", "--servers", "node[01-02]:7100", "--metadata-server", "1", "--provider", "tcp")
	if strings.Contains(out, "storage") {
		t.Fatalf("client file has server settings:\n%s", out)
	}
	os.WriteFile(p, []byte(out), 0o644)
	cl, err := config.LoadClient(p)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if strings.Join(cl.Servers, ",") != "node02:7100,node01:7100" || cl.Provider != "tcp" {
		t.Fatalf("client %+v", cl)
	}
}
