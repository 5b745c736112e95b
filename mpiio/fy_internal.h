/* fy_internal.h - what the files of libferry-mpiio share with each other
 * and with the generated entry points (fy_gen.c). Nothing here is
 * exported.
 *
 * The library, one concept per file:
 *   registry.c  which MPI_File values are Ferry's; Fortran handles; the
 *               lookup of the MPI library's originals
 *   errors.c    error codes, classes and messages; error handlers
 *   dtype.c     datatypes flattened into (offset, length) runs
 *   file.c      libferry's lifetime; open, close, delete; size, sync,
 *               modes, info, atomicity
 *   view.c      file views, positions, seeks
 *   hints.c     the ROMIO hints a file honours; aggregators; get_info
 *   mem.c       the memory side of an access as pieces in stream order;
 *               per-file scratch buffers
 *   io.c        the data path every access takes; blocking accesses
 *   coll.c      collective buffering (two-phase I/O)
 *   sieve.c     data sieving for independent accesses
 *   lock.c      the lock sieved writes take
 *   requests.c  nonblocking accesses (generalized requests)
 *   split.c     split collective accesses (_begin / _end)
 */
#ifndef FY_INTERNAL_H
#define FY_INTERNAL_H

#include <mpi.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <ferry.h>

#define FY_HIDDEN __attribute__((visibility("hidden")))
#define FY_EXPORT __attribute__((visibility("default")))

/* ---- datatypes (dtype.c) ------------------------------------------------ */

/* fy_run: a byte range, relative to a datatype's origin. */
typedef struct {
  int64_t off, len;
} fy_run;

/* fy_runs: a growable list of runs, in typemap order. */
typedef struct {
  fy_run *r;
  size_t n, cap;
} fy_runs;

/* fy_runs_add appends [off, off+len), merging it with the last run when
 * they touch. 0, or -1 when out of memory. */
int fy_runs_add(fy_runs *rs, int64_t off, int64_t len) FY_HIDDEN;

/* fy_type_is_named: t is a predefined datatype (never freed). */
int fy_type_is_named(MPI_Datatype t) FY_HIDDEN;

/* fy_flatten appends the runs of one instance of t placed at base, in
 * typemap order, merging adjacent runs. 0, or -1 when out of memory. */
int fy_flatten(MPI_Datatype t, int64_t base, fy_runs *out) FY_HIDDEN;

/* fy_type_runs: the runs of one instance of dt. Derived types are
 * flattened once and the runs cached on the type (an attribute, freed
 * with it); predefined ones are computed into *tmp (free tmp->r after).
 * NULL when out of memory. */
const fy_runs *fy_type_runs(MPI_Datatype dt, fy_runs *tmp) FY_HIDDEN;

/* ---- scratch buffers and the memory side (mem.c) ------------------------- */

#define FY_SCRATCH_BUFS 12

/* fy_scratch: buffers an access reuses from call to call (a file's own,
 * or a temporary one when another thread holds the file's). */
typedef struct fy_scratch {
  struct ferry_segment *segs; /* file segments, in stream order */
  size_t nsegs, segs_cap;
  struct iovec *iov;          /* memory pieces, in stream order */
  size_t niov, iov_cap;
  uintptr_t mem_lo, mem_hi;   /* the lowest and highest byte of the pieces */
  char *stage;                /* staging buffer */
  size_t stage_cap;
  void *buf[FY_SCRATCH_BUFS]; /* collective buffering's (coll.c) */
  size_t cap[FY_SCRATCH_BUFS];
  int temp;                   /* not a file's own: freed by fy_scratch_put */
} fy_scratch;

/* fy_segs_add appends the file segment [off, off+len), merging it with
 * the last one when they touch. 0, or -1 when out of memory. */
int fy_segs_add(fy_scratch *s, int64_t off, int64_t len) FY_HIDDEN;

/* fy_mem_pieces lists the memory of count elements of dt at buf in s->iov,
 * in stream order, touching pieces merged. 0, or -1 when out of memory. */
