/*
 * mpiio_test.c TAG SCRATCH - libferry-mpiio end to end (run on 4 ranks).
 *
 * The same MPI-IO code runs twice: on "ferry:/mpiio-TAG..." (served by
 * libferry-mpiio) and on SCRATCH/mpiio-TAG... (the MPI library's own
 * driver). Each rank writes its blocks of a shared file through a strided
 * (vector) file view, with a contiguous and then a derived memory type;
 * the file is read back with other decompositions (contiguous chunks, a
 * subarray view, seeks); then rank 0 checks the two files hold the same
 * bytes. Also: ordered and shared file pointers, nonblocking and split
 * collective access, sizes, modes, info, Fortran handles, and the error
 * classes of common mistakes (Ferry only).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int rank, np;

#define CHECK(c)                                                                \
  do {                                                                          \
    if (!(c)) {                                                                 \
      fprintf(stderr, "[%d] %s:%d: CHECK failed: %s\n", rank, __FILE__, __LINE__, #c); \
      MPI_Abort(MPI_COMM_WORLD, 1);                                             \
    }                                                                           \
  } while (0)

static void die_mpi(int rc, const char *what, int line) {
  char s[MPI_MAX_ERROR_STRING];
  int len = 0, cls = -1;
  MPI_Error_string(rc, s, &len);
  MPI_Error_class(rc, &cls);
  fprintf(stderr, "[%d] %s:%d: %s: error class %d: %s\n", rank, __FILE__, line, what, cls, s);
  MPI_Abort(MPI_COMM_WORLD, 1);
}

#define CHECK_MPI(call)                                                         \
  do {                                                                          \
    int rc_ = (call);                                                           \
    if (rc_ != MPI_SUCCESS) die_mpi(rc_, #call, __LINE__);                      \
  } while (0)

#define CHECK_CLASS(call, want)                                                 \
  do {                                                                          \
    int rc_ = (call), c_ = -1;                                                  \
    MPI_Error_class(rc_, &c_);                                                  \
    if (c_ != (want)) {                                                         \
      char s_[MPI_MAX_ERROR_STRING];                                            \
      int l_ = 0;                                                               \
      s_[0] = 0;                                                                \
      if (rc_) MPI_Error_string(rc_, s_, &l_);                                  \
      fprintf(stderr, "[%d] %s:%d: %s: class %d (%s), want %s = %d\n", rank,    \
              __FILE__, __LINE__, #call, c_, s_, #want, (int)(want));           \
      MPI_Abort(MPI_COMM_WORLD, 1);                                             \
    }                                                                           \
  } while (0)

#define B 3    /* ints per block */
#define NBLK 8 /* blocks per rank */

static int value(long g) { return (int)(g * 7 + 1); }

/* write_strided: rank r owns blocks r, r+np, r+2np, ... of B ints. */
static void write_strided(const char *path) {
  MPI_File fh;
  MPI_Info info;
  MPI_Info_create(&info);
  MPI_Info_set(info, "striping_unit", "4096");
  MPI_Info_set(info, "striping_factor", "2");
  CHECK_MPI(MPI_File_open(MPI_COMM_WORLD, path, MPI_MODE_CREATE | MPI_MODE_WRONLY, info, &fh));
  MPI_Info_free(&info);
  MPI_Datatype ft, mt;
  MPI_Type_vector(NBLK, B, B * np, MPI_INT, &ft);
  MPI_Type_commit(&ft);
  CHECK_MPI(MPI_File_set_view(fh, (MPI_Offset)rank * B * sizeof(int), MPI_INT, ft, "native", MPI_INFO_NULL));
  int data[NBLK * B], half = NBLK / 2 * B, cnt;
  for (int k = 0; k < NBLK; k++)
    for (int j = 0; j < B; j++) data[k * B + j] = value((long)(k * np + rank) * B + j);
  MPI_Status st;
  /* first half: contiguous memory */
  CHECK_MPI(MPI_File_write_all(fh, data, half, MPI_INT, &st));
  MPI_Get_count(&st, MPI_INT, &cnt);
  CHECK(cnt == half);
  /* second half: every other int of an interleaved buffer */
  int *inter = malloc(2 * half * sizeof(int));
  for (int i = 0; i < half; i++) {
    inter[2 * i] = data[half + i];
    inter[2 * i + 1] = -1;
  }
  MPI_Type_vector(half, 1, 2, MPI_INT, &mt);
  MPI_Type_commit(&mt);
  CHECK_MPI(MPI_File_write_all(fh, inter, 1, mt, &st));
  MPI_Get_count(&st, MPI_INT, &cnt);
  CHECK(cnt == half);
  MPI_Offset pos, bo;
  CHECK_MPI(MPI_File_get_position(fh, &pos));
  CHECK(pos == NBLK * B);
  CHECK_MPI(MPI_File_get_byte_offset(fh, B, &bo));
  CHECK(bo == (MPI_Offset)(np * B + rank * B) * (MPI_Offset)sizeof(int));
  MPI_Offset disp;
  MPI_Datatype et, ft2;
  char rep[MPI_MAX_DATAREP_STRING];
  CHECK_MPI(MPI_File_get_view(fh, &disp, &et, &ft2, rep));
  CHECK(disp == (MPI_Offset)rank * B * (MPI_Offset)sizeof(int) && et == MPI_INT && !strcmp(rep, "native"));
  int tsz;
  MPI_Type_size(ft2, &tsz);
  CHECK(tsz == NBLK * B * (int)sizeof(int));
  MPI_Type_free(&ft2);
  CHECK_MPI(MPI_File_close(&fh));
  CHECK(fh == MPI_FILE_NULL);
  MPI_Type_free(&ft);
  MPI_Type_free(&mt);
  free(inter);
}

