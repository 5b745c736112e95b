// Package ioserver is Ferry's I/O server: it stores the datafiles of
// striped files, runs the metadata service on the server the config names,
// and moves file bytes to and from clients by one of several strategies.
//
// Data flow of one connection:
//
//	TCP ──► conn.readLoop ──► header checked (proto) ──► control op ──► handler goroutine ──► reply
//	                                                 └─► data op ──► Job ──► Strategy.Read/Write ──► reply
//
// Strategies are values of one small interface (strategy.go); the
// `sockets` strategy streams bytes on the control connection with
// sendfile(2) for reads and pwrite for writes. Every client-supplied number
// is checked before it touches a file: handles are UUIDs, paths are
// clean, extents and bodies are inside their caps, and a bad request gets
// an error reply while the connection and the server go on.
package ioserver
