package clientlib

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/ferry-hpc/ferry/proto"
	"github.com/ferry-hpc/ferry/regcache"
	"github.com/ferry-hpc/ferry/verbs"
)

// Strategies a client may ask for (the server's own list; kept here so a
// bad value fails before any request is sent).
var Strategies = []string{"auto", "copy", "pipeline", "sendfile", "sockets"}

// DefaultEagerThreshold is the request size below which bytes travel
// inline on the control connection and skip registration: below it the
// registration and the extra completion cost more than the copy.
const DefaultEagerThreshold = 16 << 10

func checkStrategy(s string) error {
	for _, v := range Strategies {
		if s == v {
			return nil
		}
	}
	return fmt.Errorf("unknown strategy %q (valid: %s): %w", s, strings.Join(Strategies, ", "), syscall.EINVAL)
}

func checkProvider(p string) error {
	if p == "none" {
		return nil
	}
	for _, v := range verbs.Providers() {
		if p == v {
			return nil
		}
	}
	return fmt.Errorf("unknown provider %q (valid: none, %s): %w", p, strings.Join(verbs.Providers(), ", "), syscall.EINVAL)
}

// clientFabric is the client's one fabric endpoint and the cache of
// registrations of user buffers on it.
type clientFabric struct {
	ep       *verbs.Endpoint
	provider string
	cache    *regcache.Cache
}

// choose picks the fabric provider for this client from what the server
// offers: none when sockets are asked for, the named provider when one is,
// else shm for servers on this host and the networked provider otherwise.
func chooseProvider(want string, offered []proto.Fabric, serversLocal bool) (string, error) {
	has := func(p string) bool {
		for _, f := range offered {
			if f.Provider == p {
				return true
			}
		}
		return false
	}
	switch want {
	case "none", "sockets":
		return "", nil
	case "", "auto":
		if serversLocal && has("shm") {
			return "shm", nil
		}
		for _, f := range offered {
			if f.Provider != "shm" {
				return f.Provider, nil
			}
		}
		return "", nil
	}
	canon := want
	if canon == "tcp" {
		canon = "tcp;ofi_rxm"
	} else if canon == "verbs" {
		canon = "verbs;ofi_rxm"
	}
	if !has(canon) {
		var names []string
		for _, f := range offered {
			names = append(names, f.Provider)
		}
		return "", fmt.Errorf("provider %q asked for, the servers offer [%s]: %w", want, strings.Join(names, ", "), verbs.ErrNotSupported)
	}
	return canon, nil
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

// openFabric opens the client's endpoint. iface is the local address the
// control connection uses, so tcp binds where the servers can reach it.
func openClientFabric(provider, iface, regCache string) (*clientFabric, error) {
	ep, err := verbs.Open(verbs.Config{Provider: provider, Interface: iface})
	if err != nil {
		return nil, err
	}
	opts := regcache.OptionsFromEnv(regcache.Options{})
	switch regCache {
	case "off":
		opts.Disabled = true
	case "on":
		opts.Disabled = false
	}
	cache, err := regcache.New(ep, opts)
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

// FabricInfo describes the client's fabric endpoint ("" without one).
func (c *Client) FabricInfo() string {
	if c.fab == nil {
		return ""
	}
	return c.fab.ep.Info().String()
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
	done   func()
}

// register makes p available to the servers for RMA: the servers write
// into it (reads) or read from it (writes). Every user buffer the client
// hands to the fabric goes through here.
func (c *Client) register(p []byte, access verbs.Access) (*registration, error) {
	if c.fab == nil {
		return nil, errors.New("no fabric")
	}
	h, err := c.fab.cache.AcquireBytes(p, verbs.AccessLocal|access)
	if err != nil {
		return nil, err
	}
	rb, err := h.Remote(uint64(len(p)))
	if err != nil {
		h.Release()
		return nil, err
	}
	return &registration{remote: proto.RemoteBuf{Addr: rb.Addr, Key: rb.Key, Len: rb.Len}, done: h.Release}, nil
}

func envOr(v, env string) string {
	if v != "" {
		return v
	}
	return os.Getenv(env)
}