/* read_check: read back with other decompositions. */
static void read_check(const char *path, int ferry) {
  long total = (long)np * NBLK * B, per = total / np;
  MPI_File fh;
  MPI_Status st;
  CHECK_MPI(MPI_File_open(MPI_COMM_WORLD, path, MPI_MODE_RDONLY, MPI_INFO_NULL, &fh));
  MPI_Offset size;
  CHECK_MPI(MPI_File_get_size(fh, &size));
  CHECK(size == total * (MPI_Offset)sizeof(int));
  /* contiguous chunks, explicit offsets, default (byte) view */
  int *buf = malloc(total * sizeof(int));
  CHECK_MPI(MPI_File_read_at_all(fh, rank * per * (MPI_Offset)sizeof(int), buf, (int)per, MPI_INT, &st));
  for (long i = 0; i < per; i++) CHECK(buf[i] == value(rank * per + i));
  /* a column of the file seen as a [np*NBLK][B] array: subarray view */
  int sizes[2] = {np * NBLK, B}, sub[2] = {np * NBLK, 1}, starts[2] = {0, rank % B}, cnt;
  MPI_Datatype col;
  MPI_Type_create_subarray(2, sizes, sub, starts, MPI_ORDER_C, MPI_INT, &col);
  MPI_Type_commit(&col);
  CHECK_MPI(MPI_File_set_view(fh, 0, MPI_INT, col, "native", MPI_INFO_NULL));
  CHECK_MPI(MPI_File_read_all(fh, buf, np * NBLK, MPI_INT, &st));
  MPI_Get_count(&st, MPI_INT, &cnt);
  CHECK(cnt == np * NBLK);
  for (int r = 0; r < np * NBLK; r++) CHECK(buf[r] == value((long)r * B + rank % B));
  /* seeks within the view; reading past the end returns what is there */
  CHECK_MPI(MPI_File_seek(fh, 2, MPI_SEEK_SET));
  CHECK_MPI(MPI_File_read(fh, buf, 1, MPI_INT, &st));
  CHECK(buf[0] == value(2L * B + rank % B));
  CHECK_MPI(MPI_File_seek(fh, -1, MPI_SEEK_END));
  MPI_Offset pos;
  CHECK_MPI(MPI_File_get_position(fh, &pos));
  if (getenv("MPIIO_TEST_VERBOSE")) printf("[%d] %s: seek to end-1: %lld\n", rank, path, (long long)pos);
  /* (Open MPI's own driver seeks to the end of the file in bytes) */
  CHECK(pos == np * NBLK - 1 || !ferry);
  CHECK_MPI(MPI_File_seek(fh, np * NBLK - 1, MPI_SEEK_SET));
  CHECK_MPI(MPI_File_read(fh, buf, 4, MPI_INT, &st));
  MPI_Get_count(&st, MPI_INT, &cnt);
  /* (the count past the end differs between drivers: ROMIO may count
   * the whole request on a noncontiguous view) */
  CHECK(cnt >= 1 && buf[0] == value((long)(np * NBLK - 1) * B + rank % B));
  if (getenv("MPIIO_TEST_VERBOSE")) printf("[%d] %s: read past the end: %d of 4\n", rank, path, cnt);
  /* struct + resized filetype: the first int of every block, via hindexed */
  MPI_Datatype firsts, firsts_r;
  MPI_Type_create_hvector(2, 1, (MPI_Aint)(B * sizeof(int)), MPI_INT, &firsts);
  MPI_Type_create_resized(firsts, 0, (MPI_Aint)(2 * B * sizeof(int)), &firsts_r);
  MPI_Type_commit(&firsts_r);
  CHECK_MPI(MPI_File_set_view(fh, 0, MPI_INT, firsts_r, "native", MPI_INFO_NULL));
  CHECK_MPI(MPI_File_read_at(fh, 1, buf, 3, MPI_INT, &st));
  for (int i = 0; i < 3; i++) CHECK(buf[i] == value((long)(i + 1) * B));
  MPI_Type_free(&firsts);
  MPI_Type_free(&firsts_r);
  MPI_Type_free(&col);
  CHECK_MPI(MPI_File_close(&fh));
  free(buf);
}

