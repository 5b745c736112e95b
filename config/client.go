package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/BurntSushi/toml"
)

// Client is what a client host needs to find a file system (the analogue
// of PVFS2's pvfs2tab): the servers' advertised addresses and the
// client's own preferences, without the servers' storage and tuning.
type Client struct {
	// Servers are the advertised host:port of servers to ask, in order,
	// for the file system (the first that answers hands over the rest).
	Servers []string `toml:"servers"`
	// Provider is the client's fabric provider preference ("auto" when empty).
	Provider string `toml:"provider,omitempty"`
	// FabricInterface is the address or interface the client's networked
	// fabric binds (default: the local address of its control connection).
	FabricInterface string `toml:"fabric_interface,omitempty"`
	// Timeout bounds every wait for a server (default 30s).
	Timeout Duration `toml:"timeout,omitempty"`
	// KeyFile is the file system's key, for servers in auth mode "key"
	// (Config.KeyFile); MungeSocket is munged's socket for mode "munge".
	KeyFile     string `toml:"key_file,omitempty"`
	MungeSocket string `toml:"munge_socket,omitempty"`
	// SpinWait is how long a small read polls for its reply before its
	// thread sleeps (clientlib.Options.SpinWait; default 100µs, a
	// negative duration: never). Turn it off where ranks outnumber
	// cores.
	SpinWait Duration `toml:"spin_wait,omitempty"`
}

// ClientOf is the client file of a full config: the metadata server first.
func (c *Config) ClientOf() *Client {
	cl := &Client{Timeout: c.Timeout, KeyFile: c.KeyFile, MungeSocket: c.MungeSocket}
	if c.MetadataServer >= 0 && c.MetadataServer < len(c.Servers) {
		cl.Servers = append(cl.Servers, c.Servers[c.MetadataServer].Address)
	}
	for i, s := range c.Servers {
		if i != c.MetadataServer {
			cl.Servers = append(cl.Servers, s.Address)
		}
	}
	return cl
}

// LoadClient reads a client file, or a full config (which has [[server]]
// tables) as a client of it, so one search path serves both.
func LoadClient(path string) (*Client, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var probe map[string]any
	if _, err := toml.Decode(string(b), &probe); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrInvalid, path, err)
	}
	if _, full := probe["server"]; full {
		c, err := Load(path)
		if err != nil {
			return nil, err
		}
		return c.ClientOf(), nil
	}
	var c Client
	md, err := toml.Decode(string(b), &c)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrInvalid, path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, fmt.Errorf("%w %s: unknown key %q", ErrInvalid, path, und[0].String())
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrInvalid, path, err)
	}
	if c.Timeout.Duration == 0 {
		c.Timeout.Duration = DefaultTimeout
	}
	return &c, nil
}

func (c *Client) validate() error {
	if len(c.Servers) == 0 {
		return errors.New("no servers")
	}
	for _, a := range c.Servers {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			return fmt.Errorf("server %q: %w", a, err)
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			return fmt.Errorf("server %q is not an address a client can dial", a)
		}
	}
	if c.Timeout.Duration < 0 {
		return fmt.Errorf("negative timeout %v", c.Timeout.Duration)
	}
	return nil
}

// Encode writes c as TOML, leaving out what is at its default.
func (c *Client) Encode() ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var buf bytes.Buffer
	buf.WriteString("# Ferry client configuration: the servers to ask for the file system.\n")
	w := *c
	if w.Timeout.Duration == DefaultTimeout {
		w.Timeout.Duration = 0
	}
	if err := toml.NewEncoder(&buf).Encode(w); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
