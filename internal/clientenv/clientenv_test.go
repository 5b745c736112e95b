package clientenv

import (
	"errors"
	"io/fs"
	"strings"
	"syscall"
	"testing"

	"github.com/ferry-hpc/ferry/clientlib"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestOptions(t *testing.T) {
	e := env(map[string]string{
		Provider: "tcp", Strategy: "pipeline", RegCache: "fast", FabricInterface: "lo",
		RegCacheMaxEntries: "17", RegCacheMaxBytes: "3m", RegCacheUserModeOnly: "1",
	})
	o, err := Options(clientlib.Options{Name: "x"}, e)
	if err != nil {
		t.Fatal(err)
	}
	want := clientlib.Options{Name: "x", Provider: "tcp", Strategy: "pipeline", RegCache: "fast", FabricInterface: "lo",
		RegCacheMaxEntries: 17, RegCacheMaxBytes: 3 << 20, RegCacheUserModeOnly: true}
	if o != want {
		t.Fatalf("got %+v\nwant %+v", o, want)
	}
	// What the caller set (a flag) wins over the environment.
	o, err = Options(clientlib.Options{Provider: "none", Strategy: "sockets", RegCache: "off"}, e)
	if err != nil || o.Provider != "none" || o.Strategy != "sockets" || o.RegCache != "off" {
		t.Fatalf("caller's values overridden: %+v, %v", o, err)
	}
	if o, err := Options(clientlib.Options{}, env(nil)); err != nil || o != (clientlib.Options{}) {
		t.Fatalf("empty environment: %+v, %v", o, err)
	}
}

func TestOptionsRejects(t *testing.T) {
	for name, v := range map[string]string{
		Provider: "infiniband", Strategy: "fastest", RegCache: "maybe",
		RegCacheMaxEntries: "-1", RegCacheMaxBytes: "lots", RegCacheUserModeOnly: "perhaps",
	} {
		_, err := Options(clientlib.Options{}, env(map[string]string{name: v}))
		if !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: %v, want EINVAL naming the variable", name, v, err)
		}
	}
}

func TestConfigPath(t *testing.T) {
	if p, err := ConfigPath("/a.toml", env(map[string]string{Config: "/b.toml"})); err != nil || p != "/a.toml" {
		t.Fatalf("flag: %q, %v", p, err)
	}
	if p, err := ConfigPath("", env(map[string]string{Config: "/b.toml"})); err != nil || p != "/b.toml" {
		t.Fatalf("environment: %q, %v", p, err)
	}
	t.Chdir(t.TempDir())
	if _, err := ConfigPath("", env(nil)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("no config: %v, want ErrNotExist", err)
	}
}
