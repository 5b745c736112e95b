package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ferry-hpc/ferry/internal/testcluster"
)

func TestParseModeAndOwner(t *testing.T) {
	for s, ok := range map[string]bool{"640": true, "0640": true, "1777": true, "7777": true, "10000": false, "9": false, "u+x": false, "": false} {
		if _, err := parseMode(s); (err == nil) != ok {
			t.Errorf("parseMode(%q): %v", s, err)
		}
	}
	for s, want := range map[string][2]int{"0": {0, -1}, "12:34": {12, 34}, ":5": {-1, 5}, "root:0": {0, 0}} {
		u, g, err := parseOwner(s)
		if err != nil || u != want[0] || g != want[1] {
			t.Errorf("parseOwner(%q) = %d, %d, %v; want %v", s, u, g, err, want)
		}
	}
	for _, s := range []string{"", ":", "no-such-user-here", "0:no-such-group-here"} {
		if _, _, err := parseOwner(s); err == nil {
			t.Errorf("parseOwner(%q) accepted", s)
		}
	}
}

// The CLI sets modes and owners, stat shows them, and the servers hold an
// unprivileged user (the ferry binary run as nobody) to them.
func TestPermissionsByCLI(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a client as another user")
	}
	cl := startCluster(t, 2)
	cfg := cl.ConfigPath
	local := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(local, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "mkdir", "--config", cfg, "-m", "700", "/private")
	mustRun(t, "mkdir", "--config", cfg, "-m", "1777", "/tmp")
	mustRun(t, "cp", "--config", cfg, local, "ferry:/secret")
	mustRun(t, "cp", "--config", cfg, local, "ferry:/tmp/roots")
	mustRun(t, "chmod", "--config", cfg, "600", "/secret")
	mustRun(t, "chmod", "--config", cfg, "666", "/tmp/roots")
	for p, want := range map[string]string{"/private": "mode: 0700", "/tmp": "mode: 1777", "/secret": "mode: 0600", "/tmp/roots": "owner: root (0)"} {
		if out := mustRun(t, "stat", "--config", cfg, p); !strings.Contains(out, want) {
			t.Errorf("stat %s: want %q in\n%s", p, want, out)
		}
	}
	if code, _, _ := run(t, "chmod", "--config", cfg, "u+x", "/secret"); code != 2 {
		t.Errorf("chmod with a symbolic mode: exit %d, want 2", code)
	}

	// nobody needs a binary, a config and a local file it can reach.
	pub, err := os.MkdirTemp("", "ferry-perm-") // t.TempDir's parent is private
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(pub) })
	if err := os.Chmod(pub, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(pub, "ferry")
	b, err := os.ReadFile(testcluster.Binary(t, "ferry"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err = os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pubCfg := filepath.Join(pub, "ferry.toml")
	if err := os.WriteFile(pubCfg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pub, "data"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	nobody := func(args ...string) (string, bool) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = pub
		cmd.Env = append(os.Environ(), "FERRY_CONFIG="+pubCfg)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
		out, err := cmd.CombinedOutput()
		if _, exited := err.(*exec.ExitError); err != nil && !exited {
			t.Fatalf("run ferry as nobody: %v", err)
		}
		return string(out), err == nil
	}
	mine := filepath.Join(pub, "data")
	for _, tc := range []struct {
		args []string
		ok   bool
		says string // in the output when refused
	}{
		{[]string{"cat", "/secret"}, false, "permission denied"},
		{[]string{"cp", mine, "ferry:/private/x"}, false, "permission denied"},
		{[]string{"ls", "/private"}, false, "permission denied"},
		{[]string{"mkdir", "/private/d"}, false, "permission denied"},
		{[]string{"chmod", "666", "/secret"}, false, "not permitted"},
		{[]string{"rm", "/tmp/roots"}, false, "not permitted"},
		{[]string{"mv", "/tmp/roots", "/tmp/stolen"}, false, "not permitted"},
		{[]string{"cat", "/tmp/roots"}, true, ""},
		{[]string{"cp", mine, "ferry:/tmp/mine"}, true, ""},
		{[]string{"mv", "/tmp/mine", "/tmp/mine2"}, true, ""},
		{[]string{"chmod", "600", "/tmp/mine2"}, true, ""},
		{[]string{"chown", "0", "/tmp/mine2"}, false, "not permitted"},
		{[]string{"mv", "/tmp/mine2", "/tmp/roots"}, false, "not permitted"},
		{[]string{"rm", "/tmp/mine2"}, true, ""},
	} {
		out, ok := nobody(tc.args...)
		if ok != tc.ok || !ok && !strings.Contains(out, tc.says) {
			t.Errorf("as nobody, ferry %s: ok %v, want %v (%q)\n%s", strings.Join(tc.args, " "), ok, tc.ok, tc.says, out)
		}
	}
	if out := mustRun(t, "cat", "--config", cfg, "/tmp/roots"); out != "data" {
		t.Errorf("root's file in the sticky directory now holds %q", out)
	}

	// A source it may not read is refused before the destination is
	// touched: an existing local file keeps its bytes.
	kept := filepath.Join(pub, "kept")
	if err := os.WriteFile(kept, []byte("keep"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(kept, 0o666); err != nil {
		t.Fatal(err)
	}
	if out, ok := nobody("cp", "ferry:/secret", kept); ok || !strings.Contains(out, "permission denied") {
		t.Errorf("as nobody, cp of a file it may not read: %v %q", ok, out)
	}
	if b, err := os.ReadFile(kept); err != nil || string(b) != "keep" {
		t.Errorf("the destination of a refused cp holds %q (%v)", b, err)
	}

	// Given the file, nobody reads it; stat names the new owner.
	mustRun(t, "chown", "--config", cfg, "nobody", "/secret")
	if out := mustRun(t, "stat", "--config", cfg, "/secret"); !strings.Contains(out, "owner: nobody (65534)") {
		t.Errorf("stat after chown:\n%s", out)
	}
	if out, ok := nobody("cat", "/secret"); !ok || out != "data" {
		t.Errorf("owner reads its 0600 file: %v %q", ok, out)
	}
	if out, ok := nobody("chown", "0:0", "/secret"); ok || !strings.Contains(out, "not permitted") {
		t.Errorf("owner gives its file to root: %v %q", ok, out)
	}
}