int fy_mem_pieces(fy_scratch *s, const void *buf, MPI_Count count, MPI_Datatype dt) FY_HIDDEN;

/* fy_stage: s's staging buffer, grown to at least n bytes; NULL when out
 * of memory. */
char *fy_stage(fy_scratch *s, size_t n) FY_HIDDEN;

/* fy_cursor: a position in a list of memory pieces. */
typedef struct {
  const struct iovec *iov;
  size_t i;   /* piece */
  size_t off; /* byte in it */
} fy_cursor;

/* fy_cursor_copy moves n bytes between the memory at c and p (from p into
 * the memory when to_mem) and advances c past them. */
void fy_cursor_copy(fy_cursor *c, char *p, int64_t n, int to_mem) FY_HIDDEN;

/* ---- files (registry.c, file.c) ------------------------------------------ */

#define FY_MAGIC 0x46657272794d5049ull /* "FerryMPI" */

/* Values of the enable/disable/automatic hints. */
enum { FY_HINT_DISABLE, FY_HINT_ENABLE, FY_HINT_AUTO };

/* fy_hints: the hints in effect on a file (hints.c), the same on every
 * rank. */
typedef struct {
  int cb_read, cb_write, ds_read, ds_write; /* FY_HINT_* */
  int64_t cb_buffer_size;                   /* a multiple of strip_size */
  int64_t ind_rd_buffer_size, ind_wr_buffer_size;
  int cb_nodes;                             /* aggregators in use */
  char cb_config_list[256];
  int64_t strip_size;                       /* the file's layout */
  int server_count;
  int *aggr, naggr;                         /* aggregators' ranks in comm */
  int my_aggr;                              /* my index in aggr, or -1 */
} fy_hints;

/* fy_file: one open Ferry file. A Ferry MPI_File points to one. */
typedef struct fy_file {
  uint64_t magic;
  int fd;          /* ferry handle */
  MPI_Comm comm;   /* dup of the open's communicator */
  int rank, nprocs;
  int amode;
  char *path;      /* as given ("ferry:/...") */
  MPI_Info info;   /* hints given at open / set_info */
  MPI_Errhandler eh;
  int atomic;
  uint64_t shfp; /* the shared file pointer: this open's own counter (ferry_counter_new) */
  MPI_Fint fint;
  /* view */
  MPI_Offset disp;
  MPI_Datatype etype, filetype; /* dups (or predefined) */
  int64_t esize, ft_size, ft_extent;
  fy_runs runs;   /* one filetype instance */
  int64_t *pre;   /* pre[k]: data bytes before run k */
  int contig;     /* view is disp + a plain byte stream */
  MPI_Offset pos; /* individual file pointer, in etypes */
  /* hints and the job's nodes (hints.c) */
  fy_hints h;
  int *node_of, nnodes; /* node_of[rank]: node index */
  char **node_name;
  /* the lock of sieved writes (lock.c) */
  MPI_Win lock_win;
  int lock_ok;
  /* scratch buffers (mem.c), reused from call to call */
  pthread_mutex_t scratch_mu;
  fy_scratch scratch;
  /* split collectives */
  int split_active;
  int split_rc;
  MPI_Count split_bytes;
} fy_file;

#define FY(fh) ((fy_file *)(void *)(fh))

/* fy_lock guards the library's global tables (registry, error codes,
 * error handler functions, libferry's lifetime). */
extern pthread_mutex_t fy_lock FY_HIDDEN;

/* fy_scratch_get: f's scratch buffers, or (when another thread holds
 * them) a temporary set; NULL when out of memory. Give them back with
 * fy_scratch_put. */
fy_scratch *fy_scratch_get(fy_file *f) FY_HIDDEN;
void fy_scratch_put(fy_file *f, fy_scratch *s) FY_HIDDEN;

/* fy_scratch_free frees f's scratch buffers (at close). */
void fy_scratch_free(fy_file *f) FY_HIDDEN;

/* fy_registry_add makes f a live Ferry file and gives it a Fortran
 * handle. 0, or -1 when out of memory or Fortran handles. */
