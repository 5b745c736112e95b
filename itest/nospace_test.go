package itest

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/internal/testcluster"
)

// TestWriteNoSpace: a server whose storage fills up answers the writes it
// cannot hold with ENOSPC, by either RDMA path that writes the page cache
// (pipeline's pwrite, or sendfile's copy into a mapping of the datafile,
// whose holes it allocates first: a full file system would otherwise
// fault in the copy, SIGBUS inside the server on tcp), keeps serving, and
// loses nothing it held before.
func TestWriteNoSpace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	for _, tc := range []struct {
		name, provider, strategy string
		autoSendfile             bool
	}{
		{"shm/auto_sendfile=false", "shm", "auto", false},
		{"shm/auto_sendfile=true", "shm", "auto", true},
		{"tcp/sendfile", "tcp;ofi_rxm", "sendfile", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			needProvider(t, tc.provider)
			sendfile := tc.autoSendfile || tc.strategy == "sendfile"
			small := t.TempDir()
			if err := unix.Mount("tmpfs", small, "tmpfs", 0, "size=16m"); err != nil {
				t.Skipf("mount tmpfs: %v", err)
			}
			// Registered first, so it runs after the cluster has stopped.
			t.Cleanup(func() {
				if err := unix.Unmount(small, 0); err != nil {
					t.Errorf("unmount %s: %v", small, err)
				}
			})
			cl := testcluster.Start(t, testcluster.Options{Servers: 2, StripSize: 1 << 20, Edit: func(c *config.Config) {
				c.Servers[1].Storage = filepath.Join(small, "server1")
				c.Servers[1].AutoSendfile = &tc.autoSendfile
			}})
			c := cl.Mount(t, clientlib.Options{Provider: tc.provider, Strategy: tc.strategy})
			keep := bytes.Repeat([]byte("kept"), 1<<20) // 4 MiB, half on the small server
			f, err := c.Create(ctx, "/kept", clientlib.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(keep, 0); err != nil {
				t.Fatal(err)
			}
			big := bytes.Repeat([]byte("full"), 12<<20) // 48 MiB: 24 for a 16 MiB file system
			g, err := c.Create(ctx, "/big", clientlib.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// 8 MiB at a time, one request per server: each extends its
			// datafile, so with sendfile every one goes into a mapping,
			// the one that meets the full file system too.
			for off := 0; off < len(big) && err == nil; off += 8 << 20 {
				_, err = g.WriteAt(big[off:off+8<<20], int64(off))
			}
			var ce *clientlib.Error
			if !errors.Is(err, syscall.ENOSPC) || !errors.As(err, &ce) || ce.Server != 1 {
				t.Fatalf("writing past the small server's space: %v, want ENOSPC from server 1", err)
			}
			st, err := c.ServerStats(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("server 1: auto.chose.sendfile %d, fallback.sendfile.rma %d, errors.ENOSPC %d",
				st["auto.chose.sendfile"], st["fallback.sendfile.rma"], st["errors.ENOSPC"])
			if tc.autoSendfile && st["auto.chose.sendfile"] == 0 {
				log, _ := os.ReadFile(cl.LogPath(1))
				t.Fatalf("auto_sendfile=true: no write went by sendfile: %v\nserver 1 log:\n%s", st, log)
			}
			if sendfile && st["fallback.sendfile.rma"] != 0 {
				t.Errorf("a sendfile write met the full file system in the copy (%d), not before it", st["fallback.sendfile.rma"])
			}
			got := make([]byte, len(keep))
			if n, err := f.ReadAt(got, 0); n != len(keep) || err != nil || !bytes.Equal(got, keep) {
				t.Fatalf("file written before the disk filled: read %d, %v (equal %v)", n, err, bytes.Equal(got, keep))
			}
			if err := c.Remove(ctx, "/big"); err != nil {
				t.Fatal(err)
			}
			h, err := c.Create(ctx, "/after", clientlib.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.WriteAt(keep, 0); err != nil {
				t.Fatalf("write after space was freed: %v", err)
			}
			if n, err := h.ReadAt(got, 0); n != len(keep) || err != nil || !bytes.Equal(got, keep) {
				t.Fatalf("read after space was freed: %d, %v", n, err)
			}
		})
	}
}
