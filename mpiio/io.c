/*
 * io.c - the data path every read and write takes, and the blocking
 * accesses (explicit offsets, individual and shared file pointers,
 * ordered, collective).
 *
 * An access is the view's file segments and the memory pieces of the
 * buffer and datatype, in stream order. Independently it is one list I/O
 * call (ferry_preadv / ferry_pwritev: one request per server, not one
 * per piece), or data sieving (sieve.c) where the hints ask for it;
 * memory in many tiny or scattered pieces goes through the file's
 * staging buffer. Collective accesses go through collective buffering
 * (coll.c) when the hints and the access call for it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ferry.h>

#include "fy_internal.h"
#include "fy_gen.h"

void fy_set_status(MPI_Status *st, MPI_Count nbytes) {
  if (st == MPI_STATUS_IGNORE) return;
  MPI_Status_set_elements_x(st, MPI_BYTE, nbytes);
  MPI_Status_set_cancelled(st, 0);
  st->MPI_SOURCE = MPI_UNDEFINED;
  st->MPI_TAG = MPI_UNDEFINED;
  st->MPI_ERROR = MPI_SUCCESS;
}

/* A memory piece list goes to Ferry as it is when its pieces average at
 * least this many bytes and lie within about twice their bytes of each
 * other (so libferry registers them as one window); otherwise the bytes
 * go through the staging buffer: every piece costs the servers at least
 * one extent of their own, a copy costs only its bytes. The thresholds
 * are starting points, not measurements: make bench-mpiio can tune
 * them. */
#define FY_MIN_PIECE 512
#define FY_SPAN_SLACK (1 << 20)

/* independent_io moves the access in s (file segments and memory pieces)
 * alone: by data sieving when the hints ask for it, else with one list
 * call. Returns the bytes moved (fewer at the end of the file on reads)
 * or a negative errno. */
static int64_t independent_io(fy_file *f, fy_scratch *s, int wr, int64_t nbytes) {
  if (fy_sieve_wanted(f, s, wr, nbytes)) return fy_sieve(f, s, wr);
  struct iovec one, *iov = s->iov;
  size_t niov = s->niov;
  int staged = niov > 1 && (nbytes / (int64_t)niov < FY_MIN_PIECE ||
                            (int64_t)(s->mem_hi - s->mem_lo) > 2 * nbytes + FY_SPAN_SLACK);
  fy_cursor c = {s->iov, 0, 0};
  if (staged) {
    one.iov_base = fy_stage(s, (size_t)nbytes);
    if (!one.iov_base) return -ENOMEM;
    one.iov_len = (size_t)nbytes;
    iov = &one;
    niov = 1;
    if (wr) fy_cursor_copy(&c, one.iov_base, nbytes, 0);
  }
  if (niov > INT32_MAX || s->nsegs > INT32_MAX) return -EINVAL;
  /* atomic mode: writes alone, reads beside reads (file.c); else, while
   * sieved writes may run, other writes must not slip into the ranges
   * they rewrite (lock.c) */
  int excl = f->atomic && wr, shared = !excl && (f->atomic || (wr && f->h.ds_write == FY_HINT_ENABLE));
  if (excl) fy_lock_excl(f);
  else if (shared) fy_lock_shared(f);
  ssize_t r = wr ? ferry_pwritev(f->fd, iov, (int)niov, s->segs, (int)s->nsegs)
                 : ferry_preadv(f->fd, iov, (int)niov, s->segs, (int)s->nsegs);
  if (excl) fy_unlock_excl(f);
  else if (shared) fy_unlock_shared(f);
  if (r > 0 && staged && !wr) fy_cursor_copy(&c, one.iov_base, r, 1);
  return r;
}

/* collective_io: every rank's share of a collective access: collective
 * buffering when the hints and the access call for it, else each rank's
 * own access, with a barrier after writes so that a collective read
 * right after sees every rank's data. */
static int64_t collective_io(fy_file *f, fy_scratch *s, int wr, int64_t nbytes) {
  int64_t moved = 0;
  int rc = fy_coll_io(f, s, wr, nbytes, &moved);
  if (rc < 0) return rc;
  if (rc == 1) {
    moved = nbytes ? independent_io(f, s, wr, nbytes) : 0;
    if (wr) fy_barrier(f->comm);
  }
  return moved;
}

