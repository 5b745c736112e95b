package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestGenerateLoadRoundTrip(t *testing.T) {
	c, err := Generate([]string{"127.0.0.1:7000", "127.0.0.1:7001"}, t.TempDir(), 65536)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "f.toml")
	os.WriteFile(p, b, 0o644)
	got, err := Load(p)
	if err != nil {
		t.Fatalf("load: %v\n%s", err, b)
	}
	if got.StripSize != 65536 || len(got.Servers) != 2 || got.Servers[1].Address != "127.0.0.1:7001" || got.Timeout.Duration != DefaultTimeout {
		t.Fatalf("got %+v", got)
	}
}

func TestLoadRejects(t *testing.T) {
	cases := map[string]string{
		"no servers":   `strip_size = 65536`,
		"bad id":       "[[server]]\nid = 1\naddress = \"a:1\"\nstorage = \"/x\"",
		"bad address":  "[[server]]\nid = 0\naddress = \"nope\"\nstorage = \"/x\"",
		"unknown key":  "bogus = 1\n[[server]]\nid = 0\naddress = \"a:1\"\nstorage = \"/x\"",
		"tiny strip":   "strip_size = 10\n[[server]]\nid = 0\naddress = \"a:1\"\nstorage = \"/x\"",
		"meta server":  "metadata_server = 3\n[[server]]\nid = 0\naddress = \"a:1\"\nstorage = \"/x\"",
		"bad timeout":  "timeout = \"soon\"\n[[server]]\nid = 0\naddress = \"a:1\"\nstorage = \"/x\"",
		"no storage":   "[[server]]\nid = 0\naddress = \"a:1\"",
		"strip count":  "strip_count = 2\n[[server]]\nid = 0\naddress = \"a:1\"\nstorage = \"/x\"",
		"long spin":    "[[server]]\nid = 0\naddress = \"a:1\"\nstorage = \"/x\"\nspin_wait = \"5ms\"",
		"port 0":       "[[server]]\nid = 0\naddress = \"a:0\"\nstorage = \"/x\"",
		"big port":     "[[server]]\nid = 0\naddress = \"a:99999\"\nstorage = \"/x\"",
		"named port":   "[[server]]\nid = 0\naddress = \"a:http\"\nstorage = \"/x\"",
		"bind port":    "[[server]]\nid = 0\naddress = \"a:1\"\nstorage = \"/x\"\nbind = \"0.0.0.0:0\"",
		"fabric ports": "[[server]]\nid = 0\naddress = \"a:1\"\nstorage = \"/x\"\nfabric_ports = \"9-2\"",
		"same address": "[[server]]\nid = 0\naddress = \"a:1\"\nstorage = \"/x\"\n" +
			"[[server]]\nid = 1\naddress = \"a:1\"\nstorage = \"/y\"",
		"same storage": "[[server]]\nid = 0\naddress = \"a:1\"\nstorage = \"/x\"\n" +
			"[[server]]\nid = 1\naddress = \"a:2\"\nstorage = \"/x/\"\nsocket = \"/s\"",
		"same socket": "[[server]]\nid = 0\naddress = \"a:1\"\nstorage = \"/x\"\nsocket = \"/s\"\n" +
			"[[server]]\nid = 1\naddress = \"a:2\"\nstorage = \"/y\"\nsocket = \"/s\"",
		"same bind": "[[server]]\nid = 0\naddress = \"a:1\"\nstorage = \"/x\"\nbind = \"0.0.0.0:1\"\n" +
			"[[server]]\nid = 1\naddress = \"a:2\"\nstorage = \"/y\"\nbind = \"0.0.0.0:1\"",
	}
	for name, body := range cases {
		p := filepath.Join(t.TempDir(), "c.toml")
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := Load(p); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q does not name the file", name, err)
		} else if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: error %q does not wrap ErrInvalid", name, err)
		}
	}
	// A config that cannot be read is not an invalid one.
	if _, err := Load(filepath.Join(t.TempDir(), "missing.toml")); err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("missing file: %v", err)
	}
}

func TestGenerateFreezesNoDefaults(t *testing.T) {
	c, err := Generate([]string{"node01:7000", "node02:7000"}, "/srv/ferry", DefaultStripSize)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"strip_size", "timeout", "pool_bytes", "chunk_size", "pipeline_depth", "strip_count", "metadata_server"} {
		if strings.Contains(string(b), k) {
			t.Errorf("generated config freezes default %s:\n%s", k, b)
		}
	}
	p := filepath.Join(t.TempDir(), "f.toml")
	os.WriteFile(p, b, 0o644)
	got, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.StripSize != DefaultStripSize || got.Timeout.Duration != DefaultTimeout || got.Servers[1].PoolBytes != DefaultPoolBytes {
		t.Fatalf("defaults not applied on load: %+v", got)
	}
}

func TestAdvertisedAddressMustBeDialable(t *testing.T) {
	c := &Config{Servers: []Server{{Address: "0.0.0.0:7000", Storage: "/s"}}}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "bind") {
		t.Fatalf("0.0.0.0 as advertised address: %v", err)
	}
	c.Servers[0] = Server{Address: "10.1.2.3:7000", Bind: "0.0.0.0:7000", Storage: "/s"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if s := c.Servers[0]; s.BindAddress() != "0.0.0.0:7000" || s.FabricInterface() != "10.1.2.3" {
		t.Fatalf("bind %q, fabric interface %q", s.BindAddress(), s.FabricInterface())
	}
}

