// Package fusefs serves a mounted Ferry file system (a *clientlib.Client)
// to the kernel through FUSE, so every program that opens files by path
// (ls, cp, tar, h5py, ncdump ...) can use it. It is built on
// github.com/hanwen/go-fuse/v2.
//
// # Data path
//
// Reads and writes go straight to clientlib's File: the kernel's request
// buffer is the buffer clientlib hands to the fabric, so a read lands in
// it by RMA and a write leaves from it, with no copy in between. Those
// buffers are go-fuse's pooled request buffers, reused from request to
// request, so the registration cache registers them once and then hits.
// Requests are up to 1 MiB (the kernel's largest FUSE request), reads are
// asynchronous (several readahead requests in flight), and the backing
// device's readahead is raised after mounting (Options.ReadAheadKB).
//
// # Consistency (close-to-open)
//
// Ferry has no leases or callbacks, so the kernel's caches are bounded by
// time and refreshed at open:
//
//   - names and attributes are cached for Options.EntryTimeout and
//     Options.AttrTimeout (1 s by default); a change made by another
//     client shows within that time, and at once in a directory listing;
//   - every open fetches the file's attributes from the servers and drops
//     the kernel's cached pages of that file, and drops its cached
//     attributes too if they changed: a file opened after another client
//     closed it (its writes returned) reads what that client wrote;
//   - writes are write-through: a write(2) returns once every server holds
//     the bytes, so close and flush have nothing left to send; fsync makes
//     them durable on the servers.
//
// Options.WritebackCache lets the kernel gather writes in its page cache
// instead; it is off by default because the kernel then trusts its own
// idea of the file's size and mtime, so it never sees another client grow
// or truncate a file it has cached, and write errors show only at fsync or
// close.
//
// # What is not POSIX
//
// No locks across clients (flock and fcntl locks are the kernel's, local
// to one mount); no hard links, symbolic links or special files (Ferry's
// namespace holds files and directories); O_APPEND writes from several
// clients at once are not atomic; a file unlinked while open loses its
// data at once, and so does a file that a rename replaces (its open
// descriptors then fail with ESTALE); a file another client renames while
// it is open keeps its data, size and appends through the descriptor, but
// a change of mode, owner or times through it (fchmod, futimens) fails
// with ESTALE, since such changes go by name; a directory's inode number
// comes from its path (directories have no handle), so it changes when
// the directory is renamed, and a new directory at the old name gets the
// old number; setting a file's mtime earlier than its last write does
// not show (a file's mtime is the later of the stored one and its
// datafiles'); permissions are checked by the kernel against the
// attributes the metadata server keeps (default_permissions), not by the
// servers. mmap works (shared writable mappings write back through the
// same path).
//
// # Errors
//
// Every call is bounded by the client's timeout: a dead server gives EIO
// (connection refused or reset), a hung one ETIMEDOUT, and the mount goes
// on working once the server is back. The full error, naming the server,
// goes to the log.
package fusefs
