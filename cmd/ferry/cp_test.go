package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ferry-hpc/ferry/clientlib"
)

func TestCpRoundTrip(t *testing.T) {
	cl := startCluster(t, 4)
	cfg := cl.ConfigPath
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(1, 1))
	for _, size := range []int{0, 1, 4095, 3<<20 + 17} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		src := filepath.Join(dir, "src")
		os.WriteFile(src, data, 0o644)
		// Small chunks exercise the two-buffer pipeline.
		mustRun(t, "cp", "--config", cfg, "--chunk", "65536", src, "ferry:/x")
		mustRun(t, "cp", "--config", cfg, "ferry:/x", "ferry:/y") // within Ferry
		out := filepath.Join(dir, "out")
		mustRun(t, "cp", "--config", cfg, "ferry:/y", out)
		got, _ := os.ReadFile(out)
		if !bytes.Equal(got, data) {
			t.Fatalf("size %d: round trip differs (got %d bytes)", size, len(got))
		}
	}
	// Overwriting a longer file leaves no stale tail.
	small := filepath.Join(dir, "small")
	os.WriteFile(small, []byte("tiny"), 0o644)
	mustRun(t, "cp", "--config", cfg, small, "ferry:/x")
	if out := mustRun(t, "cat", "--config", cfg, "/x"); out != "tiny" {
		t.Fatalf("overwrite: %q", out)
	}
	// Into a directory: keeps the base name. Quiet off a terminal, unless --stats.
	mustRun(t, "mkdir", "--config", cfg, "/d")
	if out := mustRun(t, "cp", "--config", cfg, small, "ferry:/d"); out != "" {
		t.Fatalf("cp not quiet off a terminal: %q", out)
	}
	if out := mustRun(t, "cat", "--config", cfg, "/d/small"); out != "tiny" {
		t.Fatalf("cp into dir: %q", out)
	}
	if out := mustRun(t, "cp", "--config", cfg, "--stats", "ferry:/d/small", filepath.Join(dir, "o2")); !regexp.MustCompile(`^copied 4 B in [0-9.]+s: [0-9.]+ (B|KiB|MiB|GiB|TiB)/s\n$`).MatchString(out) {
		t.Fatalf("--stats printed %q", out)
	}
	if code, _, errs := run(t, "cp", "--config", cfg, small, filepath.Join(dir, "z")); code != 2 || !strings.Contains(errs, "Ferry path") {
		t.Fatalf("local-to-local: %d %q", code, errs)
	}
	if code, _, _ := run(t, "cp", "--config", cfg, "ferry:/missing", filepath.Join(dir, "z")); code != 1 {
		t.Fatal("cp of a missing file succeeded")
	}

	// A file copied onto itself, by any spelling, is refused and kept.
	for _, dst := range []string{"ferry:/x", "ferry:x", "ferry:/"} {
		if code, _, errs := run(t, "cp", "--config", cfg, "ferry:/x", dst); code != 1 || !strings.Contains(errs, "same file") {
			t.Fatalf("cp ferry:/x %s: %d %q; want a same-file refusal", dst, code, errs)
		}
	}
	if out := mustRun(t, "cat", "--config", cfg, "/x"); out != "tiny" {
		t.Fatalf("after copying onto itself: %q", out)
	}
	// A trailing slash asks for a directory: no file is made or replaced.
	if code, _, errs := run(t, "cp", "--config", cfg, small, "ferry:/results/"); code != 1 || !strings.Contains(errs, "not a directory") {
		t.Fatalf("cp to a missing directory: %d %q", code, errs)
	}
	if code, _, _ := run(t, "cat", "--config", cfg, "/results"); code != 1 {
		t.Fatal("cp to ferry:/results/ made a file /results")
	}
	if code, _, _ := run(t, "cp", "--config", cfg, small, "ferry:/y/"); code != 1 {
		t.Fatal("cp to ferry:/y/ (a file) succeeded")
	}
	if code, _, _ := run(t, "cp", "--config", cfg, "ferry:/x", filepath.Join(dir, "nodir")+"/"); code != 1 {
		t.Fatal("cp to a missing local directory succeeded")
	}
	// A local file whose size says less than it holds (/proc) is read to
	// its end.
	if _, err := os.Stat("/proc/self/status"); err == nil {
		mustRun(t, "cp", "--config", cfg, "/proc/self/status", "ferry:/status")
		if out := mustRun(t, "cat", "--config", cfg, "/status"); !strings.Contains(out, "Name:") {
			t.Fatalf("a /proc file copied in: %q", out)
		}
	}
}

// cp into Ferry fsyncs the copy on every server the file spans before it
// reports success; --no-fsync does not.
func TestCpFsyncs(t *testing.T) {
	cl := startCluster(t, 4)
	cfg := cl.ConfigPath
	src := filepath.Join(t.TempDir(), "src")
	os.WriteFile(src, bytes.Repeat([]byte("durable "), 64<<10), 0o644) // 512 KiB: strips on all 4
	c := cl.Mount(t, clientlib.Options{Provider: "none"})
	fsyncs := func() (n int64) {
		for id := range c.Servers() {
			st, err := c.ServerStats(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			n += st["op.fsync"]
		}
		return n
	}
	mustRun(t, "cp", "--config", cfg, "--no-fsync", src, "ferry:/nosync")
	if n := fsyncs(); n != 0 {
		t.Fatalf("cp --no-fsync: %d fsyncs on the servers, want 0", n)
	}
	mustRun(t, "cp", "--config", cfg, src, "ferry:/synced")
	if n := fsyncs(); n != 4 {
		t.Fatalf("cp: %d fsyncs on the servers, want 4 (one per server the file spans)", n)
	}
	out := filepath.Join(t.TempDir(), "out")
	mustRun(t, "cp", "--config", cfg, "ferry:/synced", out)
	if b, _ := os.ReadFile(out); !bytes.Equal(b, bytes.Repeat([]byte("durable "), 64<<10)) {
		t.Fatal("copy out differs")
	}
}