/* fy_data_io: the one path of every read and write. */
int fy_data_io(fy_file *f, const char *op, int wr, int how, MPI_Offset off, void *buf,
               MPI_Count count, MPI_Datatype dt, int coll, MPI_Count *moved) {
  *moved = 0;
  int acc = f->amode & (MPI_MODE_RDONLY | MPI_MODE_WRONLY | MPI_MODE_RDWR);
  int cls = MPI_SUCCESS;
  MPI_Count tsize = 0; /* _x: a datatype may hold more than 2 GiB */
  const char *why = NULL;
  if (wr && acc == MPI_MODE_RDONLY) cls = MPI_ERR_READ_ONLY, why = "file opened MPI_MODE_RDONLY";
  else if (!wr && acc == MPI_MODE_WRONLY) cls = MPI_ERR_ACCESS, why = "file opened MPI_MODE_WRONLY";
  else if (count < 0) cls = MPI_ERR_COUNT, why = "negative count";
  else if (dt == MPI_DATATYPE_NULL) cls = MPI_ERR_TYPE, why = "MPI_DATATYPE_NULL";
  else if (how == POS_EXPLICIT && off < 0) cls = MPI_ERR_ARG, why = "negative offset";
  else if ((how == POS_EXPLICIT || how == POS_INDIVIDUAL) && (f->amode & MPI_MODE_SEQUENTIAL))
    cls = MPI_ERR_UNSUPPORTED_OPERATION, why = how == POS_EXPLICIT ? "explicit offsets on a MPI_MODE_SEQUENTIAL file"
                                                                 : "the individual file pointer of a MPI_MODE_SEQUENTIAL file";
  if (!cls) MPI_Type_size_x(dt, &tsize);
  int64_t nbytes = (int64_t)count * tsize;
  if (!cls && nbytes % f->esize) cls = MPI_ERR_TYPE, why = "data is not a whole number of etypes";
  int64_t start = 0;
  if (cls) {
    nbytes = 0; /* a collective call still takes part, with nothing */
  } else if (how == POS_EXPLICIT || how == POS_ORDERED) {
    start = off;
  } else if (how == POS_INDIVIDUAL) {
    start = f->pos;
  } else {
    int64_t old;
    int r = ferry_counter_add(f->fd, f->shfp, nbytes / f->esize, &old);
    if (r < 0) return fy_fail_errno(f, r, op, NULL);
    start = old;
  }
  if (nbytes == 0 && !coll) return cls ? fy_fail(f, cls, op, NULL, why) : MPI_SUCCESS;
  fy_scratch *s = fy_scratch_get(f);
  if (!s) return fy_fail(f, MPI_ERR_NO_MEM, op, NULL, "out of memory");
  int64_t r = 0;
  s->nsegs = s->niov = 0;
  if (nbytes && (fy_view_segments(f, start * f->esize, nbytes, s) || fy_mem_pieces(s, buf, count, dt))) {
    r = -ENOMEM;
    s->nsegs = s->niov = 0;
    nbytes = 0;
  }
  if (coll) {
    int64_t c = collective_io(f, s, wr, nbytes);
    if (r == 0) r = c;
  } else if (r == 0) {
    r = independent_io(f, s, wr, nbytes);
  }
  fy_scratch_put(f, s);
  if (cls) return fy_fail(f, cls, op, NULL, why);
  if (r == -ENOMEM) return fy_fail(f, MPI_ERR_NO_MEM, op, NULL, "out of memory");
  if (r < 0) return fy_fail_errno(f, (int)r, op, NULL);
  if (how == POS_INDIVIDUAL) f->pos += r / f->esize;
  *moved = r;
  return MPI_SUCCESS;
}

/* ---- blocking accesses. Each exists with int count and, in MPI-4
 * libraries, MPI_Count count (the _c variants); both call these. ---- */

static int do_rw(MPI_File fh, const char *op, int wr, int how, MPI_Offset off, const void *buf,
                 MPI_Count count, MPI_Datatype dt, MPI_Status *st, int coll) {
  fy_file *f = FY(fh);
  MPI_Count moved = 0;
  int rc = fy_data_io(f, op, wr, how, off, (void *)buf, count, dt, coll, &moved);
  if (rc == MPI_SUCCESS) fy_set_status(st, moved);
  return rc;
}

/* fy_do_ordered: collective shared-pointer access in rank order. */
int fy_do_ordered(MPI_File fh, const char *op, int wr, const void *buf, MPI_Count count,
                  MPI_Datatype dt, MPI_Status *st) {
  fy_file *f = FY(fh);
  /* the access mode is every rank's: refuse before the pointer moves */
  int acc = f->amode & (MPI_MODE_RDONLY | MPI_MODE_WRONLY | MPI_MODE_RDWR);
  if (wr && acc == MPI_MODE_RDONLY) return fy_fail(f, MPI_ERR_READ_ONLY, op, NULL, "file opened MPI_MODE_RDONLY");
  if (!wr && acc == MPI_MODE_WRONLY) return fy_fail(f, MPI_ERR_ACCESS, op, NULL, "file opened MPI_MODE_WRONLY");
  /* a rank whose arguments its access will refuse moves the pointer by
   * nothing; it still takes part */
  MPI_Count tsize = 0;
  if (dt != MPI_DATATYPE_NULL) MPI_Type_size_x(dt, &tsize);
  long long mine = 0, before = 0, total = 0;
  if (count > 0 && tsize > 0 && ((long long)count * tsize) % f->esize == 0) mine = (long long)count * tsize / f->esize;
  MPI_Exscan(&mine, &before, 1, MPI_LONG_LONG, MPI_SUM, f->comm);
  if (f->rank == 0) before = 0;
  MPI_Allreduce(&mine, &total, 1, MPI_LONG_LONG, MPI_SUM, f->comm);
  long long base[2] = {0, 0}; /* value, error */
  if (f->rank == 0) {
    int64_t old = 0;
    int r = ferry_counter_add(f->fd, f->shfp, total, &old);
    base[0] = old;
    base[1] = r;
  }
  MPI_Bcast(base, 2, MPI_LONG_LONG, 0, f->comm);
  if (base[1] < 0) return fy_fail_errno(f, (int)base[1], op, NULL);
  return do_rw(fh, op, wr, POS_ORDERED, base[0] + before, buf, count, dt, st, 1);
}

