/*
 * ferry.h - the C interface of Ferry, a parallel file system for HPC.
 *
 * This header is the documentation: every call is described where it is
 * declared. The library is libferry (link with -lferry, or through
 * `pkg-config --cflags --libs ferry`, or CMake's `find_package(ferry)` and
 * the imported target `ferry::ferry`).
 *
 * OVERVIEW
 *
 *   ferry_init(NULL);                                   mount the file system
 *   int fh = ferry_open("/data/out", O_CREAT | O_WRONLY, 0644);
 *   ferry_pwrite(fh, buf, len, off);                    striped over the servers
 *   ferry_close(fh);
 *   ferry_finalize();                                   unmount
 *
 * RETURN VALUES
 *
 *   Every call that can fail returns a negative errno value on failure
 *   (-ENOENT, -EBADF, ...; the E* constants of <errno.h>) and 0, a byte
 *   count, a handle or a position (all >= 0) on success. Ferry never sets
 *   the C library's `errno`. ferry_strerror() turns a negative return into
 *   text. Errors common to every call:
 *
 *     -ENXIO     the library is not initialized: called before ferry_init()
 *                or after the matching ferry_finalize().
 *     -EBADF     fh is not an open handle (never returned by ferry_open, or
 *                already closed), or the handle's access mode forbids the
 *                call (read on O_WRONLY, write on O_RDONLY).
 *     -EFAULT    a required pointer argument is NULL.
 *     -EINVAL    an invalid argument: a path that is not absolute, has "."
 *                or ".." or empty components, or is not UTF-8; a negative
 *                offset; unknown flags.
 *     -ENAMETOOLONG  a path component longer than 255 bytes, or a path
 *                longer than 4096.
 *     -EIO       a server failed, or an error with no better errno.
 *     -ETIMEDOUT, -ECONNREFUSED, -ECONNRESET ...  network failures.
 *     -EBADMSG, -E2BIG  a malformed or oversized protocol frame (client
 *                and server of different versions, or a bug).
 *
 * PERMISSIONS
 *
 *   The servers check every call against the calling user's uid, gid and
 *   groups with POSIX rules: search permission on every directory of a
 *   path, write and search on the parent to create, remove or rename a
 *   name, only the entry's or the directory's owner removes or renames in
 *   a sticky (S_ISVTX) directory, read or write permission to open a file
 *   for that access. Refusals are -EACCES, or -EPERM for what only an
 *   owner or root may do (chmod, chown, sticky directories). An open
 *   handle keeps the access it was opened with; a handle on a file that
 *   was since removed fails with -ESTALE.
 *
 * PATHS
 *
 *   Paths are absolute in Ferry's namespace ("/dir/file"); there is no
 *   current directory. A leading "ferry:" is accepted and ignored, so
 *   MPI-IO style names ("ferry:/dir/file") work everywhere. Path strings
 *   are only read during the call; the caller keeps ownership. As on
 *   Linux, a trailing "/" says the path names a directory: a call that
 *   finds a file there fails with -ENOTDIR, and ferry_open with O_CREAT
 *   fails with -EISDIR. A name longer than FERRY_NAME_MAX (255) bytes or a
 *   path longer than 4096 bytes gives -ENAMETOOLONG.
 *
 * HANDLES
 *
 *   A file handle (fh) is a small integer >= 0, like a POSIX descriptor but
 *   in its own numbering (not usable with read(2) and friends). A closed
 *   handle's number is reused by a later ferry_open, lowest first. A
 *   directory handle (dh, from ferry_opendir) is numbered separately.
 *
 * BUFFERS
 *
 *   I/O buffers are only used during the call: Ferry reads from (pwrite) or
 *   writes into (pread) the caller's memory in place, without a copy, and
 *   keeps no reference once the call returns. The caller owns every buffer
 *   before, during and after the call, and may free or reuse it as soon as
 *   the call returns. Do not change a buffer while a call that uses it runs.
 *
 *   This holds for calls that fail too, -ETIMEDOUT included, even though a
 *   server may still be working on a request the client gave up on:
 *
 *   - Every data request tells the server how long it may take (the
 *     client's timeout less a margin for the trip). Past that budget the
 *     server starts no transfer into or out of the caller's memory, and
 *     drops a client whose transfers do not complete.
 *   - On fabrics whose registrations the client can revoke (tcp, and RDMA
 *     NICs), a call that fails revokes its buffer's registration before it
 *     returns: a transfer still in flight then fails instead of touching
 *     the buffer.
 *   - On shm (memory of processes on the same host) a registration cannot
 *     be revoked, so the budget alone keeps the promise. The one exception:
 *     a transfer the server had already started before its budget ended,
 *     whose copy the server's host then stalled past the margin (2 s by
 *     default; the server process stopped or starved of CPU in mid-copy),
 *     can still land after the call returned.
 *
 * THREADS
 *
 *   Every call is thread-safe: any thread may call any function at any time,
 *   with the same or different handles, unless a function's description
 *   says otherwise. Concurrent ferry_pread/ferry_pwrite calls on one handle
 *   run in parallel. Calls that use a handle's position (ferry_read,
 *   ferry_write, ferry_lseek) and writes to an O_APPEND handle are
 *   serialized per handle. Writes to overlapping ranges that run at the
 *   same time leave the range with bytes from either write, possibly mixed
 *   per strip.
 *
 *   Closing a handle while another thread uses it is safe (no crash): the
 *   other call either completes or returns -EBADF. Likewise ferry_finalize
 *   while calls run makes them fail with an error, never crash.
 *
 * FORK
 *
 *   The library cannot be used in a child process after fork(): the Go
 *   runtime under it does not survive a fork. In the child every call,
 *   ferry_init too, returns -ENXIO at once (ferry_version the string it
 *   returned before the fork, if any), and handles inherited from the
 *   parent are unusable. A child that execs starts afresh. The parent is
 *   not affected.
 *
 * CONSISTENCY
 *
 *   A successful ferry_pwrite means every server holds its part of the data
 *   (in memory); any client's later read sees it. ferry_fsync makes it
 *   durable. There is no client-side cache.
 *
 * PLATFORM
 *
 *   64-bit Linux. off_t must be 64 bits (it is on every 64-bit Linux ABI).
 */
