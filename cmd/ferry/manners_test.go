package main

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-hpc/ferry/internal/testcluster"
)

// "-" is standard input and output: bytes through pipes of the real
// binary come out identical.
func TestCpStdio(t *testing.T) {
	cl := startCluster(t, 3)
	bin := testcluster.Binary(t, "ferry")
	data := make([]byte, 5<<20+123)
	r := rand.New(rand.NewPCG(2, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	in := exec.Command(bin, "cp", "-", "ferry:/piped", "--config", cl.ConfigPath, "--chunk", "1M")
	in.Stdin = bytes.NewReader(data)
	if out, err := in.CombinedOutput(); err != nil {
		t.Fatalf("cp - ferry:/piped: %v\n%s", err, out)
	}
	out := exec.Command(bin, "cp", "ferry:/piped", "-", "--config", cl.ConfigPath, "--stats")
	var stdout, stderr bytes.Buffer
	out.Stdout, out.Stderr = &stdout, &stderr
	if err := out.Run(); err != nil {
		t.Fatalf("cp ferry:/piped -: %v\n%s", err, stderr.String())
	}
	if !bytes.Equal(stdout.Bytes(), data) {
		t.Fatalf("round trip through pipes: %d bytes back, want %d, equal %v", stdout.Len(), len(data), bytes.Equal(stdout.Bytes(), data))
	}
	if !strings.HasPrefix(stderr.String(), "copied 5.0 MiB") {
		t.Fatalf("--stats to stdout goes to stderr: %q", stderr.String())
	}
	// No local file named "-" appeared.
	if _, err := os.Stat("-"); err == nil {
		t.Fatal("a file named - was created")
	}
}

// cp -r copies a tree in and out; diff -r finds no difference. cp -p
// keeps modes and times; without -p the mode still follows the source.
func TestCpRecursivePreserve(t *testing.T) {
	cl := startCluster(t, 3)
	cfg := cl.ConfigPath
	src := filepath.Join(t.TempDir(), "tree")
	for _, d := range []string{"a/b/c", "empty", "d"} {
		os.MkdirAll(filepath.Join(src, d), 0o755)
	}
	files := map[string]os.FileMode{"top": 0o640, "a/x": 0o600, "a/b/y": 0o755, "a/b/c/z": 0o444, "d/big": 0o644}
	for name, mode := range files {
		size := 100
		if name == "d/big" {
			size = 300000
		}
		b := bytes.Repeat([]byte(name), size)
		p := filepath.Join(src, name)
		os.WriteFile(p, b, 0o600)
		os.Chmod(p, mode)
	}
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	os.Chtimes(filepath.Join(src, "a/x"), old, old)
	os.Chmod(filepath.Join(src, "d"), 0o750)

	if code, _, errs := run(t, "cp", src, "ferry:/t", "--config", cfg); code != 1 || !strings.Contains(errs, "use -r") {
		t.Fatalf("cp of a directory without -r: %d %q", code, errs)
	}
	mustRun(t, "cp", "-r", "-p", src, "ferry:/t", "--config", cfg)
	if code, _, errs := run(t, "cp", "-r", "ferry:/t", "ferry:/t/a", "--config", cfg); code != 1 || !strings.Contains(errs, "into itself") {
		t.Fatalf("cp -r of a tree into itself: %d %q", code, errs)
	}
	mustRun(t, "mkdir", "out", "--config", cfg) // relative: /out
	mustRun(t, "cp", "-rp", "ferry:/t", "ferry:out", "--config", cfg)
	dst := filepath.Join(t.TempDir(), "back")
	mustRun(t, "cp", "-r", "--preserve", "ferry:/out/t", dst, "--config", cfg)
	if out, err := exec.Command("diff", "-r", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("diff -r: %v\n%s", err, out)
	}
	for name, mode := range files {
		fi, err := os.Stat(filepath.Join(dst, name))
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v mode %v, want %v", name, err, fi.Mode().Perm(), mode)
		}
	}
	if fi, _ := os.Stat(filepath.Join(dst, "a/x")); !fi.ModTime().Equal(old) {
		t.Errorf("a/x mtime %v, want %v", fi.ModTime(), old)
	}
	if fi, _ := os.Stat(filepath.Join(dst, "d")); fi.Mode().Perm() != 0o750 {
		t.Errorf("directory d mode %v", fi.Mode().Perm())
	}
	// Without -p: the source's mode, not 0644; the time is the copy's.
	mustRun(t, "cp", filepath.Join(src, "a/x"), "ferry:/x", "--config", cfg)
	out := mustRun(t, "ls", "-l", "x", "--config", cfg)
	if !strings.HasPrefix(out, "-rw------- ") || strings.Contains(out, "2020-") {
		t.Fatalf("ls -l x after cp without -p: %q", out)
	}
}

// ls -l: owner and group, size right-aligned, names left-aligned; -h in
// IEC units; ls -l FILE gives the file's long line.
func TestLsLong(t *testing.T) {
	cl := startCluster(t, 2)
	cfg := cl.ConfigPath
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "s"), []byte("abc"), 0o644)
	os.WriteFile(filepath.Join(dir, "b"), make([]byte, 3<<20), 0o644)
	mustRun(t, "mkdir", "/d", "--config", cfg)
	mustRun(t, "cp", filepath.Join(dir, "s"), "ferry:/d/short", "--config", cfg)
	mustRun(t, "cp", filepath.Join(dir, "b"), "ferry:/d/a-much-longer-name", "--config", cfg)
	me, _ := user.Current()
	out := mustRun(t, "ls", "-l", "d", "--config", cfg)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	re := regexp.MustCompile(`^-rw-r--r-- (\S+) +(\S+) +(\d+) \d{4}-\d\d-\d\d \d\d:\d\d (\S+)$`)
	if len(lines) != 2 {
		t.Fatalf("ls -l d:\n%s", out)
	}
	for _, l := range lines {
		m := re.FindStringSubmatch(l)
		if m == nil || m[1] != me.Username {
			t.Fatalf("ls -l line %q (want owner %s)", l, me.Username)
		}
	}
	// Names start in one column; sizes end in one column.
	if strings.Index(lines[0], "a-much") != strings.Index(lines[1], "short") {
		t.Errorf("names not aligned:\n%s", out)
	}
	if out := mustRun(t, "ls", "-lh", "/d", "--config", cfg); !strings.Contains(out, " 3 MiB ") || !strings.Contains(out, " 3 B ") {
		t.Errorf("ls -lh:\n%s", out)
	}
	out = mustRun(t, "ls", "-l", "ferry:/d/short", "--config", cfg)
	if m := re.FindStringSubmatch(strings.TrimSpace(out)); m == nil || m[3] != "3" || m[4] != "/d/short" {
		t.Errorf("ls -l FILE: %q", out)
	}
	if code, out, _ := run(t, "ls", "--help"); code != 0 || !strings.Contains(out, "human-readable") {
		t.Errorf("ls --help: %d %q", code, out)
	}
}