/* extras: shared pointers, nonblocking, split collectives, sizes, modes. */
static void extras(const char *path, int ferry) {
  MPI_File fh;
  MPI_Status st;
  MPI_Request req;
  int cnt, amode, buf[64], in[64];
  CHECK_MPI(MPI_File_open(MPI_COMM_WORLD, path, MPI_MODE_CREATE | MPI_MODE_RDWR, MPI_INFO_NULL, &fh));
  CHECK_MPI(MPI_File_get_amode(fh, &amode));
  CHECK(amode == (MPI_MODE_CREATE | MPI_MODE_RDWR));
  CHECK(MPI_File_f2c(MPI_File_c2f(fh)) == fh);
  MPI_Info info;
  char v[256];
  int flag;
  CHECK_MPI(MPI_File_get_info(fh, &info));
  MPI_Info_get(info, "ferry_path", sizeof v - 1, v, &flag);
  CHECK(flag == ferry);
  MPI_Info_free(&info);
  CHECK_MPI(MPI_File_set_size(fh, 0));
  /* ordered: rank r writes r+1 ints of value r, in rank order */
  for (int i = 0; i <= rank; i++) buf[i] = 100 + rank;
  CHECK_MPI(MPI_File_write_ordered(fh, buf, rank + 1, MPI_INT, &st));
  MPI_Get_count(&st, MPI_INT, &cnt);
  CHECK(cnt == rank + 1);
  MPI_Offset sp, size;
  CHECK_MPI(MPI_File_get_position_shared(fh, &sp));
  if (sp != (MPI_Offset)np * (np + 1) / 2 * (MPI_Offset)sizeof(int)) fprintf(stderr, "[%d] %s: shared position %lld\n", rank, path, (long long)sp);
  CHECK(sp == (MPI_Offset)np * (np + 1) / 2 * (MPI_Offset)sizeof(int));
  MPI_Barrier(MPI_COMM_WORLD); /* every rank has read it before the seek moves it */
  CHECK_MPI(MPI_File_seek_shared(fh, 0, MPI_SEEK_SET));
  CHECK_MPI(MPI_File_read_ordered(fh, in, rank + 1, MPI_INT, &st));
  for (int i = 0; i <= rank; i++) CHECK(in[i] == 100 + rank);
  /* shared pointer, independent: each rank appends one int at a time */
  CHECK_MPI(MPI_File_seek_shared(fh, 0, MPI_SEEK_END));
  buf[0] = 200; /* the same from every rank: the order is not defined */
  CHECK_MPI(MPI_File_write_shared(fh, buf, 1, MPI_INT, &st));
  MPI_Barrier(MPI_COMM_WORLD);
  CHECK_MPI(MPI_File_get_size(fh, &size));
  if (size != (MPI_Offset)(np * (np + 1) / 2 + np) * (MPI_Offset)sizeof(int)) fprintf(stderr, "[%d] %s: size %lld\n", rank, path, (long long)size);
  CHECK(size == (MPI_Offset)(np * (np + 1) / 2 + np) * (MPI_Offset)sizeof(int));
  MPI_Barrier(MPI_COMM_WORLD); /* every rank has the size before anyone writes on */
  /* nonblocking at the end of the file; wait gives the count */
  MPI_Offset base = size + (MPI_Offset)rank * 4 * sizeof(int);
  for (int i = 0; i < 4; i++) buf[i] = 300 + rank * 4 + i;
  CHECK_MPI(MPI_File_iwrite_at(fh, base, buf, 4, MPI_INT, &req));
  CHECK_MPI(MPI_Wait(&req, &st));
  MPI_Get_count(&st, MPI_INT, &cnt);
  CHECK(cnt == 4);
  CHECK_MPI(MPI_File_iread_at(fh, base, in, 4, MPI_INT, &req));
  CHECK_MPI(MPI_Wait(&req, &st));
  MPI_Get_count(&st, MPI_INT, &cnt);
  CHECK(cnt == 4 && in[3] == 300 + rank * 4 + 3);
  /* split collective */
  MPI_Offset b2 = size + (MPI_Offset)(np * 4 + rank) * sizeof(int);
  buf[0] = 400 + rank;
  CHECK_MPI(MPI_File_write_at_all_begin(fh, b2, buf, 1, MPI_INT));
  CHECK_MPI(MPI_File_write_at_all_end(fh, buf, &st));
  CHECK_MPI(MPI_File_read_at_all_begin(fh, b2, in, 1, MPI_INT));
  CHECK_MPI(MPI_File_read_at_all_end(fh, in, &st));
  CHECK(in[0] == 400 + rank);
  CHECK_MPI(MPI_File_sync(fh));
  /* preallocate never shrinks */
  CHECK_MPI(MPI_File_get_size(fh, &size));
  CHECK_MPI(MPI_File_preallocate(fh, 4));
  MPI_Offset s2;
  CHECK_MPI(MPI_File_get_size(fh, &s2));
  CHECK(s2 == size);
  CHECK_MPI(MPI_File_set_atomicity(fh, 1));
  CHECK_MPI(MPI_File_get_atomicity(fh, &flag));
  CHECK(flag == 1);
  CHECK_MPI(MPI_File_close(&fh));

  /* APPEND: the individual pointer starts at the end */
  CHECK_MPI(MPI_File_open(MPI_COMM_WORLD, path, MPI_MODE_WRONLY | MPI_MODE_APPEND, MPI_INFO_NULL, &fh));
  MPI_Offset pos;
  CHECK_MPI(MPI_File_get_position(fh, &pos));
  CHECK(pos == s2);
  CHECK_MPI(MPI_File_close(&fh));
}

/* errors: the error classes of common mistakes, and error handlers. */
static int eh_calls, eh_last;
static void count_errors(MPI_File *fh, int *code, ...) {
  (void)fh;
  eh_calls++;
  eh_last = *code;
}

/* shared_after_view: MPI_File_set_view puts the shared file pointer at 0
 * after every rank's shared-pointer access before it, however late. */
static void shared_after_view(const char *path) {
  MPI_File fh;
  MPI_Offset at = -1;
  char buf[100] = {0};
  CHECK_MPI(MPI_File_open(MPI_COMM_WORLD, path, MPI_MODE_CREATE | MPI_MODE_RDWR, MPI_INFO_NULL, &fh));
  if (rank == np - 1) {
    usleep(200000);
    CHECK_MPI(MPI_File_write_shared(fh, buf, (int)sizeof buf, MPI_BYTE, MPI_STATUS_IGNORE));
  }
  CHECK_MPI(MPI_File_set_view(fh, 0, MPI_BYTE, MPI_BYTE, "native", MPI_INFO_NULL));
  CHECK_MPI(MPI_File_get_position_shared(fh, &at));
  CHECK(at == 0);
  CHECK_MPI(MPI_File_close(&fh));
}

/* errhandler_refs: a handler lives while a file or a handle refers to it,
 * whoever frees first (a library's save-set-restore pattern); the same
 * calls on a Ferry file and on the MPI library's own (ferry 0). */