#ifndef FERRY_H
#define FERRY_H

#include <errno.h>     /* the E* values the calls return negated */
#include <stddef.h>    /* size_t */
#include <stdint.h>    /* int64_t, uint32_t */
#include <sys/types.h> /* ssize_t, off_t, mode_t, uid_t, gid_t */
#include <sys/uio.h>   /* struct iovec, for ferry_preadv and ferry_pwritev */
#include <fcntl.h>     /* O_* flags for ferry_open */

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Version
 * ------------------------------------------------------------------------ */

/* The version of this header, as numbers and as a string. */
#define FERRY_VERSION_MAJOR 0
#define FERRY_VERSION_MINOR 1
#define FERRY_VERSION_PATCH 0
#define FERRY_VERSION "0.1.0"

/* FERRY_VERSION_NUM = major * 10000 + minor * 100 + patch, for #if. */
#define FERRY_VERSION_NUM \
  (FERRY_VERSION_MAJOR * 10000 + FERRY_VERSION_MINOR * 100 + FERRY_VERSION_PATCH)

/*
 * ferry_version - the version of the library linked at run time.
 *
 * Returns a static, NUL-terminated string: the release, then "+" and the
 * commit it was built from when known, e.g. "0.1.0+1a2b3c4d5e6f" (the same
 * string `ferry --version` and `ferryd --version` print). The part before
 * any "+" equals FERRY_VERSION of the matching header: compare that part
 * to detect a header/library mismatch. Never fails; may be called before
 * ferry_init. Thread-safe. The caller must not free it.
 */
const char *ferry_version(void);

/* ------------------------------------------------------------------------
 * Library lifetime
 * ------------------------------------------------------------------------ */

