package itest

import (
	"bytes"
	"errors"
	"syscall"
	"testing"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/internal/testcluster"
)

// Repeated reads into one buffer register it once with the cache on, and
// every time with it off; the bytes are right either way.
func TestClientUsesRegCache(t *testing.T) {
	needProvider(t, "shm")
	cl := testcluster.Start(t, testcluster.Options{Servers: 2, StripSize: 64 << 10})
	want := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	for _, mode := range []string{"on", "off"} {
		t.Run(mode, func(t *testing.T) {
			c := cl.Mount(t, clientlib.Options{Provider: "shm", RegCache: mode, EagerThreshold: 1, LocalReads: clientlib.LocalReadsOff}) // every request by RMA
			f, err := c.Create(ctx, "/rc-"+mode, clientlib.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(want, 0); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, len(want))
			for i := 0; i < 5; i++ {
				clear(buf)
				if n, err := f.ReadAt(buf, 0); n != len(buf) || err != nil {
					t.Fatalf("read %d: %d, %v", i, n, err)
				}
				if !bytes.Equal(buf, want) {
					t.Fatalf("read %d: wrong bytes", i)
				}
			}
			st := c.RegCacheStats()
			switch {
			case mode == "on" && st.Hits < 4:
				t.Fatalf("cache on: %d hits for 5 reads of one buffer (%+v)", st.Hits, st)
			case mode == "off" && st.Hits != 0:
				t.Fatalf("cache off: %d hits", st.Hits)
			}
		})
	}
}

// Every registration cache mode a client asks for reaches its cache
// (Options.RegCache "fast" was once silently dropped), and an unknown one
// is refused.
func TestClientRegCacheModes(t *testing.T) {
	needProvider(t, "shm")
	cl := testcluster.Start(t, testcluster.Options{Servers: 1})
	for mode, want := range map[string]string{"fast": "fast", "on": "strict", "": "strict"} {
		c := cl.Mount(t, clientlib.Options{Provider: "shm", RegCache: mode})
		if got := c.DataPath(0); got != "rdma:shm" {
			t.Fatalf("regcache %q: data path %q", mode, got)
		}
		if st := c.RegCacheStats(); st.Sync != want || st.Monitor == "disabled" {
			t.Errorf("regcache %q: sync %q, monitor %q; want sync %q", mode, st.Sync, st.Monitor, want)
		}
	}
	c := cl.Mount(t, clientlib.Options{Provider: "shm", RegCache: "off"})
	if st := c.RegCacheStats(); st.Monitor != "disabled" || st.Enabled {
		t.Errorf("regcache off: %+v", st)
	}
	if _, err := clientlib.Mount(ctx, cl.ConfigPath, clientlib.Options{RegCache: "quick"}); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("regcache quick: %v, want EINVAL", err)
	}
}
