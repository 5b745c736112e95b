// Package ioserver is Ferry's I/O server: it listens for clients, reads
// their framed requests, dispatches each by opcode through one handler
// table, and writes the replies. What it serves lives in two rooms below
// it:
//
//   - ioserver/data: the datafiles, their locks and registered mappings,
//     the fabrics' pools of bounce buffers, and the strategies that move
//     a request's bytes (sockets, copy, pipeline, sendfile, auto);
//   - ioserver/meta: the namespace, on the server the config names as the
//     metadata server.
//
// Data flow of one connection:
//
//	TCP ──► conn.readLoop ──► header checked (proto) ──► handlers[op] (own goroutine) ──► reply
//	                                                  └─► OpWrite: handleWrite, in line (its bytes follow)
//	read/write ──► data.Service ──► strategy ──► Result ──► reply frame (inline bytes streamed after it)
//
// The server also keeps the per-connection peer table: the fabric
// addresses a client sent in its hello, which its RDMA requests use. Every
// client-supplied number is checked before it touches a file: handles are
// UUIDs, paths are clean, extents and bodies are inside their caps, layouts
// fit this file system, and a bad request gets an error reply (errno by
// internal/errno) while the connection and the server go on.
package ioserver