/*
 * ferry_init - mount the file system.
 *
 * config_path: the TOML config file (as written by `ferry local up`), or
 *   NULL (or "") to use $FERRY_CONFIG (as set when ferry_init is called),
 *   then the first that exists of ./.ferry-local/ferry.toml (relative to
 *   the current directory), $XDG_CONFIG_HOME/ferry/ferry.toml (default
 *   ~/.config/ferry/ferry.toml) and /etc/ferry/ferry.toml.
 *   Read during the call only.
 *
 * Connects to the first server of the config that answers and learns the
 * server list from it (a metadata server that does not answer shows at
 * the first call that needs it). Calls nest: a call while the library is initialized only
 * counts one more user (its config_path is ignored) and returns 0; each
 * successful ferry_init must be matched by one ferry_finalize. This lets a
 * program and a library it uses (the MPI-IO layer) both init and finalize.
 *
 * The data path follows the same environment variables as the ferry CLI,
 * read (like $FERRY_CONFIG) when ferry_init is called: FERRY_PROVIDER,
 * FERRY_FABRIC_IFACE, FERRY_STRATEGY, FERRY_REGCACHE (on, off, fast),
 * FERRY_REGCACHE_MAX_ENTRIES, FERRY_REGCACHE_MAX_BYTES,
 * FERRY_REGCACHE_USER_MODE_ONLY, FERRY_HUGE_PAGES ("on", the default:
 * before a buffer is first registered, the whole 2 MiB pages inside it are
 * advised for transparent huge pages, madvise(MADV_HUGEPAGE), so pages not
 * touched yet come as huge pages, which RDMA moves faster; "off": page
 * sizes are left alone), FERRY_SPIN_WAIT (how long a small
 * read or write polls for its reply before the thread sleeps: a duration
 * such as "100us", the default, or "off" where ranks outnumber cores),
 * FERRY_EAGER_THRESHOLD (requests to one server smaller than this size,
 * such as "64k", travel on the control connection instead of by RDMA;
 * default 1 MiB on shm, 16 KiB on networked providers; "1": none) and
 * FERRY_LOCAL_READS ("on", the default unless FERRY_STRATEGY names a
 * strategy other than auto: a read of data held by a server on this host
 * is made by the calling thread itself from the page cache, through a
 * read-only descriptor of the server's datafile that the server passes at
 * the file's first read; "off": every read is a request to the servers).
 * The library then holds up to 1024 such descriptors, one per server on
 * this host per open file (a quarter of RLIMIT_NOFILE where that is less;
 * past it reads are requests); ferry_close releases a file's,
 * ferry_finalize every one. A program that passes descriptors to select(2)
 * and opens many files may want "off": the library's descriptors can push
 * its own past FD_SETSIZE.
 *
 * libfabric is loaded when the first fabric is opened, not when libferry
 * is. Before it, unless they are in the process already, stand-ins for
 * libfabric's PSM dependencies (libpsm2.so.2, libpsm_infinipath.so.1;
 * installed in <libdir>/ferry/) are loaded in their place: the real ones
 * spend some 200 ms at load calibrating the clock, and Ferry uses no PSM
 * provider. A program that uses Omni-Path or True Scale PSM through
 * another library, loaded after its first Ferry call, sets
 * FERRY_PSM_STUBS=off (read at that first fabric open) to load the real
 * libraries instead. While libfabric initializes (its first fi_getinfo),
 * the fopen it imports refuses /proc/kallsyms, which its verbs provider
 * would read twice (100 ms) to learn about GPU memory registration that
 * Ferry does not use; a program that registers GPU memory through the
 * same libfabric after its first Ferry call sets
 * FERRY_LIBFABRIC_KALLSYMS=on. A libfabric already in the process when
 * the first fabric is opened (loaded by MPI, say) is left as it is.
 *
 * Returns 0 on success, or:
 *   -ENOENT   no config: config_path is NULL, $FERRY_CONFIG is unset and
 *             ./.ferry-local/ferry.toml does not exist; or the file named
 *             does not exist.
 *   -EINVAL   the config file is malformed, or one of the variables above
 *             has a value that does not parse.
 *   -EISDIR, -EACCES ...  the config file cannot be read (the errno of
 *             reading it).
 *   -ECONNREFUSED, -ETIMEDOUT, -EIO ...  no server of the config answers.
 *
 * Thread-safe; concurrent calls are serialized.
 */
int ferry_init(const char *config_path);

/*
 * ferry_finalize - unmount.
 *
 * Drops one user counted by ferry_init. The last one closes every handle
 * still open (file and directory) and every connection; afterwards every
 * call except ferry_version, ferry_strerror and ferry_init returns -ENXIO.
 * ferry_init may be called again later.
 *
 * Returns 0, or -ENXIO if the library is not initialized.
 * Thread-safe. Calls running in other threads fail with an error.
 */
int ferry_finalize(void);

/* ------------------------------------------------------------------------
 * Opening and closing files
 * ------------------------------------------------------------------------ */

/*
 * struct ferry_layout - how a new file is striped.
 *
 * strip_size:   bytes per strip (a unit of round-robin distribution); 0 for
 *               the file system's default (the config's strip_size). Must
 *               be a valid strip size for the servers (4 KiB to 1 GiB; a
 *               power of two in that range is always safe), else
 *               ferry_open_layout returns -EINVAL.
 * server_count: number of servers the file spans; 0 for the default (the
 *               config's strip_count, or all servers). At most the number
 *               of servers, else -EINVAL.
 * reserved:     must be 0 (-EINVAL otherwise); room for future hints.
 */
struct ferry_layout {
  int64_t strip_size;
  int32_t server_count;
  int32_t reserved;
};

