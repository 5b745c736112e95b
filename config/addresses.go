package config

import (
	"context"
	"fmt"
	"net"
	"strings"
)

// Resolver looks a host name up (net.DefaultResolver.LookupHost in
// servers; tests pass their own table).
type Resolver func(ctx context.Context, host string) ([]string, error)

// CheckAddresses checks that the servers' advertised addresses are all
// loopback or all not: a file system whose clients dial some servers on
// loopback and others across the network cannot work from any host. The
// usual cause is a host name that resolves to 127.0.1.1, as Debian's
// /etc/hosts maps the machine's own name, so the error says so. A host
// that does not resolve is an error naming the server.
func (c *Config) CheckAddresses(ctx context.Context, lookup Resolver) error {
	loop := make([]bool, len(c.Servers))
	shown := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		host, _, err := net.SplitHostPort(s.Address)
		if err != nil {
			return fmt.Errorf("server %d: address %q: %w", i, s.Address, err)
		}
		addrs := []string{host}
		if net.ParseIP(host) == nil {
			addrs, err = lookup(ctx, host)
			if err != nil {
				return fmt.Errorf("server %d: address %q: %w", i, s.Address, err)
			}
			if len(addrs) == 0 {
				return fmt.Errorf("server %d: address %q: host has no address", i, s.Address)
			}
		}
		ip := net.ParseIP(addrs[0])
		loop[i] = ip != nil && ip.IsLoopback()
		shown[i] = host
		if addrs[0] != host {
			shown[i] = fmt.Sprintf("%s (%s)", host, addrs[0])
		}
	}
	var onLoop, offLoop []string
	for i := range c.Servers {
		if loop[i] {
			onLoop = append(onLoop, fmt.Sprintf("server %d at %s", i, shown[i]))
		} else {
			offLoop = append(offLoop, fmt.Sprintf("server %d at %s", i, shown[i]))
		}
	}
	if len(onLoop) == 0 || len(offLoop) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s on loopback but %s on the network: no client could reach all of them; "+
		"give every server an address other hosts can dial (a host name that resolves to 127.0.1.1 comes from /etc/hosts: "+
		"use the host's network address, or fix /etc/hosts)",
		ErrInvalid, strings.Join(onLoop, ", "), strings.Join(offLoop, ", "))
}

// BindAddress is where server s's control listener binds.
func (s Server) BindAddress() string {
	if s.Bind != "" {
		return s.Bind
	}
	return s.Address
}

// FabricInterface is the address or interface server s's networked fabric
// binds: fabric_interface, else the host of its advertised address (the
// one clients reach it by), "" when neither names one.
func (s Server) FabricInterface() string {
	if s.Interface != "" {
		return s.Interface
	}
	host, _, err := net.SplitHostPort(s.Address)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return ""
	}
	return host
}

// IDsForHost returns the ids of the servers whose advertised host is one
// of names (a machine's host name, short and fully qualified).
func (c *Config) IDsForHost(names ...string) []int {
	var ids []int
	for i, s := range c.Servers {
		host, _, err := net.SplitHostPort(s.Address)
		if err != nil {
			continue
		}
		for _, n := range names {
			if n != "" && strings.EqualFold(host, n) {
				ids = append(ids, i)
				break
			}
		}
	}
	return ids
}