int fy_registry_add(fy_file *f) FY_HIDDEN;

/* fy_registry_del: f is no longer a Ferry file. */
void fy_registry_del(fy_file *f) FY_HIDDEN;

/* fy_is_ferry: fh is a live Ferry handle (in the registry). */
int fy_is_ferry(MPI_File fh) FY_HIDDEN;

/* fy_resolve: the next definition of sym after this library (the MPI
 * library's original); aborts if there is none. */
void *fy_resolve(const char *sym) FY_HIDDEN;

/* Every MPI_File_* name of the mpi.h this library was built against. */
extern const char *const fy_file_function_names[] FY_HIDDEN;

/* ---- errors (errors.c) -------------------------------------------------- */

/* fy_default_errhandler: the handler set on MPI_FILE_NULL, which new
 * files start with (MPI_ERRORS_RETURN until the program sets one). */
MPI_Errhandler fy_default_errhandler(void) FY_HIDDEN;

/* fy_eh_hold, fy_eh_release: a reference to a user file error handler
 * that a Ferry file holds (attached to it, or handed out by
 * MPI_File_get_errhandler), which the MPI library does not count since
 * Ferry files are not its files. MPI_Errhandler_free takes these first,
 * so a handler lives while anything refers to it. No-ops for the
 * predefined handlers. */
void fy_eh_hold(MPI_Errhandler eh) FY_HIDDEN;
void fy_eh_release(MPI_Errhandler eh) FY_HIDDEN;

/* fy_raise: pass code through f's error handler (or the default file
 * one when f is NULL) and return it. */
int fy_raise(fy_file *f, int code) FY_HIDDEN;

/* fy_fail: an error of class cls on f (NULL before open), described by
 * op, path (NULL: f's) and detail; goes through the error handler. */
int fy_fail(fy_file *f, int cls, const char *op, const char *path, const char *detail) FY_HIDDEN;

/* fy_fail_errno: a negative Ferry return as an MPI error (see fy_fail). */
int fy_fail_errno(fy_file *f, int err, const char *op, const char *path) FY_HIDDEN;

/* fy_unsupported: MPI_ERR_UNSUPPORTED_OPERATION through fh's error
 * handler, with a message naming fn. */
int fy_unsupported(MPI_File fh, const char *fn) FY_HIDDEN;

/* ---- views (view.c) ----------------------------------------------------- */

/* fy_view_set: f's view becomes (disp, etype, ftype), flattened once.
 * MPI_SUCCESS, MPI_ERR_TYPE or MPI_ERR_NO_MEM (f unchanged then). */
int fy_view_set(fy_file *f, MPI_Offset disp, MPI_Datatype etype, MPI_Datatype ftype) FY_HIDDEN;

/* fy_view_free frees f's view types and runs. */
void fy_view_free(fy_file *f) FY_HIDDEN;

/* fy_view_map: the file offset of view byte v, and in *avail the
 * contiguous bytes of the view there. */
int64_t fy_view_map(const fy_file *f, int64_t v, int64_t *avail) FY_HIDDEN;

/* fy_view_segments lists the file segments of view bytes [v, v+n) in
 * s->segs, in stream order, touching segments merged. 0, or -1 when out
 * of memory. */
int fy_view_segments(const fy_file *f, int64_t v, int64_t n, fy_scratch *s) FY_HIDDEN;

/* ---- data access (io.c, requests.c, split.c) ----------------------------- */

/* Where an access starts: an explicit offset, the individual file
 * pointer, the shared file pointer. POS_ORDERED: an ordered access's
 * offset, which the shared file pointer gave: explicit, yet allowed on
 * MPI_MODE_SEQUENTIAL files. */
enum { POS_EXPLICIT, POS_INDIVIDUAL, POS_SHARED, POS_ORDERED };

/* fy_set_status: st (unless MPI_STATUS_IGNORE) says nbytes moved. */
void fy_set_status(MPI_Status *st, MPI_Count nbytes) FY_HIDDEN;