/*
 * ferry_open - open or create a file.
 *
 * path:  the file's path (see PATHS).
 * flags: exactly one of O_RDONLY, O_WRONLY, O_RDWR, OR'ed with any of
 *          O_CREAT   create the file if it does not exist, with mode;
 *          O_EXCL    with O_CREAT: fail with -EEXIST if the name exists;
 *          O_TRUNC   set the size to 0 (needs O_WRONLY or O_RDWR, else
 *                    -EINVAL);
 *          O_APPEND  every write (ferry_write and ferry_pwrite, as on
 *                    Linux) goes to the current end of the file. The end
 *                    is read from the servers before each write, so appends
 *                    from several handles or clients at once may overwrite
 *                    each other; appends on one handle are serialized.
 *        O_CLOEXEC, O_NOCTTY and O_LARGEFILE are accepted and ignored
 *        (O_LARGEFILE also as the kernel's own bit, which fcntl(F_GETFL)
 *        reports on 64-bit systems where <fcntl.h> defines it as 0). Any
 *        other flag (O_DIRECT, O_SYNC, O_DIRECTORY, ...) gives -EINVAL.
 *        <fcntl.h> defines O_DIRECT and O_LARGEFILE only with _GNU_SOURCE.
 * mode:  permission bits (with S_ISUID, S_ISGID, S_ISVTX) for a file
 *        O_CREAT creates (0 means 0644), used as given (no umask); ignored
 *        otherwise. The servers enforce them: opening for reading needs
 *        read permission, for writing write permission (the creator may
 *        do both on the file it creates, whatever the mode), creating
 *        needs write and search permission on the parent directory.
 *
 * The handle's position (for ferry_read/ferry_write) starts at 0.
 *
 * Returns a handle >= 0, or:
 *   -ENOENT   the file does not exist and O_CREAT was not given, or a
 *             parent directory does not exist.
 *   -EEXIST   O_CREAT | O_EXCL and the name exists.
 *   -EISDIR   the path is a directory, or ends in "/" with O_CREAT.
 *   -ENOTDIR  a parent component is a file, or the path ends in "/" and
 *             names a file.
 *   -EACCES   the file's mode does not allow the access asked for, or a
 *             directory on the way does not allow search, or O_CREAT
 *             needs to create in a directory the caller may not write.
 *   -EINVAL   bad flags or path.
 *   -EFAULT   path is NULL.
 *   -EMFILE   too many open handles (more than 1048576).
 *   -ENXIO    not initialized.
 */
int ferry_open(const char *path, int flags, mode_t mode);

/*
 * ferry_open_layout - ferry_open with striping hints for a new file.
 *
 * hints: the layout the file gets if this call creates it (O_CREAT and the
 *        name did not exist); ignored when the file already exists. NULL
 *        means the defaults, like ferry_open. Read during the call only.
 *
 * Returns as ferry_open, and -EINVAL for hints the servers cannot honour
 * (a strip size they reject, more servers than there are, a negative
 * value, reserved not 0); with O_CREAT even if the file exists. Without
 * O_CREAT only a negative value and reserved not 0 are refused.
 * ferry_fstat tells the layout a file actually has.
 */
int ferry_open_layout(const char *path, int flags, mode_t mode,
                      const struct ferry_layout *hints);

/*
 * ferry_close - close a handle.
 *
 * Frees the handle number for reuse. Data written is already on the
 * servers; close does not fsync (call ferry_fsync for durability).
 *
 * Returns 0, or -EBADF if fh is not open, -ENXIO if not initialized.
 */
int ferry_close(int fh);

/* ------------------------------------------------------------------------
 * Data
 * ------------------------------------------------------------------------ */

/*
 * ferry_pread - read at an offset.
 *
 * Reads up to count bytes at offset into buf, in parallel from every
 * server that holds part of the range. Does not use or move the handle's
 * position. Holes (never written ranges below the end) read as zeros.
 *
 * buf: caller-owned, at least count bytes, written during the call only
 *      (see BUFFERS). May be NULL only when count is 0.
 *
 * Returns the number of bytes read: count, or fewer if the file ends
 * before offset + count, or 0 if offset is at or past the end. Or:
 *   -EBADF    fh is not open, or was opened O_WRONLY.
 *   -EFAULT   buf is NULL and count > 0.
 *   -EINVAL   offset < 0, or count > SSIZE_MAX.
 *   -EIO ...  a server failed; the contents of buf are then undefined.
 */
ssize_t ferry_pread(int fh, void *buf, size_t count, off_t offset);

/*
 * ferry_pwrite - write at an offset.
 *
 * Writes count bytes from buf at offset, in parallel to every server that
 * holds part of the range; the file grows as needed. Does not use or move
 * the handle's position (except that on an O_APPEND handle the data goes to
 * the end of the file, whatever offset says).
 *
 * buf: caller-owned, at least count bytes, read during the call only.
 *      May be NULL only when count is 0.
 *
 * Returns count once every server holds its part, or:
 *   -EBADF    fh is not open, or was opened O_RDONLY.
 *   -EFAULT   buf is NULL and count > 0.
 *   -EINVAL   offset < 0, or count > SSIZE_MAX.
 *   -EFBIG    the range ends past Ferry's largest file size (1 PiB);
 *             nothing is written.
 *   -EIO ...  a server failed; some of the range may have been written.
 */
