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
	if code, _, errs := run(t, "genconfig", "--servers", "nope", "--storage", "/x", "--key-file", key); code == 0 || !strings.Contains(errs, "nope") {
		t.Fatalf("bad address accepted: %d %s", code, errs)
	}
	if code, _, _ := run(t, "genconfig"); code != 2 {
		t.Fatalf("missing flags: exit %d, want 2", code)
	}
}
