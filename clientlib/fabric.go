package clientlib

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/ferry-hpc/ferry/internal/units"
	"github.com/ferry-hpc/ferry/proto"
	"github.com/ferry-hpc/ferry/regcache"
	"github.com/ferry-hpc/ferry/verbs"
)

// DefaultEagerThreshold is the request size below which bytes travel
// inline on the control connection and skip registration, where a
// registration and an extra completion are likely to cost more than the
// copy, on networked providers. It is a starting point, not a measured
// optimum: no networked RDMA hardware was at hand to sweep.
const DefaultEagerThreshold = 16 << 10

// DefaultShmEagerThreshold is the eager threshold on shm, measured
// (bench/results/2026-12-07e, "Eager threshold", and 2026-12-07f): on the
// host of the servers, a 16 KiB read's RDMA round trip costs about 70 µs
// more than an inline one (BenchmarkRoundTrip in bench; 200 µs before
// callers posted their own RMA), and one copy by the kernel saves less
// than that below 1 MiB. One client's reads below 1 MiB are still faster
// inline, and so were its writes below 512 KiB; from 1 MiB, writes by
// RDMA tie or win. A striped
// transfer's requests (up to MaxRequest per server, in parallel) stay on
// RDMA.
const DefaultShmEagerThreshold = 1 << 20

// eagerThreshold is the default eager threshold for a client whose
// fabric is provider ("" when it has none: everything goes inline anyway).
func eagerThreshold(provider string) int64 {
	if verbs.HostLocal(provider) {
		return DefaultShmEagerThreshold
	}
	return DefaultEagerThreshold
}

// clientFabric is the client's one fabric endpoint and the cache of
// registrations of user buffers on it.
type clientFabric struct {
	ep       *verbs.Endpoint
	provider string
	cache    *regcache.Cache
}

// chooseProvider picks the fabric provider for this client from what the
// servers offer: none when sockets are asked for, the named provider when
// one is, else the one verbs.Prefer picks (shm for servers on this host,
// the best networked provider otherwise). want is a canonical name.
func chooseProvider(want string, offered []proto.Fabric, serversLocal bool) (string, error) {
	var names []string
	for _, f := range offered {
		names = append(names, f.Provider)
	}
	switch want {
	case verbs.ProviderNone:
		return "", nil
	case "auto":
		return verbs.Prefer(names, serversLocal), nil
	}
	if !slices.Contains(names, want) {
		return "", fmt.Errorf("provider %q asked for, the servers offer [%s]: %w", want, strings.Join(names, ", "), verbs.ErrNotSupported)
	}
	return want, nil
}

// usableFabrics drops the server's shm fabric when the server runs as
// another user: shm serves only processes of the server's own user (its
// endpoint name says which), so the client picks another provider instead
// of having its address refused. why says what was dropped.
func usableFabrics(offered []proto.Fabric) ([]proto.Fabric, string) {
	var out []proto.Fabric
	var why string
	for _, f := range offered {
		if f.Provider == "shm" {
			if _, uid, err := verbs.ParseShmAddress(f.Addr); err != nil || uid != os.Getuid() {
				why = fmt.Sprintf("the servers' shm endpoint %q belongs to another user (shm serves only the server's own user)", bytes.TrimRight(f.Addr, "\x00"))
				continue
			}
		}
		out = append(out, f)
	}
	return out, why
}

// isLocal reports whether every address is on this host.
func isLocal(addrs []string) bool {
	local := map[string]bool{}
	if ifaddrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range ifaddrs {
			if ipn, ok := a.(*net.IPNet); ok {
				local[ipn.IP.String()] = true
			}
		}
	}
	for _, a := range addrs {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			return false
		}
		ip := net.ParseIP(host)
		if ip == nil {
			if host != "localhost" {
				return false
			}
			continue
		}
		if !ip.IsLoopback() && !local[ip.String()] {
			return false
		}
	}
	return true
}

// clientLanes is how many endpoints the client opens on its fabric domain,
// one per server it talks to: on shm every server's RMA into the client
// is a copy made under the target endpoint's lock, so with one endpoint
// the servers copy one at a time however many cores there are. Networked
// providers have no such lock and keep one endpoint (one connection per
// server either way).
func clientLanes(provider string, servers int) int {
	if !verbs.HostLocal(provider) {
		return 1
	}
	return min(max(servers, 1), verbs.MaxLanes)
}

// openClientFabric opens the client's endpoint and its registration
// cache. iface is the local address or interface tcp binds to, so the
// servers can reach it; lanes is Config.Lanes.
func openClientFabric(provider, iface string, lanes int, rc regcache.Options) (*clientFabric, error) {
	ep, err := verbs.Open(verbs.Config{Provider: provider, Interface: iface, Lanes: lanes})
	if err != nil {
		return nil, err
	}
	cache, err := regcache.New(ep, rc)
	if err != nil {
		ep.Close()
		return nil, fmt.Errorf("registration cache: %w", err)
	}
	return &clientFabric{ep: ep, provider: ep.Provider(), cache: cache}, nil
}

func (f *clientFabric) close() {
	f.cache.Close()
	f.ep.Close()
}

// FabricInfo describes the client's fabric endpoint and the request size
// from which it moves bytes by RMA ("" without one).
func (c *Client) FabricInfo() string {
	if c.fab == nil {
		return ""
	}
	rma := "never" // every request inline
	if t := c.opts.EagerThreshold; t >= 0 {
		rma = strings.ReplaceAll(units.Bytes(t), " ", "") // set by Dial: never 0
	}
	return c.fab.ep.Info().String() + " rma_from=" + rma
}

// RegCacheStats returns the registration cache's counters (zero without a fabric).
func (c *Client) RegCacheStats() regcache.Stats {
	if c.fab == nil {
		return regcache.Stats{}
	}
	return c.fab.cache.Stats()
}

// registration is a buffer registered for one call.
type registration struct {
	remote proto.RemoteBuf // the buffer as the servers address it
	done   func()          // release, keeping the registration cached
	revoke func()          // deregister now: no server can reach the buffer any more
}

// end finishes a call's use of the registration. After a failed call a
// server may still hold the key (a request that timed out is still being
// served), so the registration is revoked before the call returns: on
// providers that check keys (tcp) a late transfer then fails instead of
// touching memory the caller owns again. Where keys are not checked (shm)
// the request's budget is what keeps late transfers out (see rmaBudget).
func (r *registration) end(failed bool) {
	if failed {
		r.revoke()
		return
	}
	r.done()
}

// rmaBudget is how long a server may work on an RDMA request: the call's
// timeout less a margin for the request's trip and for a transfer posted
// just before the budget ends, so the server's last transfer is done
// before the call can time out and return.
func rmaBudget(timeout time.Duration) time.Duration {
	return timeout - min(timeout/4, 2*time.Second)
}

// register makes p available to the servers for RMA: the servers write
// into it (reads) or read from it (writes). Every user buffer the client
// hands to the fabric goes through here.
func (c *Client) register(p []byte, access verbs.Access) (*registration, error) {
	if len(p) == 0 {
		return nil, errors.New("register: empty buffer")
	}
	return c.registerRange(unsafe.Pointer(&p[0]), len(p), access)
}