ssize_t ferry_pwrite(int fh, const void *buf, size_t count, off_t offset);

/*
 * struct ferry_segment - a byte range of a file: one entry of the file
 * request list of ferry_preadv and ferry_pwritev.
 *
 * offset: where the range starts in the file (>= 0).
 * length: its bytes (>= 0; 0 moves nothing).
 */
struct ferry_segment {
  int64_t offset;
  int64_t length;
};

/*
 * ferry_preadv - read a list of file ranges into a list of buffers.
 *
 * List I/O: the bytes of the file segments segs[0..nsegs), in list
 * order, fill the memory pieces iov[0..iovcnt), in list order, as PVFS2's
 * file and memory requests or an MPI-IO file view and buffer datatype do.
 * The two lists must hold the same number of bytes; a segment and a piece
 * need not line up. Segments may come in any order and may overlap.
 *
 * The whole list becomes one request per server (more only past 4 MiB or
 * 16384 ranges per server), sent to all servers in parallel, and the
 * servers write straight into the buffers. Buffers close together in
 * memory (as the elements of a datatype in one allocation) are registered
 * together, once; buffers far apart cost a request per server for each
 * group of them. Does not use or move the handle's position.
 *
 * iov, iovcnt: the memory pieces (struct iovec of <sys/uio.h>); an
 *   iov_base may be NULL only when its iov_len is 0. The buffers are
 *   caller-owned and written during the call only (see BUFFERS); the
 *   array is read during the call only. iov may be NULL when iovcnt is 0.
 * segs, nsegs: the file segments, read during the call only. segs may be
 *   NULL when nsegs is 0.
 *
 * Returns the bytes of the list that come before its first byte at or
 * past the end of the file: all of them, or fewer (0 if the first
 * segment starts past the end). Holes below the end read as zeros; the
 * buffer bytes of the part past the end are undefined (left as they
 * were, zeroed, or holding bytes of later segments that are below it).
 * Or:
 *   -EBADF    fh is not open, or was opened O_WRONLY.
 *   -EFAULT   iov or segs is NULL with a count > 0, or an iov_base is NULL
 *             with an iov_len > 0.
 *   -EINVAL   iovcnt or nsegs < 0; a segment with a negative offset or
 *             length; the lists hold different numbers of bytes, or more
 *             than SSIZE_MAX. (What lies past Ferry's largest file size,
 *             1 PiB, is past the end of any file, as for ferry_pread.)
 *   -EIO ...  a server failed; the contents of the buffers are then
 *             undefined.
 *
 * Thread-safe, as ferry_pread: list calls on one handle run in parallel.
 */
ssize_t ferry_preadv(int fh, const struct iovec *iov, int iovcnt,
                     const struct ferry_segment *segs, int nsegs);

/*
 * ferry_pwritev - write a list of buffers to a list of file ranges.
 *
 * List I/O, the mirror of ferry_preadv: the bytes of the memory pieces
 * iov[0..iovcnt), in list order, go to the file segments segs[0..nsegs),
 * in list order; the two lists must hold the same number of bytes. The
 * file grows as needed. One request per server as for ferry_preadv; the
 * servers read straight from the buffers. Where segments overlap, the
 * overlap ends up holding bytes of either. Does not use or move the
 * handle's position.
 *
 * iov, iovcnt, segs, nsegs: as for ferry_preadv; the buffers are read
 *   during the call only.
 *
 * Returns the number of bytes of the list once every server holds its
 * part, or:
 *   -EBADF    fh is not open, or was opened O_RDONLY.
 *   -EFAULT   as ferry_preadv.
 *   -EINVAL   as ferry_preadv, and on an O_APPEND handle (a list of
 *             offsets has no meaning where every write goes to the end).
 *   -EFBIG    a segment ends past Ferry's largest file size (1 PiB), as
 *             for ferry_pwrite; nothing is written.
 *   -EIO ...  a server failed; some of the segments may have been
 *             written.
 *
 * Thread-safe, as ferry_pwrite.
 */
ssize_t ferry_pwritev(int fh, const struct iovec *iov, int iovcnt,
                      const struct ferry_segment *segs, int nsegs);

/*
 * ferry_read - read at the handle's position and advance it.
 *
 * Like ferry_pread(fh, buf, count, position); the position moves by the
 * bytes read. Calls on one handle that use its position are serialized.
 * Returns and errors as ferry_pread.
 */
ssize_t ferry_read(int fh, void *buf, size_t count);

