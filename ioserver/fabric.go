package ioserver

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/ioserver/data"
	"github.com/ferry-hpc/ferry/proto"
	"github.com/ferry-hpc/ferry/verbs"
)

// openFabrics opens the fabrics the config asks for: none for provider
// none or strategy sockets; the one provider named, which must open; or,
// for auto, shm (clients on this host) and the first networked provider
// in verbs' preference order that opens here (the rest), each client
// picking one. A provider auto cannot open leaves its clients on sockets.
func (s *Server) openFabrics() error {
	prov, err := verbs.CanonicalProvider(s.self.Provider)
	if err != nil {
		return fmt.Errorf("%v: %w", err, unix.EINVAL)
	}
	if prov == verbs.ProviderNone || s.strategy == proto.StrategySockets {
		return nil
	}
	// The fabric binds where clients reach the server: its advertised
	// host, not the control listener's bind address (which may be 0.0.0.0).
	iface := s.self.FabricInterface()
	open := func(p string) (*data.Fabric, error) {
		return data.OpenFabric(p, iface, s.ports, s.self.PoolBytes, s.self.ChunkSize)
	}
	if prov != "auto" {
		f, err := open(prov)
		if err != nil {
			return err
		}
		s.addFabric(f)
		return nil
	}
	// The host-local provider opens beside the networked ones: an open
	// can take a while (libfabric's first fi_getinfo probes every
	// provider it knows).
	var local, networked []string
	for _, p := range verbs.AutoOrder() {
		if verbs.HostLocal(p) {
			local = append(local, p)
		} else {
			networked = append(networked, p)
		}
	}
	opened := make([]*data.Fabric, len(local))
	var wg sync.WaitGroup
	for i, p := range local {
		wg.Go(func() {
			f, err := open(p)
			if err != nil {
				s.log.Warn("fabric not available; its clients use sockets", "provider", p, "err", err)
			}
			opened[i] = f
		})
	}
	var netFab *data.Fabric
	var errs []error
	for _, p := range networked {
		f, err := open(p)
		if err == nil {
			netFab = f
			break
		}
		errs = append(errs, err)
	}
	wg.Wait()
	for _, f := range opened {
		if f != nil {
			s.addFabric(f)
		}
	}
	if netFab != nil {
		s.addFabric(netFab)
	} else {
		s.log.Warn("no networked fabric available; remote clients use sockets", "err", errors.Join(errs...))
	}
	return nil
}

func (s *Server) addFabric(f *data.Fabric) {
	s.fabrics = append(s.fabrics, f)
	s.log.Info("fabric open", "provider", f.Provider(), "address", verbs.AddressString(f.Provider(), f.Address()), "info", f.Info(),
		"pool", s.self.PoolBytes, "chunk", s.self.ChunkSize, "depth", s.self.PipelineDepth)
}

func (s *Server) fabric(provider string) *data.Fabric {
	for _, f := range s.fabrics {
		if f.Provider() == provider {
			return f
		}
	}
	return nil
}

func (s *Server) closeFabrics() {
	for _, f := range s.fabrics {
		f.Close()
	}
	s.fabrics = nil
}

// connectFabrics inserts the client's fabric addresses in the server's
// address vectors, for the providers both sides have, once each is bound
// to the process on the other end of the connection (bindAddress): the
// connection's peer table, which RDMA requests on it use. It returns why
// addresses were refused, "" when none was.
func (c *conn) connectFabrics(req *proto.HelloReq) string {
	var refused []string
	for _, cf := range req.Fabrics {
		f := c.s.fabric(cf.Provider)
		if f == nil {
			continue
		}
		if err := c.bindAddress(cf.Provider, cf.Addr); err != nil {
			c.s.stats.Add("fabric.refused", 1)
			c.s.log.Warn("client fabric address refused", "provider", cf.Provider, "client", req.Client,
				"peer", c.nc.RemoteAddr().String(), "err", err)
			refused = append(refused, cf.Provider+": "+err.Error())
			continue
		}
		p, err := f.Connect(cf.Addr)
		if err != nil {
			c.s.log.Warn("client fabric address refused", "provider", cf.Provider, "client", req.Client, "err", err)
			refused = append(refused, cf.Provider+": "+err.Error())
			continue
		}
		c.pmu.Lock()
		if c.peers == nil {
			c.peers = make(map[string]verbs.Peer)
		}
		old, had := c.peers[cf.Provider]
		c.peers[cf.Provider] = p
		c.pmu.Unlock()
		if had {
			f.Release(old) // a second hello on one connection
		}
	}
	return strings.Join(refused, "; ")
}

// releaseFabrics gives back the connection's peers once its requests are
// done.
func (c *conn) releaseFabrics() {
	c.pmu.Lock()
	peers := c.peers
	c.peers = nil
	c.pmu.Unlock()
	for prov, p := range peers {
		if f := c.s.fabric(prov); f != nil {
			if err := f.Release(p); err != nil {
				c.s.log.Warn("removing a client from the address vector", "provider", prov, "err", err)
			}
		}
	}
}

// link returns the fabric and this client's peer on it for an RDMA
// request naming provider.
func (c *conn) link(provider string) (data.Link, error) {
	f := c.s.fabric(provider)
	if f == nil {
		return data.Link{}, fmt.Errorf("this server has no %q fabric: %w", provider, unix.EOPNOTSUPP)
	}
	c.pmu.Lock()
	p, ok := c.peers[provider]
	c.pmu.Unlock()
	if !ok {
		return data.Link{}, fmt.Errorf("client sent no %q address in its hello: %w", provider, unix.ENOTCONN)
	}
	if !f.Usable(p) {
		return data.Link{}, fmt.Errorf("client was dropped from the %q fabric for stalled transfers; reconnect: %w", provider, unix.ENOTCONN)
	}
	return data.Link{Fabric: f, Peer: p}, nil
}