func TestCheckAddresses(t *testing.T) {
	hosts := map[string]string{"node01": "10.0.0.1", "node02": "127.0.1.1", "node03": "10.0.0.3"}
	lookup := func(_ context.Context, h string) ([]string, error) {
		if a, ok := hosts[h]; ok {
			return []string{a}, nil
		}
		return nil, errors.New("no such host")
	}
	cfg := func(addrs ...string) *Config {
		c := &Config{}
		for i, a := range addrs {
			c.Servers = append(c.Servers, Server{ID: i, Address: a, Storage: "/s"})
		}
		return c
	}
	if err := cfg("node01:7000", "node03:7000").CheckAddresses(context.Background(), lookup); err != nil {
		t.Fatal(err)
	}
	if err := cfg("127.0.0.1:7000", "127.0.0.1:7001").CheckAddresses(context.Background(), lookup); err != nil {
		t.Fatal(err)
	}
	err := cfg("node01:7000", "node02:7000", "node03:7000").CheckAddresses(context.Background(), lookup)
	if err == nil || !strings.Contains(err.Error(), "server 1 at node02 (127.0.1.1) on loopback") || !strings.Contains(err.Error(), "/etc/hosts") {
		t.Fatalf("127.0.1.1 among network addresses: %v", err)
	}
	if err := cfg("127.0.0.1:7000", "10.0.0.9:7000").CheckAddresses(context.Background(), lookup); !errors.Is(err, ErrInvalid) {
		t.Fatalf("loopback and network: %v", err)
	}
	if err := cfg("nohost:7000").CheckAddresses(context.Background(), lookup); err == nil || !strings.Contains(err.Error(), "server 0") {
		t.Fatalf("unresolvable host: %v", err)
	}
}

func TestExpandHosts(t *testing.T) {
	got, err := ExpandHosts("node[01-03,7],io1, x[9-10]y")
	want := []string{"node01", "node02", "node03", "node7", "io1", "x9y", "x10y"}
	if err != nil || strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("got %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"", "node[1-", "node]1", "n[3-1]", "n[a-b]", "n[1][2]"} {
		if _, err := ExpandHosts(bad); err == nil {
			t.Errorf("ExpandHosts(%q) accepted", bad)
		}
	}
}

func TestIDsForHost(t *testing.T) {
	c := &Config{Servers: []Server{{Address: "node01:7000"}, {Address: "node02:7000"}, {Address: "node02:7001"}}}
	if ids := c.IDsForHost("NODE01", "node01.cluster"); len(ids) != 1 || ids[0] != 0 {
		t.Fatalf("node01: %v", ids)
	}
	if ids := c.IDsForHost("node02"); len(ids) != 2 {
		t.Fatalf("node02: %v", ids)
	}
}

func TestClientFile(t *testing.T) {
	dir := t.TempDir()
	full, _ := Generate([]string{"node01:7000", "node02:7000"}, "/srv", DefaultStripSize)
	full.MetadataServer = 1
	b, _ := full.Encode()
	fp := filepath.Join(dir, "full.toml")
	os.WriteFile(fp, b, 0o644)
	cl, err := LoadClient(fp)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cl.Servers, " ") != "node02:7000 node01:7000" || cl.Timeout.Duration != DefaultTimeout {
		t.Fatalf("client of full config: %+v", cl)
	}
	cl.Provider = "tcp"
	cb, err := cl.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(cb), "storage") || strings.Contains(string(cb), "timeout") {
		t.Fatalf("client file carries server or default settings:\n%s", cb)
	}
	cp := filepath.Join(dir, "client.toml")
	os.WriteFile(cp, cb, 0o644)
	got, err := LoadClient(cp)
	if err != nil {
		t.Fatalf("%v\n%s", err, cb)
	}
	if got.Provider != "tcp" || len(got.Servers) != 2 || got.Timeout.Duration != DefaultTimeout {
		t.Fatalf("round trip: %+v", got)
	}
	os.WriteFile(cp, []byte("servers = [\"a:1\"]\nstorage = \"/x\"\n"), 0o644)
	if _, err := LoadClient(cp); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown key: %v", err)
	}
}

func TestClientSpinWait(t *testing.T) {
	dir := t.TempDir()
	for text, want := range map[string]time.Duration{`"250us"`: 250 * time.Microsecond, `"-1s"`: -time.Second} {
		p := filepath.Join(dir, "client.toml")
		os.WriteFile(p, []byte("servers = [\"node01:7000\"]\nspin_wait = "+text+"\n"), 0o644)
		cl, err := LoadClient(p)
		if err != nil || cl.SpinWait.Duration != want {
			t.Fatalf("spin_wait = %s: %v, %v; want %v", text, cl, err, want)
		}
		b, err := cl.Encode()
		if err != nil || !strings.Contains(string(b), "spin_wait") {
			t.Fatalf("spin_wait = %s: not kept by Encode:\n%s", text, b)
		}
	}
	p := filepath.Join(dir, "bad.toml")
	os.WriteFile(p, []byte("servers = [\"node01:7000\"]\nspin_wait = \"soon\"\n"), 0o644)
	if _, err := LoadClient(p); !errors.Is(err, ErrInvalid) {
		t.Fatalf("spin_wait = \"soon\": %v, want ErrInvalid", err)
	}
}

// Servers on different hosts may use the same storage path, socket and
// bind address: each host has its own.
func TestSamePathsOnOtherHosts(t *testing.T) {
	body := "[[server]]\nid = 0\naddress = \"io01:7000\"\nstorage = \"/srv/ferry\"\nbind = \"0.0.0.0:7000\"\n" +
		"[[server]]\nid = 1\naddress = \"io02:7000\"\nstorage = \"/srv/ferry\"\nbind = \"0.0.0.0:7000\"\n"
	p := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err != nil {
		t.Fatal(err)
	}
}