/*
 * ferry_write - write at the handle's position and advance it.
 *
 * Like ferry_pwrite(fh, buf, count, position); the position moves by
 * count. On an O_APPEND handle the data goes to the end of the file and
 * the position becomes the new end. Returns and errors as ferry_pwrite.
 */
ssize_t ferry_write(int fh, const void *buf, size_t count);

/*
 * ferry_lseek - set the handle's position.
 *
 * whence: SEEK_SET (offset from 0), SEEK_CUR (from the position) or
 *         SEEK_END (from the file's size, read from the servers).
 *         The position may go past the end of the file; a later write
 *         there leaves a hole that reads as zeros.
 *
 * Returns the new position (>= 0), or:
 *   -EINVAL   an unknown whence, or the position would be negative.
 *   -EOVERFLOW the position would not fit an off_t.
 *   -EBADF    fh is not open.
 */
off_t ferry_lseek(int fh, off_t offset, int whence);

/*
 * ferry_fsync - make the file's data durable.
 *
 * Every byte written to the file so far (through any handle or client) is
 * on stable storage on every server when it returns 0. Allowed on any
 * access mode. Returns 0, -EBADF, or -EIO ... if a server failed.
 */
int ferry_fsync(int fh);

/*
 * ferry_ftruncate - set the file's size.
 *
 * Bytes past length are dropped; if the file grows, the new part reads as
 * zeros. The handle's position does not change.
 *
 * Returns 0, or:
 *   -EBADF    fh is not open.
 *   -EINVAL   length < 0, or the handle was opened O_RDONLY (as Linux).
 *   -EFBIG    length is past Ferry's largest file size (1 PiB), or a
 *             server's own file system cannot hold its share of a file
 *             that long (ext4's limit per file is 16 TiB).
 */
int ferry_ftruncate(int fh, off_t length);

/*
 * ferry_get_size - the file's current size.
 *
 * size: out, caller-owned; set only on success.
 *
 * The size is the end of the last byte written (or the truncated size) as
 * the servers know it now, asked from every server the file spans.
 * Returns 0, -EBADF, -EFAULT (size is NULL), or -EIO ...
 */
int ferry_get_size(int fh, int64_t *size);

/*
 * ferry_fetch_add - atomically add to the file's shared counter.
 *
 * Every file has one 64-bit counter on the metadata server, shared by all
 * clients and handles of the file; it is 0 for a new file and lives as
 * long as the file. ferry_counter_new makes others, shared only by those
 * given their id (MPI-IO's shared file pointers).
 *
 * delta: added to the counter (may be negative or 0, to read it).
 * old:   out, caller-owned: the value before the addition. May be NULL.
 *
 * Returns 0, or:
 *   -EBADF      fh is not open.
 *   -EINVAL     the counter would go below 0 (it is an offset).
 *   -EOVERFLOW  the sum does not fit in 64 bits.
 *   -EIO ...    the counter is unchanged, or, if the connection broke,
 *               it cannot be known whether the addition happened.
 * The counter is unchanged after -EINVAL and -EOVERFLOW.
 */
int ferry_fetch_add(int fh, int64_t delta, int64_t *old);

/*
 * ferry_set_counter - set the file's shared counter (see ferry_fetch_add).
 *
 * value: the counter's new value.
 * old:   out, caller-owned: the value before. May be NULL.
 *
 * Returns 0, -EBADF, -EINVAL (value < 0), or -EIO ...
 */
int ferry_set_counter(int fh, int64_t value, int64_t *old);

/*
 * ferry_counter_new - make a shared counter of the file apart from its
 * own (see ferry_fetch_add).
 *
 * The file's own counter is one for every client and handle of the file.
 * A made counter is shared only by those given its id: MPI-IO makes one
 * per collective open, as its shared file pointer, so that two opens of
 * one file do not move each other's. It lives until ferry_counter_free
 * or until the file is removed. Ids are random 64-bit numbers, never 0;
 * pass them between processes as they are.
 *
 * value: the counter's first value (>= 0).
 * id:    out, caller-owned: the new counter's id; set only on success.
 *
 * Returns 0, -EBADF, -EFAULT (id is NULL), -EINVAL (value < 0), or
 * -EIO ...
 */
int ferry_counter_new(int fh, int64_t value, uint64_t *id);

/*
 * ferry_counter_add - ferry_fetch_add on counter id (0: the file's own).
 *
 * Returns what ferry_fetch_add returns, and -ENOENT for an id that was
 * never made or was freed.
 */
int ferry_counter_add(int fh, uint64_t id, int64_t delta, int64_t *old);

/*
 * ferry_counter_set - ferry_set_counter on counter id (0: the file's own).
 *
 * Returns what ferry_set_counter returns, and -ENOENT for an id that was
 * never made or was freed.
 */