static void errhandler_refs(const char *path, int ferry) {
  MPI_File fh;
  MPI_Status st;
  int x = 0;
  CHECK_MPI(MPI_File_open(MPI_COMM_WORLD, path, MPI_MODE_CREATE | MPI_MODE_WRONLY, MPI_INFO_NULL, &fh));
  MPI_Errhandler eh, saved, got;
  CHECK_MPI(MPI_File_create_errhandler(count_errors, &eh));
  CHECK_MPI(MPI_File_set_errhandler(fh, eh));
  CHECK_MPI(MPI_Errhandler_free(&eh));
  CHECK(eh == MPI_ERRHANDLER_NULL);
  CHECK_MPI(MPI_File_get_errhandler(fh, &got));
  CHECK_MPI(MPI_Errhandler_free(&got));
  eh_calls = 0;
  CHECK_CLASS(MPI_File_read_at(fh, 0, &x, 1, MPI_INT, &st), MPI_ERR_ACCESS);
  CHECK(eh_calls == 1);
  /* save, set a predefined one, hand that out and free it, restore */
  CHECK_MPI(MPI_File_get_errhandler(fh, &saved));
  CHECK_MPI(MPI_File_set_errhandler(fh, MPI_ERRORS_RETURN));
  CHECK_MPI(MPI_File_get_errhandler(fh, &got));
  CHECK(got == MPI_ERRORS_RETURN);
  CHECK_MPI(MPI_Errhandler_free(&got));
  CHECK_CLASS(MPI_File_read_at(fh, 0, &x, 1, MPI_INT, &st), MPI_ERR_ACCESS);
  CHECK(eh_calls == 1);
  CHECK_MPI(MPI_File_set_errhandler(fh, saved));
  CHECK_MPI(MPI_Errhandler_free(&saved));
  CHECK_CLASS(MPI_File_read_at(fh, 0, &x, 1, MPI_INT, &st), MPI_ERR_ACCESS);
  CHECK(eh_calls == 2);
  /* the file's reference is the last: it goes with the file */
  CHECK_MPI(MPI_File_close(&fh));
  /* a file opened with the handler of MPI_FILE_NULL keeps it when that
   * one is replaced and freed (MPICH 4.0's ROMIO does not: its files
   * take no reference, and closing this one asserts) */
  if (!ferry) {
    eh_calls = 0;
    return;
  }
  CHECK_MPI(MPI_File_create_errhandler(count_errors, &eh));
  CHECK_MPI(MPI_File_set_errhandler(MPI_FILE_NULL, eh));
  CHECK_MPI(MPI_Errhandler_free(&eh));
  CHECK_MPI(MPI_File_open(MPI_COMM_WORLD, path, MPI_MODE_WRONLY, MPI_INFO_NULL, &fh));
  CHECK_MPI(MPI_File_set_errhandler(MPI_FILE_NULL, MPI_ERRORS_RETURN));
  /* a new handler made now must not get the file's (a library that had
   * freed it would hand out the same handle again) */
  MPI_Errhandler other;
  CHECK_MPI(MPI_File_create_errhandler(count_errors, &other));
  eh_calls = 0;
  CHECK_CLASS(MPI_File_read_at(fh, 0, &x, 1, MPI_INT, &st), MPI_ERR_ACCESS);
  CHECK(eh_calls == 1);
  CHECK_MPI(MPI_File_close(&fh));
  CHECK_MPI(MPI_Errhandler_free(&other));
  eh_calls = 0;
}

static void errors(const char *path, const char *missing) {
  MPI_File fh;
  MPI_Status st;
  int x = 0;
  CHECK_CLASS(MPI_File_open(MPI_COMM_WORLD, missing, MPI_MODE_RDONLY, MPI_INFO_NULL, &fh), MPI_ERR_NO_SUCH_FILE);
  CHECK_CLASS(MPI_File_open(MPI_COMM_WORLD, path, MPI_MODE_CREATE | MPI_MODE_EXCL | MPI_MODE_WRONLY, MPI_INFO_NULL, &fh),
              MPI_ERR_FILE_EXISTS);
  CHECK_CLASS(MPI_File_open(MPI_COMM_WORLD, path, MPI_MODE_RDONLY | MPI_MODE_CREATE, MPI_INFO_NULL, &fh), MPI_ERR_AMODE);
  CHECK_MPI(MPI_File_open(MPI_COMM_WORLD, path, MPI_MODE_WRONLY, MPI_INFO_NULL, &fh));
  CHECK_CLASS(MPI_File_read_at(fh, 0, &x, 1, MPI_INT, &st), MPI_ERR_ACCESS);
  /* a user error handler sees the error */
  MPI_Errhandler eh, got;
  CHECK_MPI(MPI_File_create_errhandler(count_errors, &eh));
  CHECK_MPI(MPI_File_set_errhandler(fh, eh));
  CHECK_MPI(MPI_File_get_errhandler(fh, &got));
  CHECK(got == eh);
  CHECK_CLASS(MPI_File_read(fh, &x, 1, MPI_INT, &st), MPI_ERR_ACCESS);
  CHECK(eh_calls == 1);
  CHECK_MPI(MPI_File_call_errhandler(fh, MPI_ERR_OTHER));
  CHECK(eh_calls == 2 && eh_last == MPI_ERR_OTHER);
  /* a collective that rank 0 fails reaches every rank's handler (ROMIO
   * hangs on this one, so Ferry files only) */
  CHECK_CLASS(MPI_File_seek_shared(fh, -5, MPI_SEEK_SET), MPI_ERR_ARG);
  CHECK(eh_calls == 3);
  CHECK_MPI(MPI_File_set_errhandler(fh, MPI_ERRORS_RETURN));
  MPI_Errhandler_free(&eh);
  CHECK_MPI(MPI_File_close(&fh));
  CHECK_MPI(MPI_File_open(MPI_COMM_WORLD, path, MPI_MODE_RDONLY, MPI_INFO_NULL, &fh));
  CHECK_CLASS(MPI_File_write_at(fh, 0, &x, 1, MPI_INT, &st), MPI_ERR_READ_ONLY);
  CHECK_CLASS(MPI_File_set_view(fh, 0, MPI_INT, MPI_INT, "external32", MPI_INFO_NULL), MPI_ERR_UNSUPPORTED_DATAREP);
  CHECK_MPI(MPI_File_close(&fh));
  /* DELETE_ON_CLOSE, then delete of a missing file */
  CHECK_MPI(MPI_File_open(MPI_COMM_WORLD, missing, MPI_MODE_CREATE | MPI_MODE_RDWR | MPI_MODE_DELETE_ON_CLOSE,
                          MPI_INFO_NULL, &fh));
  CHECK_MPI(MPI_File_close(&fh));
  CHECK_CLASS(MPI_File_open(MPI_COMM_WORLD, missing, MPI_MODE_RDONLY, MPI_INFO_NULL, &fh), MPI_ERR_NO_SUCH_FILE);
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) CHECK_CLASS(MPI_File_delete(missing, MPI_INFO_NULL), MPI_ERR_NO_SUCH_FILE);
}

