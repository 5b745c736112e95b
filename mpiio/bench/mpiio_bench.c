/*
 * mpiio_bench - an MPI-IO workload generator: Ferry against a local file
 * in the same run.
 *
 *   mpiio_bench FERRY_PREFIX LOCAL_PREFIX [PER_RANK [XFER,XFER,...]]
 *
 * e.g. mpiio_bench ferry:/bench /tmp/x/bench 16777216 4096,47008,1048576
 * (run with libferry-mpiio linked or preloaded, FERRY_CONFIG set).
 *
 * For every workload and transfer size it writes PER_RANK bytes per rank
 * in transfers of XFER bytes, then reads them back (checking the bytes),
 * once on FERRY_PREFIX.<workload> and once on LOCAL_PREFIX.<workload>,
 * and prints MiB/s (all ranks' bytes over the slowest rank's time, from
 * a barrier to a barrier; opening and closing are not timed) and the
 * ratio Ferry / local. The local file is read right after it was written,
 * from the page cache.
 *
 * Workloads:
 *   shared-indep     one shared file, rank r writes transfer i at
 *                    (i * nprocs + r) * XFER, independently (write_at)
 *   shared-coll      the same, collectively (write_at_all)
 *   shared-view      the same bytes through a file view that deals the
 *                    ranks' data in blocks of XFER / 8 bytes (XFER when
 *                    that is under 512 or not whole), collectively
 *                    (write_all): each transfer is strided
 *   shared-view-ind  the same view, independently (write)
 *   fpp-indep        a file per process, contiguous, independently
 *   fpp-coll         a file per process, contiguous, collectively
 *                    (on MPI_COMM_SELF)
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rank, np;

static void die(const char *what, int rc) {
  char s[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, s, &len);
  fprintf(stderr, "[%d] mpiio_bench: %s: %s\n", rank, what, s);
  MPI_Abort(MPI_COMM_WORLD, 1);
}

#define CK(call)                          \
  do {                                    \
    int rc_ = (call);                     \
    if (rc_ != MPI_SUCCESS) die(#call, rc_); \
  } while (0)

enum { SHARED_INDEP, SHARED_COLL, SHARED_VIEW, SHARED_VIEW_IND, FPP_INDEP, FPP_COLL, NWORK };
static const char *work_names[NWORK] = {"shared-indep", "shared-coll", "shared-view", "shared-view-ind",
                                        "fpp-indep", "fpp-coll"};

static unsigned char pattern(int64_t g) { return (unsigned char)(g * 131 + (g >> 13) + 7); }

/* run: one workload on one file; returns [write, read] seconds of the
 * slowest rank. */