int ferry_counter_set(int fh, uint64_t id, int64_t value, int64_t *old);

/*
 * ferry_counter_free - remove counter id, which ferry_counter_new made.
 *
 * Returns 0, -EBADF, -EINVAL (id is 0: the file's own counter stays),
 * -ENOENT (no such counter), or -EIO ...
 */
int ferry_counter_free(int fh, uint64_t id);

/* ------------------------------------------------------------------------
 * Attributes
 * ------------------------------------------------------------------------ */

/*
 * struct ferry_timespec - a time: seconds and nanoseconds since the Unix
 * epoch (like POSIX struct timespec, which strict C99 lacks).
 */
struct ferry_timespec {
  int64_t tv_sec;
  int64_t tv_nsec;
};

/*
 * struct ferry_stat - a file's or directory's attributes.
 *
 * size:         bytes (files); 0 for directories.
 * mode:         S_IFREG or S_IFDIR (see <sys/stat.h>) | permission bits
 *               with S_ISUID, S_ISGID, S_ISVTX.
 * uid, gid:     the owner's user and group ids (see ferry_chown).
 * atime, mtime, ctime: last access, data modification and attribute change.
 *               Reads do not move atime (as on a noatime mount): it is
 *               set at creation and by a change of times (through the
 *               mount, or ferry cp -p).
 * strip_size:   bytes per strip (files); 0 for directories.
 * server_count: servers the file spans (files); 0 for directories.
 * reserved:     zero; room for future fields.
 */
struct ferry_stat {
  int64_t size;
  uint32_t mode;
  uint32_t uid;
  uint32_t gid;
  int32_t server_count;
  int64_t strip_size;
  struct ferry_timespec atime;
  struct ferry_timespec mtime;
  struct ferry_timespec ctime;
  int64_t reserved[4];
};

/*
 * ferry_stat - a path's attributes.
 *
 * st: out, caller-owned; filled only on success.
 *
 * Returns 0, or -ENOENT, -ENOTDIR, -EINVAL (path), -EFAULT (path or st
 * NULL), -ENXIO, -EIO ...
 */
int ferry_stat(const char *path, struct ferry_stat *st);

/*
 * ferry_fstat - an open file's attributes (as ferry_stat, by handle).
 *
 * Returns 0, or -EBADF, -EFAULT (st NULL), -EIO ...
 */
int ferry_fstat(int fh, struct ferry_stat *st);

/* ------------------------------------------------------------------------
 * Namespace
 * ------------------------------------------------------------------------ */

/*
 * ferry_unlink - remove a file and its data on every server.
 *
 * Handles open on the file become unusable (their calls fail).
 * Returns 0 once the name is gone: a data server that cannot remove its
 * datafile then (it is down) does not make it fail; the datafile is left
 * as an orphan, a warning goes to stderr, and `ferry fsck --repair`
 * removes it later. An error means the name was not removed (or, after a
 * timeout, that whether it was is unknown).
 * Returns 0, or -ENOENT, -EISDIR (path is a directory: use ferry_rmdir),
 * -EINVAL, -EFAULT (path NULL), -ENXIO, -EIO ...
 */
int ferry_unlink(const char *path);

/*
 * ferry_mkdir - make a directory.
 *
 * mode: permission bits with S_ISUID, S_ISGID, S_ISVTX (0 means 0755),
 *       used as given (no umask). The directory belongs to the calling
 *       user; in a set-group-ID directory it takes the parent's group.
 * Returns 0, or -EEXIST (the name exists), -ENOENT (no parent), -ENOTDIR,
 * -EACCES (no write or search permission on the parent, or no search
 * permission on a directory on the way), -EINVAL, -EFAULT (path NULL),
 * -ENXIO, -EIO ...
 */
int ferry_mkdir(const char *path, mode_t mode);

/*
 * ferry_chmod - set a file's or directory's permission bits.
 *
 * mode: permission bits with S_ISUID, S_ISGID, S_ISVTX; nothing else.
 * Only the owner or root may. S_ISGID on a file is dropped when the
 * caller is not root and not in the file's group.
 * Returns 0, or -EPERM (not the owner), -ENOENT, -EACCES (search
 * permission), -EINVAL (other bits in mode, bad path), -EFAULT (path
 * NULL), -ENXIO, -EIO ...
 */
int ferry_chmod(const char *path, mode_t mode);

/*
 * ferry_chown - set a file's or directory's owner and group.
 *
 * owner, group: user and group ids; (uid_t)-1 or (gid_t)-1 leaves that
 * one as it is. Only root changes the owner; the owner may change the
 * group to one it is a member of. As on Linux, any change (root's too)
 * clears a file's S_ISUID, and its S_ISGID where the group may execute.
 * Returns 0, or -EPERM (not allowed), -ENOENT, -EACCES (search
 * permission), -EINVAL, -EFAULT (path NULL), -ENXIO, -EIO ...
 */