static void remove_file(const char *path) {
  if (rank == 0) MPI_File_delete(path, MPI_INFO_NULL);
  MPI_Barrier(MPI_COMM_WORLD);
}

/* write_with: every rank writes count items of memtype from mem through
 * the view (disp, MPI_INT, ft) of a new file. */
static void write_with(const char *path, MPI_Offset disp, MPI_Datatype ft, const void *mem, int count,
                       MPI_Datatype memtype) {
  MPI_File fh;
  MPI_Status st;
  if (rank == 0) MPI_File_delete(path, MPI_INFO_NULL);
  MPI_Barrier(MPI_COMM_WORLD);
  CHECK_MPI(MPI_File_open(MPI_COMM_WORLD, path, MPI_MODE_CREATE | MPI_MODE_WRONLY, MPI_INFO_NULL, &fh));
  CHECK_MPI(MPI_File_set_view(fh, disp, MPI_INT, ft, "native", MPI_INFO_NULL));
  CHECK_MPI(MPI_File_write_all(fh, mem, count, memtype, &st));
  CHECK_MPI(MPI_File_close(&fh));
}

static void compare(const char *a, const char *b);

/* types: more filetypes and memory types, each written on Ferry and
 * through the MPI library's driver, and compared byte for byte. */
static void types(const char *fer, const char *loc) {
  int data[256];
  for (int i = 0; i < 256; i++) data[i] = rank * 1000 + i;
  MPI_Datatype ft, t0, mt;
  int sz;
  /* darray: an 8 x 12 array, BLOCK x CYCLIC(2) over a process grid */
  int gs[2] = {8, 12}, dist[2] = {MPI_DISTRIBUTE_BLOCK, MPI_DISTRIBUTE_CYCLIC}, darg[2] = {MPI_DISTRIBUTE_DFLT_DARG, 2},
      ps[2] = {0, 0};
  MPI_Dims_create(np, 2, ps);
  MPI_Type_create_darray(np, rank, 2, gs, dist, darg, ps, MPI_ORDER_C, MPI_INT, &ft);
  MPI_Type_commit(&ft);
  MPI_Type_size(ft, &sz);
  write_with(fer, 0, ft, data, sz / 4, MPI_INT);
  write_with(loc, 0, ft, data, sz / 4, MPI_INT);
  compare(fer, loc);
  MPI_Type_free(&ft);
  /* indexed_block: 4 blocks of 2 ints, rank-interleaved, after a 16-byte header */
  int disps[4];
  for (int k = 0; k < 4; k++) disps[k] = k * 2 * np + rank * 2;
  MPI_Type_create_indexed_block(4, 2, disps, MPI_INT, &t0);
  MPI_Type_create_resized(t0, 0, 8 * np * 4, &ft); /* same extent on every rank */
  MPI_Type_commit(&ft);
  MPI_Type_free(&t0);
  write_with(fer, 16, ft, data, 16, MPI_INT); /* two filetype instances */
  write_with(loc, 16, ft, data, 16, MPI_INT);
  compare(fer, loc);
  MPI_Type_free(&ft);
  /* struct of two blocks, resized; memory: a resized struct with holes */
  int bl[2] = {2, 1};
  MPI_Aint sd[2] = {(MPI_Aint)rank * 8, (MPI_Aint)(8 * np + rank * 4)};
  MPI_Datatype sty[2] = {MPI_INT, MPI_INT};
  MPI_Type_create_struct(2, bl, sd, sty, &t0);
  MPI_Type_create_resized(t0, 0, 12 * np, &ft);
  MPI_Type_commit(&ft);
  MPI_Type_free(&t0);
  int mbl[2] = {1, 1};
  MPI_Aint md[2] = {0, 8};
  MPI_Type_create_struct(2, mbl, md, sty, &t0);
  MPI_Type_create_resized(t0, 0, 12, &mt);
  MPI_Type_commit(&mt);
  MPI_Type_free(&t0);
  write_with(fer, 4, ft, data, 9, mt); /* 18 ints: 6 filetype instances */
  write_with(loc, 4, ft, data, 9, mt);
  compare(fer, loc);
  MPI_Type_free(&ft);
  MPI_Type_free(&mt);
  /* hindexed of contiguous pairs, with an indexed memory type */
  int hb[3] = {1, 2, 1};
  MPI_Aint hd[3];
  /* no holes: the MPI library's driver may fill holes with garbage */
  for (int k = 0, base = 0; k < 3; base += np * hb[k] * 8, k++) hd[k] = base + rank * hb[k] * 8;
  MPI_Type_contiguous(2, MPI_INT, &t0);
  MPI_Type_create_hindexed(3, hb, hd, t0, &ft);
  MPI_Type_commit(&ft);
  MPI_Type_free(&t0);
  int ib[2] = {3, 5}, id[2] = {0, 10};
  MPI_Type_indexed(2, ib, id, MPI_INT, &mt);
  MPI_Type_commit(&mt);
  write_with(fer, 0, ft, data, 1, mt); /* 8 ints = one filetype instance */
  write_with(loc, 0, ft, data, 1, mt);
  compare(fer, loc);
  MPI_Type_free(&ft);
  MPI_Type_free(&mt);
  remove_file(fer);
  remove_file(loc);
}

/* read_all_bytes: the whole file, on rank 0. */
static char *read_all_bytes(const char *path, MPI_Offset *size) {
  MPI_File fh;
  MPI_Status st;
  CHECK_MPI(MPI_File_open(MPI_COMM_SELF, path, MPI_MODE_RDONLY, MPI_INFO_NULL, &fh));
  CHECK_MPI(MPI_File_get_size(fh, size));
  char *b = malloc((size_t)*size + 1);
  CHECK_MPI(MPI_File_read_at(fh, 0, b, (int)*size, MPI_BYTE, &st));
  CHECK_MPI(MPI_File_close(&fh));
  return b;
}

