// Package clientlib is Ferry's Go client: it mounts a file system (from a
// config file or any server's address), runs namespace operations on the
// metadata server, and does striped parallel I/O: a read or write is split
// by the file's layout and sent to every server involved at once.
//
// A File implements io.ReaderAt, io.WriterAt and io.Closer. Errors are
// *Error values naming the operation, the path and the server, and unwrap
// to syscall errnos, so errors.Is(err, fs.ErrNotExist) works; use after
// Close is fs.ErrClosed (EBADF at the C boundary).
//
// Contexts stop requests not yet sent: a call whose context is done
// returns its error at once, before anything goes to a server. A request
// already sent is waited for until its reply or the mount's Timeout,
// whatever its context says, data and namespace calls alike: a data
// reply may be writing into the caller's buffer, and replies on a
// connection are read in turn by the calls waiting on it.
package clientlib
