package main

import (
	"strings"
	"testing"

	"github.com/ferry-hpc/ferry/config"
)

func TestResolveID(t *testing.T) {
	cfg := &config.Config{Servers: []config.Server{
		{Address: "node01:7000"}, {Address: "node02:7000"}, {Address: "node02:7001"}, {Address: "10.0.0.4:7000"},
	}}
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	cases := []struct {
		name  string
		flag  int
		hosts []string
		env   func(string) string
		want  int
		err   string
	}{
		{"flag wins", 2, []string{"node01"}, env("SLURM_PROCID", "3"), 2, ""},
		{"flag out of range", 9, nil, env(), 0, "not in the config"},
		{"host name", -1, []string{"node01.cluster", "node01"}, env("PMI_RANK", "3"), 0, ""},
		{"host address", -1, []string{"c5", "10.0.0.4"}, env(), 3, ""},
		{"two on this host: local rank", -1, []string{"node02"}, env("MPI_LOCALRANKID", "1", "PMI_RANK", "0"), 2, ""},
		{"slurm rank", -1, []string{"login1"}, env("SLURM_PROCID", "1", "PMI_RANK", "2"), 1, ""},
		{"pmi rank", -1, []string{"login1"}, env("PMI_RANK", "2"), 2, ""},
		{"open mpi rank", -1, []string{"login1"}, env("OMPI_COMM_WORLD_RANK", "3"), 3, ""},
		{"rank beyond servers", -1, []string{"login1"}, env("PMI_RANK", "4"), 0, "PMI_RANK=4"},
		{"nothing", -1, []string{"login1"}, env(), 0, "pass --id"},
	}
	for _, c := range cases {
		id, how, err := resolveID(cfg, c.flag, c.hosts, c.env)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: id %d (%s), err %v; want an error with %q", c.name, id, how, err, c.err)
		case c.err == "" && (err != nil || id != c.want):
			t.Errorf("%s: id %d (%s), err %v; want %d", c.name, id, how, err, c.want)
		}
	}
}
