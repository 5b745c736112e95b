package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/ferry-hpc/ferry/config"
)

// The launchers' rank variables, global and per host, in the order
// consulted: Slurm (srun), MPICH's Hydra and other PMI launchers, Open MPI.
var (
	rankVars      = []string{"SLURM_PROCID", "PMI_RANK", "OMPI_COMM_WORLD_RANK"}
	localRankVars = []string{"SLURM_LOCALID", "MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK"}
)

// resolveID picks this server's id: --id when given (flag >= 0); else the
// one server whose advertised host is this machine's name (with several
// on this host, the launcher's local rank picks among them); else the
// launcher's global rank. It says how it chose, for the log.
func resolveID(cfg *config.Config, flag int, hostnames []string, getenv func(string) string) (id int, how string, err error) {
	n := len(cfg.Servers)
	check := func(id int, how string) (int, string, error) {
		if id < 0 || id >= n {
			return 0, "", fmt.Errorf("server id %d (%s) is not in the config (0..%d)", id, how, n-1)
		}
		return id, how, nil
	}
	if flag >= 0 {
		return check(flag, "--id")
	}
	if ids := cfg.IDsForHost(hostnames...); len(ids) == 1 {
		return ids[0], "host name " + hostnames[0], nil
	} else if len(ids) > 1 {
		if v, name, ok := firstInt(localRankVars, getenv); ok {
			if v >= len(ids) {
				return 0, "", fmt.Errorf("%s=%d but the config has %d servers on host %s", name, v, len(ids), hostnames[0])
			}
			return ids[v], fmt.Sprintf("host name %s and %s=%d", hostnames[0], name, v), nil
		}
	}
	if v, name, ok := firstInt(rankVars, getenv); ok {
		return check(v, fmt.Sprintf("%s=%d", name, v))
	}
	return 0, "", fmt.Errorf("no server id: pass --id, list this host (%s) in the config's server addresses, or start ferryd with srun or mpiexec (%s)",
		strings.Join(hostnames, ", "), strings.Join(rankVars, ", "))
}

func firstInt(names []string, getenv func(string) string) (int, string, bool) {
	for _, name := range names {
		if v := getenv(name); v != "" {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
				return n, name, true
			}
		}
	}
	return 0, "", false
}

// hostNames is this machine's name (and its short form when it is fully
// qualified), then the addresses of its network interfaces, loopback
// left out: configs name servers either way.
func hostNames() []string {
	var names []string
	if h, err := os.Hostname(); err == nil && h != "" {
		names = append(names, h)
		if short, _, ok := strings.Cut(h, "."); ok {
			names = append(names, short)
		}
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() {
			names = append(names, ipn.IP.String())
		}
	}
	return names
}
