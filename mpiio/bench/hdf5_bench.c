/*
 * hdf5_bench - parallel HDF5 on Ferry against a local file, same run.
 *
 *   hdf5_bench FERRY_PATH LOCAL_PATH [N]
 *
 * Writes an N x N double dataset (default 1024) collectively, each rank
 * a block of rows, then reads it back collectively, each rank a block of
 * columns (checking every value), on FERRY_PATH and on LOCAL_PATH, and
 * prints the seconds of each phase (the slowest rank, from a barrier to
 * a barrier, file open and close included, as a program sees them) and
 * the ratio Ferry / local.
 *
 * A program's first Ferry open also opens its fabric and connects to the
 * servers, once per process; that is timed on its own, before the
 * phases (an open and close of FERRY_PATH.first), and printed beside
 * them, so that the phases compare the HDF5 work itself.
 */
#include <hdf5.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int rank, np;

static void check(int ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "[%d] hdf5_bench: %s failed\n", rank, what);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
}

static double value(hsize_t i, hsize_t j) { return (double)i * 1e4 + (double)j; }

/* phase: write (wr) or read the dataset; returns the slowest rank's seconds. */
static double phase(const char *path, hsize_t n, int wr, double *buf) {
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = MPI_Wtime();
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  check(H5Pset_fapl_mpio(fapl, MPI_COMM_WORLD, MPI_INFO_NULL) >= 0, "H5Pset_fapl_mpio");
  hid_t file = wr ? H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl) : H5Fopen(path, H5F_ACC_RDONLY, fapl);
  check(file >= 0, wr ? "H5Fcreate" : "H5Fopen");
  hsize_t dims[2] = {n, n};
  hid_t space = H5Screate_simple(2, dims, NULL), ds;
  if (wr) ds = H5Dcreate2(file, "data", H5T_NATIVE_DOUBLE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  else ds = H5Dopen2(file, "data", H5P_DEFAULT);
  check(ds >= 0, "dataset");
  hsize_t part = n / (hsize_t)np;
  hsize_t start[2] = {wr ? rank * part : 0, wr ? 0 : rank * part}, count[2] = {wr ? part : n, wr ? n : part};
  check(H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, count, NULL) >= 0, "hyperslab");
  hid_t mem = H5Screate_simple(2, count, NULL), x = H5Pcreate(H5P_DATASET_XFER);
  check(H5Pset_dxpl_mpio(x, H5FD_MPIO_COLLECTIVE) >= 0, "H5Pset_dxpl_mpio");
  if (wr) check(H5Dwrite(ds, H5T_NATIVE_DOUBLE, mem, space, x, buf) >= 0, "H5Dwrite");
  else check(H5Dread(ds, H5T_NATIVE_DOUBLE, mem, space, x, buf) >= 0, "H5Dread");
  H5Pclose(x);
  H5Sclose(mem);
  H5Dclose(ds);
  H5Sclose(space);
  check(H5Fclose(file) >= 0, "H5Fclose");
  H5Pclose(fapl);
  MPI_Barrier(MPI_COMM_WORLD);
  double t = MPI_Wtime() - t0, tmax;
  MPI_Allreduce(&t, &tmax, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  if (!wr)
    for (hsize_t i = 0; i < n; i++)
      for (hsize_t j = 0; j < part; j++) check(buf[i * part + j] == value(i, rank * part + j), "read back");
  return tmax;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &np);
  if (argc < 3) {
    if (!rank) fprintf(stderr, "usage: hdf5_bench FERRY_PATH LOCAL_PATH [N]\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  hsize_t n = argc > 3 ? (hsize_t)atoll(argv[3]) : 1024;
  n -= n % (hsize_t)np;
  double *buf = malloc(sizeof(double) * n * n / (hsize_t)np);
  check(buf != NULL, "malloc");
  hsize_t part = n / (hsize_t)np;
  for (hsize_t i = 0; i < part; i++)
    for (hsize_t j = 0; j < n; j++) buf[i * n + j] = value(rank * part + i, j);
  char first[4096];
  snprintf(first, sizeof first, "%s.first", argv[1]);
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = MPI_Wtime(), t, topen;
  MPI_File fh;
  check(MPI_File_open(MPI_COMM_WORLD, first, MPI_MODE_CREATE | MPI_MODE_WRONLY | MPI_MODE_DELETE_ON_CLOSE,
                      MPI_INFO_NULL, &fh) == MPI_SUCCESS,
        "first open");
  MPI_File_close(&fh);
  t = MPI_Wtime() - t0;
  MPI_Allreduce(&t, &topen, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  double fw = phase(argv[1], n, 1, buf), lw = phase(argv[2], n, 1, buf);
  double fr = phase(argv[1], n, 0, buf), lr = phase(argv[2], n, 0, buf);
  if (!rank) {
    printf("\nhdf5_bench: %d ranks, %llu x %llu doubles, collective; seconds per phase, ratio = Ferry / local\n\n",
           np, (unsigned long long)n, (unsigned long long)n);
    printf("| phase | Ferry s | local s | ratio |\n|---|---:|---:|---:|\n");
    printf("| write (rows) | %.3f | %.3f | %.2f |\n", fw, lw, fw / lw);
    printf("| read (columns) | %.3f | %.3f | %.2f |\n", fr, lr, fr / lr);
    printf("\nthe program's first Ferry open and close (fabric open, connections): %.3f s\n", topen);
    MPI_File_delete(argv[1], MPI_INFO_NULL);
    MPI_File_delete(argv[2], MPI_INFO_NULL);
  }
  free(buf);
  MPI_Finalize();
  return 0;
}