/* fy_data_io: the one path of every read and write. off is in etypes for
 * POS_EXPLICIT; coll says the call is collective (every rank of the
 * file makes it). Returns an MPI error code (already through the error
 * handler) and the bytes moved in *moved. */
int fy_data_io(fy_file *f, const char *op, int wr, int how, MPI_Offset off, void *buf,
               MPI_Count count, MPI_Datatype dt, int coll, MPI_Count *moved) FY_HIDDEN;

/* ---- waiting in collectives (wait.c) ------------------------------------- */

/* fy_wait completes req, spinning briefly and then sleeping between
 * tests, so that a rank waiting in a collective leaves the CPU to the
 * ranks and servers that are still working. */
void fy_wait(MPI_Request *req) FY_HIDDEN;

/* The collectives of the data path, as their blocking MPI namesakes
 * (the same count and type on both sides where MPI allows two), waited
 * for with fy_wait. */
void fy_barrier(MPI_Comm comm) FY_HIDDEN;
void fy_allreduce(const void *in, void *out, int n, MPI_Datatype t, MPI_Op op, MPI_Comm comm) FY_HIDDEN;
void fy_allgather(const void *in, int n, MPI_Datatype t, void *out, MPI_Comm comm) FY_HIDDEN;
void fy_alltoall(const void *in, int n, MPI_Datatype t, void *out, MPI_Comm comm) FY_HIDDEN;
void fy_alltoallv(const void *in, const int *sc, const int *sd, MPI_Datatype st, void *out, const int *rc,
                  const int *rd, MPI_Datatype rt, MPI_Comm comm) FY_HIDDEN;

/* fy_coll_io: collective buffering of an access whose file segments and
 * memory pieces are in s (nbytes in all; none on some ranks). Collective.
 * Returns 1 when the hints and the access call for no collective
 * buffering (the same on every rank: each then accesses alone), else 0
 * with the bytes moved in *moved, or a negative errno (on every rank). */
int fy_coll_io(fy_file *f, fy_scratch *s, int wr, int64_t nbytes, int64_t *moved) FY_HIDDEN;

/* fy_sieve_wanted: the hints ask for data sieving of this independent
 * access (segments and pieces in s). */
int fy_sieve_wanted(const fy_file *f, const fy_scratch *s, int wr, int64_t nbytes) FY_HIDDEN;

/* fy_sieve moves the access in s by data sieving. Returns the bytes
 * moved (fewer at the end of the file on reads) or a negative errno. */
int64_t fy_sieve(fy_file *f, fy_scratch *s, int wr) FY_HIDDEN;

/* ---- hints (hints.c) and the lock of sieved writes (lock.c) ------------- */

/* fy_hints_apply makes f->info's hints the file's (rank 0's values) and
 * picks the aggregators. Collective. 0, or -1 when out of memory. */
int fy_hints_apply(fy_file *f) FY_HIDDEN;
void fy_hints_free(fy_file *f) FY_HIDDEN;

/* fy_info_merge adds info's keys to f->info (set_info, set_view). */
void fy_info_merge(fy_file *f, MPI_Info info) FY_HIDDEN;

/* fy_hints_report adds the hints in effect to info (MPI_File_get_info). */
void fy_hints_report(const fy_file *f, MPI_Info info) FY_HIDDEN;

/* fy_lock_init makes the lock (collective); 0, or -1 where MPI windows
 * cannot be made (f->lock_ok stays 0). fy_lock_free at close. */
int fy_lock_init(fy_file *f) FY_HIDDEN;
void fy_lock_free(fy_file *f) FY_HIDDEN;
void fy_lock_shared(fy_file *f) FY_HIDDEN;
void fy_unlock_shared(fy_file *f) FY_HIDDEN;
void fy_lock_excl(fy_file *f) FY_HIDDEN;
void fy_unlock_excl(fy_file *f) FY_HIDDEN;

/* fy_do_ordered: collective shared-pointer access in rank order. */
int fy_do_ordered(MPI_File fh, const char *op, int wr, const void *buf, MPI_Count count,
                  MPI_Datatype dt, MPI_Status *st) FY_HIDDEN;

#endif