static void compare(const char *a, const char *b) {
  if (rank != 0) return;
  MPI_Offset sa, sb;
  char *ba = read_all_bytes(a, &sa), *bb = read_all_bytes(b, &sb);
  if (sa != sb || memcmp(ba, bb, (size_t)sa)) {
    fprintf(stderr, "%s (%lld bytes) and %s (%lld bytes) differ\n", a, (long long)sa, b, (long long)sb);
    for (MPI_Offset i = 0; i + 4 <= sa && i + 4 <= sb; i += 4) {
      int x, y;
      memcpy(&x, ba + i, 4);
      memcpy(&y, bb + i, 4);
      if (x != y) fprintf(stderr, "  byte %lld: %d vs %d\n", (long long)i, x, y);
    }
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  free(ba);
  free(bb);
}

/* uniform: whether all n bytes of b are the same. */
static int uniform(const char *b, int n) {
  for (int i = 1; i < n; i++)
    if (b[i] != b[0]) return 0;
  return 1;
}

/* atomic: in atomic mode, ranks that write one range at once leave one
 * rank's bytes, never a mix of them, and a read beside those writes sees
 * one whole write; independent and collective. The range crosses many
 * 4 KiB strips on 4 servers, where writes without the lock mix. */
static void atomic(const char *path) {
  enum { N = 256 << 10 };
  MPI_File fh;
  MPI_Info info;
  MPI_Info_create(&info);
  MPI_Info_set(info, "striping_unit", "4096");
  CHECK_MPI(MPI_File_open(MPI_COMM_WORLD, path, MPI_MODE_CREATE | MPI_MODE_RDWR, info, &fh));
  MPI_Info_free(&info);
  CHECK_MPI(MPI_File_set_atomicity(fh, 1));
  int flag = 0;
  CHECK_MPI(MPI_File_get_atomicity(fh, &flag));
  CHECK(flag == 1);
  char *buf = malloc(N), *back = malloc(N);
  CHECK(buf && back);
  memset(buf, 'a' + rank, N);
  if (rank == 0) CHECK_MPI(MPI_File_write_at(fh, 0, buf, N, MPI_BYTE, MPI_STATUS_IGNORE));
  MPI_Barrier(MPI_COMM_WORLD);
  for (int round = 0; round < 20; round++) {
    memset(buf, 'A' + (rank + round) % 26, N);
    if (round % 5 == 4) {
      CHECK_MPI(MPI_File_write_at_all(fh, 0, buf, N, MPI_BYTE, MPI_STATUS_IGNORE));
    } else if (rank % 2 == 0) {
      CHECK_MPI(MPI_File_write_at(fh, 0, buf, N, MPI_BYTE, MPI_STATUS_IGNORE));
    } else {
      CHECK_MPI(MPI_File_read_at(fh, 0, back, N, MPI_BYTE, MPI_STATUS_IGNORE));
      if (!uniform(back, N)) fprintf(stderr, "[%d] round %d: a read beside atomic writes saw a mix\n", rank, round);
      CHECK(uniform(back, N));
    }
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) {
      CHECK_MPI(MPI_File_read_at(fh, 0, back, N, MPI_BYTE, MPI_STATUS_IGNORE));
      if (!uniform(back, N)) fprintf(stderr, "round %d: atomic writes mixed\n", round);
      CHECK(uniform(back, N));
    }
    MPI_Barrier(MPI_COMM_WORLD);
  }
  CHECK_MPI(MPI_File_close(&fh));
  free(buf);
  free(back);
}

/* wronly_sieve: romio_ds_write=enable on a write-only open writes the
 * strided data (the sieve, which reads first, stands aside). */
