package itest

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/internal/testcluster"
)

// A storage directory serves one server: a second ferryd on it (the same
// server started twice, or another server whose config entry names the
// same directory under a host name the config check cannot match) is
// refused before it touches anything, and the running one keeps serving
// the bytes it holds.
func TestStorageInUse(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 1})
	c := cl.Mount(t, clientlib.Options{Provider: "none"})
	want := bytes.Repeat([]byte("mine"), 64<<10)
	f, err := c.Create(ctx, "/f", clientlib.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(want, 0); err != nil {
		t.Fatal(err)
	}
	ferryd := testcluster.Binary(t, "ferryd")
	storage := cl.Config.Servers[0].Storage

	out, err := exec.Command(ferryd, "--config", cl.ConfigPath, "--id", "0").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "storage "+storage+" is in use by ferryd server 0, pid") {
		t.Fatalf("second ferryd on server 0's storage: %v\n%s", err, out)
	}

	cfg := *cl.Config
	cfg.Servers = append(cfg.Servers[:1:1], cfg.Servers[0])
	_, port, _ := net.SplitHostPort(testcluster.FreePorts(t, 1)[0])
	cfg.Servers[1].ID = 1
	cfg.Servers[1].Address = net.JoinHostPort("localhost", port)
	cfg.Servers[1].Bind = ""
	cfg.Servers[1].Socket = filepath.Join(t.TempDir(), "s1.sock")
	cfg.Servers[1].FabricPorts = ""
	path := filepath.Join(t.TempDir(), "two.toml")
	b, err := cfg.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(ferryd, "--config", path, "--id", "1").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "is in use by ferryd server 0") {
		t.Fatalf("server 1 on server 0's storage: %v\n%s", err, out)
	}

	got := make([]byte, len(want))
	if n, err := f.ReadAt(got, 0); n != len(want) || err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read after the refused starts: %d, %v, equal %v", n, err, bytes.Equal(got, want))
	}
	if _, err := os.Stat(cfg.Servers[1].Socket); !os.IsNotExist(err) {
		t.Errorf("the refused server left its socket: %v", err)
	}

	// The first start made new storage and said so; a restart on the
	// storage it holds now does not.
	const fresh = "storage was missing or empty"
	cl.Stop(0)
	cl.StartServer(0)
	logs, err := os.ReadFile(cl.LogPath(0))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(logs), fresh); n != 1 {
		t.Errorf("%q logged %d times over a first start and a restart, want once:\n%s", fresh, n, logs)
	}
}
