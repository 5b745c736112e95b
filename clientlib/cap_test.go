package clientlib_test

import (
	"bytes"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/internal/testcluster"
	"github.com/ferry-hpc/ferry/proto"
)

// An open file's capability is renewed before it expires, and replaced by
// a fresh lookup when it expired while the file sat idle, without the
// caller seeing either; once the name holds another file, the old one's
// calls fail with ESTALE.
func TestCapabilityRenewal(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 2})
	c := cl.Mount(t, clientlib.Options{Provider: "none"})
	key, err := config.ReadKey(cl.Config.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Create(ctx, "/renew", clientlib.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	issued := f.Capability()
	resign := func(expiry time.Time) {
		cp := issued
		cp.Expiry = expiry.UnixNano()
		cp.MAC = proto.CapMAC(key, f.Handle(), &cp)
		clientlib.SetCapability(f, cp)
	}
	for _, tc := range []struct {
		name   string
		expiry time.Time
	}{
		{"close to expiry", time.Now().Add(time.Minute)},
		{"expired", time.Now().Add(-time.Minute)},
	} {
		resign(tc.expiry)
		want := []byte(tc.name)
		if _, err := f.WriteAt(want, 0); err != nil {
			t.Fatalf("write with a capability %s: %v", tc.name, err)
		}
		got := make([]byte, len(want))
		if _, err := f.ReadAt(got, 0); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("read with a capability %s: %q, %v", tc.name, got, err)
		}
		now := f.Capability()
		if time.Until(time.Unix(0, now.Expiry)) <= proto.CapLifetime/2 || now.Rights != issued.Rights {
			t.Errorf("capability %s not renewed: %+v (issued %+v)", tc.name, now, issued)
		}
	}
	// Another file under the name: the expired capability is not replaced
	// by the new file's.
	if err := c.Remove(ctx, "/renew"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, "/renew", clientlib.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	resign(time.Now().Add(-time.Minute))
	if _, err := f.WriteAt([]byte("x"), 0); !errors.Is(err, syscall.ESTALE) {
		t.Errorf("write to a replaced file: %v, want ESTALE", err)
	}
}
