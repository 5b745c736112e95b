// Package clientlib is Ferry's Go client: it mounts a file system (from a
// config file or any server's address), runs namespace operations on the
// metadata server, and does striped parallel I/O: a read or write is split
// by the file's layout and sent to every server involved at once.
//
// A File implements io.ReaderAt, io.WriterAt and io.Closer. Errors are
// *Error values naming the operation, the path and the server, and unwrap
// to syscall errnos, so errors.Is(err, fs.ErrNotExist) works.
package clientlib