static void wronly_sieve(const char *path) {
  MPI_File fh;
  MPI_Info info;
  MPI_Info_create(&info);
  MPI_Info_set(info, "romio_ds_write", "enable");
  CHECK_MPI(MPI_File_open(MPI_COMM_WORLD, path, MPI_MODE_CREATE | MPI_MODE_WRONLY, info, &fh));
  MPI_Info_free(&info);
  MPI_Datatype ft;
  MPI_Type_vector(8, 1, np, MPI_INT, &ft);
  MPI_Type_commit(&ft);
  CHECK_MPI(MPI_File_set_view(fh, (MPI_Offset)rank * sizeof(int), MPI_INT, ft, "native", MPI_INFO_NULL));
  int v[8];
  for (int k = 0; k < 8; k++) v[k] = value(k * np + rank);
  CHECK_MPI(MPI_File_write(fh, v, 8, MPI_INT, MPI_STATUS_IGNORE));
  CHECK_MPI(MPI_File_close(&fh));
  MPI_Type_free(&ft);
  if (rank == 0) {
    int all[64];
    CHECK(8 * np <= 64);
    CHECK_MPI(MPI_File_open(MPI_COMM_SELF, path, MPI_MODE_RDONLY, MPI_INFO_NULL, &fh));
    CHECK_MPI(MPI_File_read_at(fh, 0, all, 8 * np, MPI_INT, MPI_STATUS_IGNORE));
    CHECK_MPI(MPI_File_close(&fh));
    for (int g = 0; g < 8 * np; g++) CHECK(all[g] == value(g));
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

/* expect_chars: the first n bytes of the file at path are want's. */
static void expect_chars(const char *what, const char *path, const char *want, int n) {
  MPI_File fh;
  char got[64] = {0};
  CHECK(n <= (int)sizeof got);
  CHECK_MPI(MPI_File_open(MPI_COMM_SELF, path, MPI_MODE_RDONLY, MPI_INFO_NULL, &fh));
  CHECK_MPI(MPI_File_read_at(fh, 0, got, n, MPI_CHAR, MPI_STATUS_IGNORE));
  CHECK_MPI(MPI_File_close(&fh));
  if (memcmp(got, want, (size_t)n)) fprintf(stderr, "%s: file %.*s, want %.*s\n", what, n, got, n, want);
  CHECK(!memcmp(got, want, (size_t)n));
}

/* shared_pointers: each open has its own shared file pointer: another
 * open of the file (rank 0 alone, with MPI_COMM_SELF) neither resets
 * nor moves the first one's, and ranks that each open the file with
 * MPI_COMM_SELF each read from the start. */
static void shared_pointers(const char *path) {
  MPI_File fh, self;
  CHECK_MPI(MPI_File_open(MPI_COMM_WORLD, path, MPI_MODE_CREATE | MPI_MODE_RDWR, MPI_INFO_NULL, &fh));
  char c = (char)('A' + rank);
  CHECK_MPI(MPI_File_write_ordered(fh, &c, 1, MPI_CHAR, MPI_STATUS_IGNORE));
  if (rank == 0) {
    CHECK_MPI(MPI_File_open(MPI_COMM_SELF, path, MPI_MODE_RDWR, MPI_INFO_NULL, &self));
    char x = 'x';
    CHECK_MPI(MPI_File_write_shared(self, &x, 1, MPI_CHAR, MPI_STATUS_IGNORE)); /* its own pointer: byte 0 */
    CHECK_MPI(MPI_File_close(&self));
  }
  MPI_Barrier(MPI_COMM_WORLD);
  MPI_Offset pos = -1;
  CHECK_MPI(MPI_File_get_position_shared(fh, &pos));
  CHECK(pos == np);
  c = (char)('a' + rank);
  CHECK_MPI(MPI_File_write_ordered(fh, &c, 1, MPI_CHAR, MPI_STATUS_IGNORE));
  CHECK_MPI(MPI_File_close(&fh));
  if (rank == 0) {
    char want[64] = {0};
    for (int r = 0; r < np; r++) {
      want[r] = (char)('A' + r);
      want[np + r] = (char)('a' + r);
    }
    want[0] = 'x';
    CHECK_MPI(MPI_File_open(MPI_COMM_SELF, path, MPI_MODE_RDONLY, MPI_INFO_NULL, &self));
    MPI_Offset size = 0;
    CHECK_MPI(MPI_File_get_size(self, &size));
    CHECK(size == 2 * np);
    CHECK_MPI(MPI_File_close(&self));
    expect_chars("shared pointers", path, want, 2 * np);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  /* every rank alone: read_shared starts at 0 for each */
  CHECK_MPI(MPI_File_open(MPI_COMM_SELF, path, MPI_MODE_RDONLY, MPI_INFO_NULL, &self));
  char two[2];
  for (int k = 0; k < 2; k++) {
    MPI_Offset at = -1;
    CHECK_MPI(MPI_File_get_position_shared(self, &at));
    CHECK(at == k * 2);
    CHECK_MPI(MPI_File_read_shared(self, two, 2, MPI_CHAR, MPI_STATUS_IGNORE));
  }
  CHECK_MPI(MPI_File_close(&self));
  MPI_Barrier(MPI_COMM_WORLD);
}

/* seek_end_partial: the end of a 10-byte file with 4-byte etypes is
 * etype 3 (the cut one counts, as ROMIO), so writing there keeps every
 * byte. */
static void seek_end_partial(const char *path) {
  if (rank == 0) {
    MPI_File fh;
    CHECK_MPI(MPI_File_open(MPI_COMM_SELF, path, MPI_MODE_CREATE | MPI_MODE_RDWR, MPI_INFO_NULL, &fh));
    CHECK_MPI(MPI_File_write_at(fh, 0, "0123456789", 10, MPI_CHAR, MPI_STATUS_IGNORE));
    CHECK_MPI(MPI_File_set_view(fh, 0, MPI_INT, MPI_INT, "native", MPI_INFO_NULL));
    CHECK_MPI(MPI_File_seek(fh, 0, MPI_SEEK_END));
    MPI_Offset pos = -1;
    CHECK_MPI(MPI_File_get_position(fh, &pos));
    CHECK(pos == 3);
    CHECK_MPI(MPI_File_close(&fh));
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

/* big_view: a filetype of 3 GiB (three 1 GiB blocks, 2 GiB apart) is a
 * view like any other: sizes past 2^31 are counted in 64 bits. */
static void big_view(const char *path) {
  if (rank == 0) {
    MPI_File fh;
    MPI_Datatype gib, ft;
    MPI_Type_contiguous(1 << 30, MPI_BYTE, &gib);
    MPI_Type_create_hvector(3, 1, (MPI_Aint)2 << 30, gib, &ft);
    MPI_Type_commit(&ft);
    CHECK_MPI(MPI_File_open(MPI_COMM_SELF, path, MPI_MODE_CREATE | MPI_MODE_RDWR, MPI_INFO_NULL, &fh));
    CHECK_MPI(MPI_File_set_view(fh, 0, MPI_BYTE, ft, "native", MPI_INFO_NULL));
    char w[10] = "big views", r[10] = {0};
    /* view offset 1 GiB + 5 is the second block's byte 5: file offset 2 GiB + 5 */
    MPI_Offset at = ((MPI_Offset)1 << 30) + 5;
    CHECK_MPI(MPI_File_write_at(fh, at, w, 10, MPI_CHAR, MPI_STATUS_IGNORE));
    CHECK_MPI(MPI_File_read_at(fh, at, r, 10, MPI_CHAR, MPI_STATUS_IGNORE));
    CHECK(!memcmp(w, r, 10));
    MPI_Offset size = 0, byte = 0;
    CHECK_MPI(MPI_File_get_size(fh, &size));
    CHECK(size == ((MPI_Offset)2 << 30) + 15);
    CHECK_MPI(MPI_File_get_byte_offset(fh, at, &byte));
    CHECK(byte == ((MPI_Offset)2 << 30) + 5);
    CHECK_MPI(MPI_File_close(&fh));
    MPI_Type_free(&ft);
    MPI_Type_free(&gib);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

/* sequential: on an MPI_MODE_SEQUENTIAL file, ordered access works and
 * MPI_DISPLACEMENT_CURRENT puts the view where the shared file pointer
 * is; explicit offsets and the individual file pointer stay refused,
 * and MPI_DISPLACEMENT_CURRENT on another file is MPI_ERR_ARG. */
static void sequential(const char *path) {
  MPI_File fh;
  CHECK_MPI(MPI_File_open(MPI_COMM_WORLD, path, MPI_MODE_CREATE | MPI_MODE_WRONLY | MPI_MODE_SEQUENTIAL,
                          MPI_INFO_NULL, &fh));
  char c = (char)('A' + rank);
  CHECK_MPI(MPI_File_write_ordered(fh, &c, 1, MPI_CHAR, MPI_STATUS_IGNORE));
  c = (char)('a' + rank);
  CHECK_MPI(MPI_File_write_ordered_begin(fh, &c, 1, MPI_CHAR));
  CHECK_MPI(MPI_File_write_ordered_end(fh, &c, MPI_STATUS_IGNORE));
  CHECK_CLASS(MPI_File_write_at(fh, 0, &c, 1, MPI_CHAR, MPI_STATUS_IGNORE), MPI_ERR_UNSUPPORTED_OPERATION);
  /* nor the individual file pointer (as ROMIO) */
  MPI_Offset pos;
  CHECK_CLASS(MPI_File_write(fh, &c, 1, MPI_CHAR, MPI_STATUS_IGNORE), MPI_ERR_UNSUPPORTED_OPERATION);
  CHECK_CLASS(MPI_File_seek(fh, 0, MPI_SEEK_SET), MPI_ERR_UNSUPPORTED_OPERATION);
  CHECK_CLASS(MPI_File_get_position(fh, &pos), MPI_ERR_UNSUPPORTED_OPERATION);
  CHECK_MPI(MPI_File_set_view(fh, MPI_DISPLACEMENT_CURRENT, MPI_CHAR, MPI_CHAR, "native", MPI_INFO_NULL));
  MPI_Offset disp = -1;
  MPI_Datatype et, ft;
  char rep[MPI_MAX_DATAREP_STRING];
  CHECK_MPI(MPI_File_get_view(fh, &disp, &et, &ft, rep));
  CHECK(disp == 2 * np);
  c = (char)('0' + rank);
  CHECK_MPI(MPI_File_write_ordered(fh, &c, 1, MPI_CHAR, MPI_STATUS_IGNORE));
  CHECK_MPI(MPI_File_close(&fh));
  if (rank == 0) {
    char want[64] = {0};
    for (int r = 0; r < np; r++) {
      want[r] = (char)('A' + r);
      want[np + r] = (char)('a' + r);
      want[2 * np + r] = (char)('0' + r);
    }
    CHECK_MPI(MPI_File_open(MPI_COMM_SELF, path, MPI_MODE_RDONLY, MPI_INFO_NULL, &fh));
    CHECK_CLASS(MPI_File_set_view(fh, MPI_DISPLACEMENT_CURRENT, MPI_CHAR, MPI_CHAR, "native", MPI_INFO_NULL),
                MPI_ERR_ARG);
    CHECK_MPI(MPI_File_close(&fh));
    expect_chars("sequential", path, want, 3 * np);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &np);
  if (argc < 3) {
    fprintf(stderr, "usage: mpiio_test TAG SCRATCH\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  /* The interposer must be in the process (linked or preloaded). */
  CHECK(dlsym(RTLD_DEFAULT, "ferry_mpiio_version") != NULL);
  MPI_File_set_errhandler(MPI_FILE_NULL, MPI_ERRORS_RETURN);

  char fer[512], loc[512], ford[512], lord[512], missing[512];
  snprintf(fer, sizeof fer, "ferry:/mpiio-%s.dat", argv[1]);
  snprintf(loc, sizeof loc, "%s/mpiio-%s.dat", argv[2], argv[1]);
  snprintf(ford, sizeof ford, "ferry:/mpiio-%s.ord", argv[1]);
  snprintf(lord, sizeof lord, "%s/mpiio-%s.ord", argv[2], argv[1]);
  snprintf(missing, sizeof missing, "ferry:/mpiio-%s.missing", argv[1]);
  remove_file(fer);
  remove_file(loc);
  remove_file(ford);
  remove_file(lord);
  remove_file(missing);

  write_strided(fer);
  write_strided(loc);
  read_check(fer, 1);
  read_check(loc, 0);
  compare(fer, loc);
  extras(ford, 1);
  extras(lord, 0);
  compare(ford, lord);
  errors(fer, missing);
  errhandler_refs(fer, 1);
  errhandler_refs(loc, 0);
  shared_after_view(fer);
  shared_after_view(loc);
  char ftyp[512], ltyp[512];
  snprintf(ftyp, sizeof ftyp, "ferry:/mpiio-%s.types", argv[1]);
  snprintf(ltyp, sizeof ltyp, "%s/mpiio-%s.types", argv[2], argv[1]);
  types(ftyp, ltyp);
  char fend[512];
  snprintf(fend, sizeof fend, "ferry:/mpiio-%s.end", argv[1]);
  remove_file(fend);
  seek_end_partial(fend);
  remove_file(fend);
  char fseq[512];
  snprintf(fseq, sizeof fseq, "ferry:/mpiio-%s.seq", argv[1]);
  remove_file(fseq);
  sequential(fseq);
  remove_file(fseq);
  char fbig[512];
  snprintf(fbig, sizeof fbig, "ferry:/mpiio-%s.big", argv[1]);
  remove_file(fbig);
  big_view(fbig);
  remove_file(fbig);
  char fsp[512];
  snprintf(fsp, sizeof fsp, "ferry:/mpiio-%s.shfp", argv[1]);
  remove_file(fsp);
  shared_pointers(fsp);
  remove_file(fsp);
  char fat[512], fws[512];
  snprintf(fat, sizeof fat, "ferry:/mpiio-%s.atomic", argv[1]);
  snprintf(fws, sizeof fws, "ferry:/mpiio-%s.wronly", argv[1]);
  remove_file(fat);
  remove_file(fws);
  atomic(fat);
  wronly_sieve(fws);
  remove_file(fat);
  remove_file(fws);

  remove_file(fer);
  remove_file(loc);
  remove_file(ford);
  remove_file(lord);
  if (rank == 0) printf("mpiio_test %s: OK (%d ranks)\n", argv[1], np);
  MPI_Finalize();
  return 0;
}