static void run(int w, const char *prefix, int64_t per, int64_t xfer, unsigned char *src, unsigned char *dst,
                double out[2]) {
  char path[600];
  int fpp = w == FPP_INDEP || w == FPP_COLL;
  MPI_Comm comm = fpp ? MPI_COMM_SELF : MPI_COMM_WORLD;
  if (fpp) snprintf(path, sizeof path, "%s.%s.%d", prefix, work_names[w], rank);
  else snprintf(path, sizeof path, "%s.%s", prefix, work_names[w]);
  int64_t n = per / xfer;
  int64_t blk = xfer % 8 == 0 && xfer / 8 >= 512 ? xfer / 8 : xfer; /* divides xfer */
  MPI_Datatype view = MPI_DATATYPE_NULL;
  if (w == SHARED_VIEW || w == SHARED_VIEW_IND) {
    /* the ranks' data dealt in blocks of blk bytes */
    MPI_Datatype v;
    MPI_Type_vector((int)(per / blk), (int)blk, (int)(blk * np), MPI_BYTE, &v);
    MPI_Type_create_resized(v, 0, (MPI_Aint)(per * np), &view);
    MPI_Type_commit(&view);
    MPI_Type_free(&v);
  }
  for (int phase = 0; phase < 2; phase++) {
    int wr = phase == 0;
    MPI_File fh;
    if (rank == 0 && wr && !fpp) MPI_File_delete(path, MPI_INFO_NULL);
    if (wr && fpp) MPI_File_delete(path, MPI_INFO_NULL);
    MPI_Barrier(MPI_COMM_WORLD);
    CK(MPI_File_open(comm, path, wr ? MPI_MODE_CREATE | MPI_MODE_WRONLY : MPI_MODE_RDONLY, MPI_INFO_NULL, &fh));
    if (view != MPI_DATATYPE_NULL)
      CK(MPI_File_set_view(fh, (MPI_Offset)rank * blk, MPI_BYTE, view, "native", MPI_INFO_NULL));
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    for (int64_t i = 0; i < n; i++) {
      unsigned char *b = (wr ? src : dst) + i * xfer;
      MPI_Offset off = fpp ? (MPI_Offset)(i * xfer) : (MPI_Offset)((i * np + rank) * xfer);
      MPI_Status st;
      switch (w) {
      case SHARED_INDEP:
      case FPP_INDEP:
        CK(wr ? MPI_File_write_at(fh, off, b, (int)xfer, MPI_BYTE, &st)
              : MPI_File_read_at(fh, off, b, (int)xfer, MPI_BYTE, &st));
        break;
      case SHARED_COLL:
      case FPP_COLL:
        CK(wr ? MPI_File_write_at_all(fh, off, b, (int)xfer, MPI_BYTE, &st)
              : MPI_File_read_at_all(fh, off, b, (int)xfer, MPI_BYTE, &st));
        break;
      case SHARED_VIEW:
        CK(wr ? MPI_File_write_all(fh, b, (int)xfer, MPI_BYTE, &st) : MPI_File_read_all(fh, b, (int)xfer, MPI_BYTE, &st));
        break;
      case SHARED_VIEW_IND:
        CK(wr ? MPI_File_write(fh, b, (int)xfer, MPI_BYTE, &st) : MPI_File_read(fh, b, (int)xfer, MPI_BYTE, &st));
        break;
      }
    }
    MPI_Barrier(MPI_COMM_WORLD);
    double t = MPI_Wtime() - t0, tmax;
    MPI_Allreduce(&t, &tmax, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    out[phase] = tmax;
    CK(MPI_File_close(&fh));
  }
  if (memcmp(src, dst, (size_t)(n * xfer))) {
    fprintf(stderr, "[%d] mpiio_bench: %s %s xfer %lld: read back other bytes than written\n", rank, path,
            work_names[w], (long long)xfer);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  if (view != MPI_DATATYPE_NULL) MPI_Type_free(&view);
  MPI_Barrier(MPI_COMM_WORLD);
  if (fpp) MPI_File_delete(path, MPI_INFO_NULL);
  else if (rank == 0) MPI_File_delete(path, MPI_INFO_NULL);
  MPI_Barrier(MPI_COMM_WORLD);
}

static const char *human(int64_t b, char *buf, size_t n) {
  if (b % (1 << 20) == 0) snprintf(buf, n, "%lld MiB", (long long)(b >> 20));
  else if (b % 1024 == 0) snprintf(buf, n, "%lld KiB", (long long)(b >> 10));
  else snprintf(buf, n, "%lld B", (long long)b);
  return buf;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &np);
  if (argc < 3) {
    if (!rank) fprintf(stderr, "usage: mpiio_bench FERRY_PREFIX LOCAL_PREFIX [PER_RANK [XFER,...]]\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  int64_t per = argc > 3 ? atoll(argv[3]) : 16 << 20;
  const char *xfers = argc > 4 ? argv[4] : "4096,47008,1048576,16777216";
  MPI_File_set_errhandler(MPI_FILE_NULL, MPI_ERRORS_RETURN);
  unsigned char *src = malloc((size_t)per), *dst = malloc((size_t)per);
  if (!src || !dst) die("malloc", MPI_ERR_NO_MEM);
  if (!rank) {
    printf("mpiio_bench: %d ranks, %s per rank; MiB/s of all ranks; ratio = Ferry / local\n\n", np,
           human(per, (char[32]){0}, 32));
    printf("| workload | transfer | write Ferry | write local | ratio | read Ferry | read local | ratio |\n");
    printf("|---|---|---:|---:|---:|---:|---:|---:|\n");
    fflush(stdout);
  }
  char list[512];
  snprintf(list, sizeof list, "%s", xfers);
  char *save = NULL;
  for (char *x = strtok_r(list, ",", &save); x; x = strtok_r(NULL, ",", &save)) {
    int64_t xfer = atoll(x);
    if (xfer <= 0 || xfer > per) continue;
    int64_t use = per / xfer * xfer;
    for (int64_t i = 0; i < use; i++) src[i] = pattern(i + (int64_t)rank * use);
    for (int w = 0; w < NWORK; w++) {
      double fe[2], lo[2];
      memset(dst, 0, (size_t)use);
      run(w, argv[1], use, xfer, src, dst, fe);
      memset(dst, 0, (size_t)use);
      run(w, argv[2], use, xfer, src, dst, lo);
      if (!rank) {
        double mib = (double)use * np / (1 << 20);
        char hb[32];
        printf("| %s | %s | %.1f | %.1f | %.2f | %.1f | %.1f | %.2f |\n", work_names[w], human(xfer, hb, sizeof hb),
               mib / fe[0], mib / lo[0], lo[0] / fe[0], mib / fe[1], mib / lo[1], lo[1] / fe[1]);
        fflush(stdout);
      }
    }
  }
  free(src);
  free(dst);
  MPI_Finalize();
  return 0;
}