/* CT: the count type; S: the name suffix ("" or "_c"). */
#define FY_IO_FUNCS(CT, S)                                                                                  \
  int fy_File_read_at##S(MPI_File fh, MPI_Offset offset, void *buf, CT count, MPI_Datatype datatype,        \
                         MPI_Status *status) {                                                              \
    return do_rw(fh, "MPI_File_read_at" #S, 0, POS_EXPLICIT, offset, buf, count, datatype, status, 0);      \
  }                                                                                                         \
  int fy_File_read_at_all##S(MPI_File fh, MPI_Offset offset, void *buf, CT count,                           \
                             MPI_Datatype datatype, MPI_Status *status) {                                   \
    return do_rw(fh, "MPI_File_read_at_all" #S, 0, POS_EXPLICIT, offset, buf, count, datatype, status, 1);  \
  }                                                                                                         \
  int fy_File_write_at##S(MPI_File fh, MPI_Offset offset, const void *buf, CT count,                        \
                          MPI_Datatype datatype, MPI_Status *status) {                                      \
    return do_rw(fh, "MPI_File_write_at" #S, 1, POS_EXPLICIT, offset, buf, count, datatype, status, 0);     \
  }                                                                                                         \
  int fy_File_write_at_all##S(MPI_File fh, MPI_Offset offset, const void *buf, CT count,                    \
                              MPI_Datatype datatype, MPI_Status *status) {                                  \
    return do_rw(fh, "MPI_File_write_at_all" #S, 1, POS_EXPLICIT, offset, buf, count, datatype, status, 1); \
  }                                                                                                         \
  int fy_File_read##S(MPI_File fh, void *buf, CT count, MPI_Datatype datatype, MPI_Status *status) {        \
    return do_rw(fh, "MPI_File_read" #S, 0, POS_INDIVIDUAL, 0, buf, count, datatype, status, 0);            \
  }                                                                                                         \
  int fy_File_read_all##S(MPI_File fh, void *buf, CT count, MPI_Datatype datatype, MPI_Status *status) {    \
    return do_rw(fh, "MPI_File_read_all" #S, 0, POS_INDIVIDUAL, 0, buf, count, datatype, status, 1);        \
  }                                                                                                         \
  int fy_File_write##S(MPI_File fh, const void *buf, CT count, MPI_Datatype datatype,                       \
                       MPI_Status *status) {                                                                \
    return do_rw(fh, "MPI_File_write" #S, 1, POS_INDIVIDUAL, 0, buf, count, datatype, status, 0);           \
  }                                                                                                         \
  int fy_File_write_all##S(MPI_File fh, const void *buf, CT count, MPI_Datatype datatype,                   \
                           MPI_Status *status) {                                                            \
    return do_rw(fh, "MPI_File_write_all" #S, 1, POS_INDIVIDUAL, 0, buf, count, datatype, status, 1);       \
  }                                                                                                         \
  int fy_File_read_shared##S(MPI_File fh, void *buf, CT count, MPI_Datatype datatype,                       \
                             MPI_Status *status) {                                                          \
    return do_rw(fh, "MPI_File_read_shared" #S, 0, POS_SHARED, 0, buf, count, datatype, status, 0);         \
  }                                                                                                         \
  int fy_File_write_shared##S(MPI_File fh, const void *buf, CT count, MPI_Datatype datatype,                \
                              MPI_Status *status) {                                                         \
    return do_rw(fh, "MPI_File_write_shared" #S, 1, POS_SHARED, 0, buf, count, datatype, status, 0);        \
  }                                                                                                         \
  int fy_File_read_ordered##S(MPI_File fh, void *buf, CT count, MPI_Datatype datatype,                      \
                              MPI_Status *status) {                                                         \
    return fy_do_ordered(fh, "MPI_File_read_ordered" #S, 0, buf, count, datatype, status);                  \
  }                                                                                                         \
  int fy_File_write_ordered##S(MPI_File fh, const void *buf, CT count, MPI_Datatype datatype,               \
                               MPI_Status *status) {                                                        \
    return fy_do_ordered(fh, "MPI_File_write_ordered" #S, 1, buf, count, datatype, status);                 \
  }

FY_IO_FUNCS(int, )
#if FY_HAVE_LARGE_COUNT
FY_IO_FUNCS(MPI_Count, _c)
#endif