// cp -r of a local tree holding what Ferry cannot hold (a symbolic link
// to a parent, a dangling one, a FIFO) reports each, copies everything
// else, and exits 1.
func TestCpTreeSkips(t *testing.T) {
	cl := startCluster(t, 2)
	cfg := cl.ConfigPath
	src := filepath.Join(t.TempDir(), "tree")
	for _, d := range []string{"s", "z"} {
		if err := os.MkdirAll(filepath.Join(src, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"a", "s/b", "z/c"} {
		if err := os.WriteFile(filepath.Join(src, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, to := range map[string]string{"s/up": "..", "dangling": "nowhere"} {
		if err := os.Symlink(to, filepath.Join(src, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(src, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := run(t, "cp", "-r", src, "ferry:/t", "--config", cfg)
	if code != 1 || strings.Count(errs, "ferry cp:") != 4 || !strings.Contains(errs, "3 entries") {
		t.Fatalf("cp -r of a tree with links and a FIFO: exit %d\n%s", code, errs)
	}
	for _, f := range []string{"a", "s/b", "z/c"} {
		if got := mustRun(t, "cat", "--config", cfg, "/t/"+f); got != f {
			t.Errorf("/t/%s holds %q", f, got)
		}
	}
	if out := mustRun(t, "ls", "--config", cfg, "/t/s"); out != "b\n" {
		t.Errorf("/t/s holds %q, want only b", out)
	}
}

// --strip-size and --count lay out new files: a destination that exists
// with another layout is refused and keeps its bytes; with its own
// layout, it is copied over.
func TestCpLayoutOfExisting(t *testing.T) {
	cl := startCluster(t, 2)
	cfg := cl.ConfigPath
	src := filepath.Join(t.TempDir(), "src")
	if err := os.WriteFile(src, []byte("new bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(t.TempDir(), "old")
	if err := os.WriteFile(old, []byte("old bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "cp", "--strip-size", "4K", "--count", "2", old, "ferry:/g", "--config", cfg)
	for _, args := range [][]string{{"--strip-size", "1M"}, {"--count", "1"}} {
		code, _, errs := run(t, append(append([]string{"cp"}, args...), src, "ferry:/g", "--config", cfg)...)
		if code != 1 || !strings.Contains(errs, "exists with 4096-byte strips over 2 servers") {
			t.Errorf("cp %v onto a file laid out otherwise: exit %d %q", args, code, errs)
		}
	}
	if got := mustRun(t, "cat", "/g", "--config", cfg); got != "old bytes" {
		t.Fatalf("after the refused copies /g holds %q", got)
	}
	mustRun(t, "cp", "--strip-size", "4K", src, "ferry:/g", "--config", cfg)
	if got := mustRun(t, "cat", "/g", "--config", cfg); got != "new bytes" {
		t.Fatalf("after a copy with its own layout /g holds %q", got)
	}
}
