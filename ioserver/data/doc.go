// Package data is the data room of Ferry's I/O server: the datafiles that
// hold each file's strips on this server, the locks and registered
// mappings on them, the pool of registered bounce buffers of each fabric,
// and the strategies that move a request's bytes between a datafile and
// a client.
//
//	Service.Read/Write ──► pick strategy ──► job + env ──► strategy ──► Result
//	                                                      │
//	                                      rma.go: every call into verbs
//
// A strategy sees only its env (pool and endpoint of the request's fabric,
// the client's peer, mappings and file locks, counters, logger, timeout,
// the other strategies) and returns what it moved; the connection layer
// (package ioserver) writes every reply. The sockets strategy hands back a
// function that streams its bytes with sendfile(2) onto the connection,
// which the connection layer calls after it wrote the reply's header.
//
// Adding a strategy is one file with a type that implements strategy and
// one line in the strategies table (strategy.go); its name goes in
// proto.StrategyNames, and a test holds the table and the names equal.
package data