int ferry_chown(const char *path, uid_t owner, gid_t group);

/*
 * ferry_rmdir - remove an empty directory.
 *
 * Returns 0, or -ENOENT, -ENOTDIR (path is a file), -ENOTEMPTY, -EBUSY or
 * -EINVAL (the root), -EFAULT (path NULL), -ENXIO, -EIO ...
 */
int ferry_rmdir(const char *path);

/*
 * ferry_rename - move oldpath to newpath.
 *
 * A file at newpath is replaced (its data removed). Both strings are read
 * during the call only.
 * Returns 0, or -ENOENT (oldpath or newpath's parent missing), -EEXIST or
 * -ENOTEMPTY or -EISDIR (newpath is a directory), -EBUSY (either is the
 * root "/"), -EINVAL, -EFAULT (NULL), -ENXIO, -EIO ...
 */
int ferry_rename(const char *oldpath, const char *newpath);

/* ------------------------------------------------------------------------
 * Directories
 * ------------------------------------------------------------------------ */

/* The longest name of one path component, in bytes. */
#define FERRY_NAME_MAX 255

/* Entry types in struct ferry_dirent. */
#define FERRY_DT_REG 1 /* a file */
#define FERRY_DT_DIR 2 /* a directory */

/*
 * struct ferry_dirent - one directory entry.
 *
 * name: the entry's name (one component, no '/'), NUL-terminated.
 * type: FERRY_DT_REG or FERRY_DT_DIR.
 */
struct ferry_dirent {
  char name[FERRY_NAME_MAX + 1];
  int type;
};

/*
 * ferry_opendir - start listing a directory.
 *
 * Takes a snapshot of the directory's entries (in name order, without "."
 * and ".."); later changes to the directory do not show in this listing.
 *
 * Returns a directory handle >= 0 (its own numbering, not a file handle),
 * or -ENOENT, -ENOTDIR, -EINVAL, -EFAULT (path NULL), -EMFILE, -ENXIO,
 * -EIO ...
 */
int ferry_opendir(const char *path);

/*
 * ferry_readdir - the next entry of a listing.
 *
 * ent: out, caller-owned; filled when the call returns 1.
 *
 * Returns 1 when an entry was stored in ent, 0 at the end of the listing
 * (and on every later call), or -EBADF (dh not open), -EFAULT (ent NULL),
 * -ENXIO. Thread-safe, but threads sharing one dh each get different
 * entries.
 */
int ferry_readdir(int dh, struct ferry_dirent *ent);

/*
 * ferry_closedir - end a listing and free dh for reuse.
 *
 * Returns 0, or -EBADF (dh not open), -ENXIO.
 */
int ferry_closedir(int dh);

/* ------------------------------------------------------------------------
 * File system
 * ------------------------------------------------------------------------ */

/*
 * struct ferry_statfs - the file system's capacity: its servers' storage,
 * summed (what `ferry df` prints as the total).
 *
 * bytes:        total size of every server's storage.
 * bytes_free:   free bytes.
 * bytes_avail:  free bytes that unprivileged users may take.
 * files, files_free: inodes, total and free, of the server with the fewest
 *               free (every new file takes a datafile on each server it
 *               spans, so that server bounds how many more files fit).
 * servers:      the number of servers summed (all of them).
 * reserved:     zero; room for future fields.
 *
 * Servers whose storage shares one local file system are each counted.
 */
struct ferry_statfs {
  uint64_t bytes;
  uint64_t bytes_free;
  uint64_t bytes_avail;
  uint64_t files;
  uint64_t files_free;
  int32_t servers;
  int32_t reserved0;
  int64_t reserved[4];
};

/*
 * ferry_statfs - the file system's capacity and free space.
 *
 * st: out, caller-owned; filled only on success.
 *
 * Asks every server in parallel. Returns 0, or -EFAULT (st NULL), -ENXIO,
 * or the error of a server that did not answer (-ECONNREFUSED,
 * -ETIMEDOUT, -EIO ...): the call fails rather than report a partial sum.
 */
int ferry_statfs(struct ferry_statfs *st);

/* ------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------ */

/*
 * ferry_strerror - describe an error.
 *
 * err: a negative return value of a Ferry call (-ENOENT, ...). A positive
 *      errno is accepted too; 0 gives "Success".
 *
 * Returns a static, NUL-terminated English string that lives as long as
 * the program; the caller must not free or change it. Unknown values give
 * "Unknown error". Thread-safe; may be called before ferry_init.
 */
const char *ferry_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* FERRY_H */
