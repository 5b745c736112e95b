package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		"no servers":  `strip_size = 65536`,
		"bad id":      "[[server]]\nid = 1\naddress = \"a:1\"\nstorage = \"/x\"",
		"bad address": "[[server]]\nid = 0\naddress = \"nope\"\nstorage = \"/x\"",
		"unknown key": "bogus = 1\n[[server]]\nid = 0\naddress = \"a:1\"\nstorage = \"/x\"",
		"tiny strip":  "strip_size = 10\n[[server]]\nid = 0\naddress = \"a:1\"\nstorage = \"/x\"",
		"meta server": "metadata_server = 3\n[[server]]\nid = 0\naddress = \"a:1\"\nstorage = \"/x\"",
		"bad timeout": "timeout = \"soon\"\n[[server]]\nid = 0\naddress = \"a:1\"\nstorage = \"/x\"",
		"no storage":  "[[server]]\nid = 0\naddress = \"a:1\"",
		"strip count": "strip_count = 2\n[[server]]\nid = 0\naddress = \"a:1\"\nstorage = \"/x\"",
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
