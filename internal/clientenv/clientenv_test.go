package clientenv

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/config"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestOptions(t *testing.T) {
	e := env(map[string]string{
		Provider: "tcp", Strategy: "pipeline", RegCache: "fast", FabricInterface: "lo",
		RegCacheMaxEntries: "17", RegCacheMaxBytes: "3m", RegCacheUserModeOnly: "1", SpinWait: "250us",
		EagerThreshold: "64k", HugePages: "off", LocalReads: "off",
	})
	o, err := Options(clientlib.Options{Name: "x"}, e)
	if err != nil {
		t.Fatal(err)
	}
	want := clientlib.Options{Name: "x", Provider: "tcp", Strategy: "pipeline", RegCache: "fast", FabricInterface: "lo",
		RegCacheMaxEntries: 17, RegCacheMaxBytes: 3 << 20, RegCacheUserModeOnly: true, SpinWait: 250 * time.Microsecond,
		EagerThreshold: 64 << 10, RegCacheSmallPages: true, LocalReads: clientlib.LocalReadsOff}
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

// Huge pages are the default: FERRY_HUGE_PAGES=on asks for nothing more.
func TestHugePagesOn(t *testing.T) {
	o, err := Options(clientlib.Options{}, env(map[string]string{HugePages: "on"}))
	if err != nil || o.RegCacheSmallPages {
		t.Fatalf("%s=on: %+v, %v; want RegCacheSmallPages false", HugePages, o, err)
	}
}

func TestSpinWaitOff(t *testing.T) {
	for _, v := range []string{"off", "0", "-1s"} {
		o, err := Options(clientlib.Options{}, env(map[string]string{SpinWait: v}))
		if err != nil || o.SpinWait >= 0 {
			t.Errorf("%s=%s: %v, %v; want a negative SpinWait (never)", SpinWait, v, o.SpinWait, err)
		}
	}
}

func TestOptionsRejects(t *testing.T) {
	for name, v := range map[string]string{
		Provider: "infiniband", Strategy: "fastest", RegCache: "maybe",
		RegCacheMaxEntries: "-1", RegCacheMaxBytes: "lots", RegCacheUserModeOnly: "perhaps", SpinWait: "fast",
		EagerThreshold: "0", HugePages: "2m", LocalReads: "sometimes",
	} {
		_, err := Options(clientlib.Options{}, env(map[string]string{name: v}))
		if !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), name) || strings.Count(err.Error(), "invalid argument") != 1 {
			t.Errorf("%s=%s: %v, want EINVAL (said once) naming the variable", name, v, err)
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
	if _, err := os.Stat(config.SystemPath); err == nil {
		t.Skipf("%s exists on this host: the no-config case cannot be shown", config.SystemPath)
	}
	if _, err := ConfigPath("", env(nil)); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), config.SystemPath) {
		t.Fatalf("no config: %v, want ErrNotExist listing the search path", err)
	}
	home := t.TempDir()
	user := filepath.Join(home, ".config", "ferry", "ferry.toml")
	os.MkdirAll(filepath.Dir(user), 0o755)
	os.WriteFile(user, []byte("servers = [\"h:1\"]\n"), 0o644)
	if p, err := ConfigPath("", env(map[string]string{"HOME": home})); err != nil || p != user {
		t.Fatalf("user config: %q, %v; want %q", p, err, user)
	}
	xdg := t.TempDir()
	if _, err := ConfigPath("", env(map[string]string{"HOME": home, "XDG_CONFIG_HOME": xdg})); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("XDG_CONFIG_HOME set: the HOME file must not be used: %v", err)
	}
	os.MkdirAll(config.LocalPath[:len(config.LocalPath)-len("/ferry.toml")], 0o755)
	os.WriteFile(config.LocalPath, []byte("x"), 0o644)
	if p, err := ConfigPath("", env(map[string]string{"HOME": home})); err != nil || p != config.LocalPath {
		t.Fatalf("local cluster before user config: %q, %v", p, err)
	}
}
