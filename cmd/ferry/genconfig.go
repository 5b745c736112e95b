package main

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/verbs"
)

func init() { addCommand(newGenconfigCmd) }

// genconfigOpts are genconfig's flags.
type genconfigOpts struct {
	servers, storage, fabricPorts, provider, iface string
	port, count, meta                              int
	strip                                          int64
	timeout                                        time.Duration
	bindAll, client                                bool
	keyFile                                        string
}

func newGenconfigCmd(e *env) *cobra.Command {
	var o genconfigOpts
	cmd := newCommand("genconfig --servers HOSTS --storage DIR --key-file FILE [flags]", "print a config for a set of servers (TOML)",
		"Prints a Ferry config for the given servers; server i stores its datafiles in DIR/server<i>.\n"+
			"With --client, prints the small file client hosts need (servers' addresses and client preferences).\n"+
			"Settings left out take their documented defaults when the file is read.",
		0, 0, func(*cobra.Command, []string) error { return runGenconfig(e, o) })
	fs := cmd.Flags()
	fs.StringVar(&o.servers, "servers", "", "servers in id order: comma-separated `HOST[:PORT]`, host lists allowed (node[01-04]) (required)")
	fs.IntVar(&o.port, "port", 7000, "control port of servers given without one")
	fs.StringVar(&o.storage, "storage", "", "storage directory root `DIR` (required for a server config)")
	sizeVar(fs, &o.strip, "strip-size", config.DefaultStripSize, false, "default strip size of new files, e.g. 1M")
	fs.IntVar(&o.count, "strip-count", 0, "default servers per file (0: all)")
	fs.IntVar(&o.meta, "metadata-server", 0, "id of the server that runs the metadata service")
	fs.BoolVar(&o.bindAll, "bind-all", false, "servers' control listeners bind 0.0.0.0 (clients still get the listed addresses)")
	fs.StringVar(&o.fabricPorts, "fabric-ports", "", "port or range `LO-HI` the tcp fabric listens on, per server (for firewalls)")
	fs.StringVar(&o.provider, "provider", "", "fabric provider (servers' provider, or the client's preference with --client)")
	fs.StringVar(&o.iface, "fabric-interface", "", "interface or address the fabric binds (servers: default the host of their address)")
	fs.DurationVar(&o.timeout, "timeout", 0, "bound on every network wait (0: the default, 30s)")
	fs.BoolVar(&o.client, "client", false, "print a client file instead of the server config")
	fs.StringVar(&o.keyFile, "key-file", "", "the file system key every server reads (required for a server config); written, random and mode 0600, if it does not exist: copy it to every server's host")
	return cmd
}

func runGenconfig(e *env, o genconfigOpts) error {
	if o.servers == "" || (!o.client && (o.storage == "" || o.keyFile == "")) {
		return usageError{fmt.Errorf("--servers and, for a server config, --storage and --key-file are required")}
	}
	if o.provider != "" {
		// Caught here, not when ferryd refuses to start on every host.
		if _, err := verbs.CanonicalProvider(o.provider); err != nil {
			return usageError{fmt.Errorf("--provider: %w", err)}
		}
	}
	addrs, err := expandServers(o.servers, o.port)
	if err != nil {
		return err
	}
	var b []byte
	if o.client {
		cl := &config.Client{Servers: addrs, Provider: o.provider, FabricInterface: o.iface, Timeout: config.Duration{Duration: o.timeout}}
		if o.meta > 0 && o.meta < len(addrs) { // the metadata server first: it is asked first
			cl.Servers = append([]string{addrs[o.meta]}, append(append([]string(nil), addrs[:o.meta]...), addrs[o.meta+1:]...)...)
		}
		b, err = cl.Encode()
	} else {
		var cfg *config.Config
		cfg, err = config.Generate(addrs, o.storage, o.strip)
		if err != nil {
			return err
		}
		cfg.StripCount = o.count
		cfg.MetadataServer = o.meta
		cfg.Timeout.Duration = o.timeout
		for i := range cfg.Servers {
			s := &cfg.Servers[i]
			s.FabricPorts, s.Provider, s.Interface = o.fabricPorts, o.provider, o.iface
			if o.bindAll {
				_, p, _ := net.SplitHostPort(s.Address)
				s.Bind = net.JoinHostPort("0.0.0.0", p)
			}
		}
		if err = cfg.Validate(); err != nil {
			return err
		}
		if cfg.KeyFile, err = filepath.Abs(o.keyFile); err != nil {
			return err
		}
		if err := config.WriteKey(cfg.KeyFile); errors.Is(err, iofs.ErrExist) {
			// A key there already must be one servers will take (size,
			// mode): found now, not at every server's start.
			if _, err := config.ReadKey(cfg.KeyFile); err != nil {
				return fmt.Errorf("--key-file %s exists but servers would refuse it: %w", cfg.KeyFile, err)
			}
		} else if err != nil {
			return err
		} else {
			fmt.Fprintf(e.stderr, "ferry genconfig: wrote a new key to %s\n", cfg.KeyFile)
		}
		b, err = cfg.Encode()
	}
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(b)
	return err
}

// expandServers expands host lists and gives port to hosts without one.
func expandServers(list string, port int) ([]string, error) {
	hosts, err := config.ExpandHosts(list)
	if err != nil {
		return nil, err
	}
	for i, h := range hosts {
		if _, _, err := net.SplitHostPort(h); err != nil {
			if net.ParseIP(h) == nil && (strings.HasPrefix(h, "[") || strings.Contains(h, ":")) {
				return nil, fmt.Errorf("server %q: %w", h, err)
			}
			hosts[i] = net.JoinHostPort(h, strconv.Itoa(port))
		}
	}
	return hosts, nil
}
