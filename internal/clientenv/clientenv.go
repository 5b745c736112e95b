// Package clientenv is the one reader of a Ferry client's environment
// variables. Libraries take options; the programs at the edges (the ferry
// CLI, the C library, ferry bench) call this package to fill in what their
// flags and callers left unset, so every client spells and checks the
// variables the same way.
package clientenv

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/proto"
	"github.com/ferry-hpc/ferry/regcache"
	"github.com/ferry-hpc/ferry/verbs"
)

// The variables. Each fills the clientlib.Options field of the same name.
const (
	Config               = "FERRY_CONFIG"                  // config file (ConfigPath)
	Provider             = "FERRY_PROVIDER"                // auto, none, shm, tcp, verbs, efa, cxi, ...
	FabricInterface      = "FERRY_FABRIC_IFACE"            // address or interface for networked providers
	Strategy             = "FERRY_STRATEGY"                // auto, copy, pipeline, sendfile, sockets
	RegCache             = "FERRY_REGCACHE"                // on, off, fast
	RegCacheMaxEntries   = "FERRY_REGCACHE_MAX_ENTRIES"    // N > 0
	RegCacheMaxBytes     = "FERRY_REGCACHE_MAX_BYTES"      // N > 0, suffixes k, m, g (powers of 1024)
	RegCacheUserModeOnly = "FERRY_REGCACHE_USER_MODE_ONLY" // 1, true, yes, on
	HugePages            = "FERRY_HUGE_PAGES"              // on (the default), off: RegCacheSmallPages
	SpinWait             = "FERRY_SPIN_WAIT"               // a duration (100us), or off (0 too)
	EagerThreshold       = "FERRY_EAGER_THRESHOLD"         // N > 0, suffixes k, m, g: requests below N go inline (1: none)
	LocalReads           = "FERRY_LOCAL_READS"             // on (the default), off: every read goes to the servers
)

// Options returns base with every field the caller left at its zero value
// filled from the environment, as getenv (os.Getenv, or C's getenv in the
// C library) reports it. A value that does not parse is an error naming
// the variable and wrapping EINVAL.
func Options(base clientlib.Options, getenv func(string) string) (clientlib.Options, error) {
	o := base
	var errs []error
	bad := func(name, v string, err error) {
		if errors.Is(err, syscall.EINVAL) { // said once, not twice
			errs = append(errs, fmt.Errorf("%s=%q: %w", name, v, err))
			return
		}
		errs = append(errs, fmt.Errorf("%s=%q: %v: %w", name, v, err, syscall.EINVAL))
	}
	if v := getenv(Provider); v != "" && o.Provider == "" {
		if _, err := verbs.CanonicalProvider(v); err != nil {
			bad(Provider, v, err)
		}
		o.Provider = v
	}
	if v := getenv(FabricInterface); v != "" && o.FabricInterface == "" {
		o.FabricInterface = v
	}
	if v := getenv(Strategy); v != "" && o.Strategy == "" {
		if err := proto.CheckStrategy(v); err != nil {
			bad(Strategy, v, err)
		}
		o.Strategy = v
	}
	if v := getenv(RegCache); v != "" && o.RegCache == "" {
		if _, err := regcache.ParseMode(v); err != nil {
			bad(RegCache, v, err)
		}
		o.RegCache = v
	}
	if v := getenv(RegCacheMaxEntries); v != "" && o.RegCacheMaxEntries == 0 {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n <= 0 {
			bad(RegCacheMaxEntries, v, errors.New("want a positive integer"))
		}
		o.RegCacheMaxEntries = n
	}
	if v := getenv(RegCacheMaxBytes); v != "" && o.RegCacheMaxBytes == 0 {
		n, ok := parseBytes(v)
		if !ok {
			bad(RegCacheMaxBytes, v, errors.New("want a positive size, suffixes k, m, g allowed"))
		}
		o.RegCacheMaxBytes = n
	}
	if v := getenv(RegCacheUserModeOnly); v != "" && !o.RegCacheUserModeOnly {
		on, ok := parseBool(v)
		if !ok {
			bad(RegCacheUserModeOnly, v, errors.New("want on or off"))
		}
		o.RegCacheUserModeOnly = on
	}
	if v := getenv(HugePages); v != "" && !o.RegCacheSmallPages {
		on, ok := parseBool(v)
		if !ok {
			bad(HugePages, v, errors.New("want on or off"))
		}
		o.RegCacheSmallPages = !on
	}
	if v := getenv(SpinWait); v != "" && o.SpinWait == 0 {
		v = strings.TrimSpace(v)
		d, err := time.ParseDuration(v)
		switch {
		case v == "off":
			o.SpinWait = -1
		case err != nil:
			bad(SpinWait, v, errors.New("want a duration such as 100us, or off"))
		case d <= 0:
			o.SpinWait = -1
		default:
			o.SpinWait = d
		}
	}
	if v := getenv(EagerThreshold); v != "" && o.EagerThreshold == 0 {
		n, ok := parseBytes(v)
		if !ok {
			bad(EagerThreshold, v, errors.New("want a positive size, suffixes k, m, g allowed (1: no request inline)"))
		}
		o.EagerThreshold = n
	}
	if v := getenv(LocalReads); v != "" && o.LocalReads == "" {
		v = strings.TrimSpace(v)
		if err := clientlib.CheckLocalReads(v); err != nil {
			bad(LocalReads, v, errors.New("want on or off"))
		}
		o.LocalReads = v
	}
	if err := errors.Join(errs...); err != nil {
		return base, err
	}
	return o, nil
}

// ConfigPath returns the config file a client should use, the first of:
// flag (a --config flag or the C library's argument), $FERRY_CONFIG,
// config.LocalPath (a `ferry local up` here), the user's
// $XDG_CONFIG_HOME/ferry/ferry.toml (default ~/.config/ferry/ferry.toml),
// and config.SystemPath (/etc/ferry/ferry.toml), the files taken only
// when they exist. Having none is an error wrapping fs.ErrNotExist.
func ConfigPath(flag string, getenv func(string) string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if v := getenv(Config); v != "" {
		return v, nil
	}
	for _, p := range searchPath(getenv) {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no config: pass --config, set %s, or create one of %s (`ferry genconfig --client`): %w",
		Config, strings.Join(searchPath(getenv), ", "), fs.ErrNotExist)
}

// searchPath lists the files ConfigPath looks for, in order.
func searchPath(getenv func(string) string) []string {
	paths := []string{config.LocalPath}
	if x := getenv("XDG_CONFIG_HOME"); x != "" {
		paths = append(paths, filepath.Join(x, "ferry", "ferry.toml"))
	} else if h := getenv("HOME"); h != "" {
		paths = append(paths, filepath.Join(h, ".config", "ferry", "ferry.toml"))
	}
	return append(paths, config.SystemPath)
}

func parseBool(s string) (v, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes", "on", "y":
		return true, true
	case "0", "false", "no", "off", "n":
		return false, true
	}
	return false, false
}

// parseBytes reads a positive byte count with an optional k, m or g
// suffix (powers of 1024).
func parseBytes(s string) (int64, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return 0, false
	}
	mul := int64(1)
	switch s[len(s)-1] {
	case 'k':
		mul = 1 << 10
	case 'm':
		mul = 1 << 20
	case 'g':
		mul = 1 << 30
	}
	if mul != 1 {
		s = s[:len(s)-1]
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 || v > (1<<62)/mul {
		return 0, false
	}
	return v * mul, true
}
