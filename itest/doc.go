// Package itest holds Ferry's integration tests: real ferryd processes on
// loopback, real datafiles, the Go client, checked against local files.
package itest
