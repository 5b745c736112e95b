package ioserver

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/ferry-hpc/ferry/proto"
	"github.com/ferry-hpc/ferry/verbs"
)

// Strategy moves the bytes of one data request between a datafile and a
// client. Adding a strategy is one file and one line in strategies.
type Strategy interface {
	// Name is the strategy's name in configs, flags and counters.
	Name() string
	// Read delivers j.Lens[i] bytes of each extent to the client. A
	// strategy that sends its own reply (inline data) sets j.Replied.
	Read(ctx context.Context, j *Job) error
	// Write stores every extent's bytes from the client in j.File.
	Write(ctx context.Context, j *Job) error
}

// Job is one checked data request.
type Job struct {
	Req     *proto.IOReq
	Header  proto.Header
	File    *os.File  // nil on reads of a datafile this server lacks
	Size    int64     // datafile size when the request started
	Lens    []int64   // reads: bytes to deliver per extent, clamped to Size
	Body    io.Reader // inline writes: the extents' bytes, back to back
	Replied bool      // the strategy sent the reply itself
	Fabric  *fabric   // RDMA: the fabric the client chose
	Peer    verbs.Peer
	conn    *conn
	resp    proto.ReadResp
}

// strategies are the known strategies by name. "auto" picks per request.
var strategies = map[string]func(s *Server) Strategy{
	"sockets":  func(s *Server) Strategy { return socketsStrategy{} },
	"copy":     func(s *Server) Strategy { return bounceStrategy{name: "copy", depth: 1, s: s} },
	"pipeline": func(s *Server) Strategy { return bounceStrategy{name: "pipeline", depth: s.self.PipelineDepth, s: s} },
	"sendfile": func(s *Server) Strategy { return sendfileStrategy{s: s} },
}

// strategy returns the server's instance of a named strategy ("auto" too).
func (s *Server) strategy(name string) Strategy {
	if name == "" || name == "auto" {
		return autoStrategy{s: s}
	}
	return strategies[name](s)
}

// StrategyNames lists the valid strategy names, for flags and errors.
func StrategyNames() []string {
	names := []string{"auto"}
	for n := range strategies {
		names = append(names, n)
	}
	sort.Strings(names[1:])
	return names
}

// CheckStrategy returns an error listing the valid names when name is not one.
func CheckStrategy(name string) error {
	if name == "" || name == "auto" {
		return nil
	}
	if _, ok := strategies[name]; ok {
		return nil
	}
	return fmt.Errorf("unknown strategy %q (valid: %s)", name, strings.Join(StrategyNames(), ", "))
}
