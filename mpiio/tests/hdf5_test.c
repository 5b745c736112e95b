/*
 * hdf5_test.c TAG - parallel HDF5 on Ferry (run on 4 ranks).
 *
 * Creates ferry:/h5-TAG.h5 through HDF5's MPI-IO driver and writes two
 * N x M double datasets collectively, one contiguous and one chunked,
 * each rank a block of rows; closes it, opens it again read-only and
 * reads both back collectively by another decomposition (blocks of
 * columns), checking every value.
 */
#include <hdf5.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#define N 256 /* rows */
#define M 200 /* columns */

static int rank, np;

#define CHECK(c)                                                               \
  do {                                                                         \
    if (!(c)) {                                                                \
      fprintf(stderr, "[%d] %s:%d: CHECK failed: %s\n", rank, __FILE__, __LINE__, #c); \
      MPI_Abort(MPI_COMM_WORLD, 1);                                            \
    }                                                                          \
  } while (0)

static double value(int i, int j, int which) { return i * 1000.0 + j + 0.25 + which * 1e7; }

static hid_t collective(void) {
  hid_t x = H5Pcreate(H5P_DATASET_XFER);
  CHECK(x >= 0 && H5Pset_dxpl_mpio(x, H5FD_MPIO_COLLECTIVE) >= 0);
  return x;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &np);
  if (argc < 2 || N % np || M % np) {
    fprintf(stderr, "usage: hdf5_test TAG (on 1, 2 or 4 ranks)\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  char path[256];
  snprintf(path, sizeof path, "ferry:/h5-%s.h5", argv[1]);
  const char *names[2] = {"contiguous", "chunked"};

  /* write: rank r owns rows [r*N/np, (r+1)*N/np) */
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  CHECK(H5Pset_fapl_mpio(fapl, MPI_COMM_WORLD, MPI_INFO_NULL) >= 0);
  hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  CHECK(file >= 0);
  hsize_t dims[2] = {N, M}, rows = N / np, cols = M / np;
  double *buf = malloc(sizeof(double) * N * M);
  for (int which = 0; which < 2; which++) {
    hid_t space = H5Screate_simple(2, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (which == 1) {
      hsize_t chunk[2] = {32, 40};
      CHECK(H5Pset_chunk(dcpl, 2, chunk) >= 0);
    }
    hid_t ds = H5Dcreate2(file, names[which], H5T_NATIVE_DOUBLE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    CHECK(ds >= 0);
    hsize_t start[2] = {rank * rows, 0}, count[2] = {rows, M};
    CHECK(H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, count, NULL) >= 0);
    hid_t mem = H5Screate_simple(2, count, NULL), x = collective();
    for (hsize_t i = 0; i < rows; i++)
      for (hsize_t j = 0; j < M; j++) buf[i * M + j] = value((int)(start[0] + i), (int)j, which);
    CHECK(H5Dwrite(ds, H5T_NATIVE_DOUBLE, mem, space, x, buf) >= 0);
    H5Pclose(x);
    H5Sclose(mem);
    H5Dclose(ds);
    H5Pclose(dcpl);
    H5Sclose(space);
  }
  CHECK(H5Fclose(file) >= 0);

  /* read: rank r reads columns [r*M/np, (r+1)*M/np) */
  file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  CHECK(file >= 0);
  for (int which = 0; which < 2; which++) {
    hid_t ds = H5Dopen2(file, names[which], H5P_DEFAULT);
    CHECK(ds >= 0);
    hid_t space = H5Dget_space(ds);
    hsize_t start[2] = {0, rank * cols}, count[2] = {N, cols};
    CHECK(H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, count, NULL) >= 0);
    hid_t mem = H5Screate_simple(2, count, NULL), x = collective();
    for (hsize_t k = 0; k < N * cols; k++) buf[k] = -1;
    CHECK(H5Dread(ds, H5T_NATIVE_DOUBLE, mem, space, x, buf) >= 0);
    for (hsize_t i = 0; i < N; i++)
      for (hsize_t j = 0; j < cols; j++) {
        double want = value((int)i, (int)(start[1] + j), which), got = buf[i * cols + j];
        if (got != want) {
          fprintf(stderr, "[%d] %s[%d][%d] = %g, want %g\n", rank, names[which], (int)i, (int)(start[1] + j), got,
                  want);
          MPI_Abort(MPI_COMM_WORLD, 1);
        }
      }
    H5Pclose(x);
    H5Sclose(mem);
    H5Sclose(space);
    H5Dclose(ds);
  }
  CHECK(H5Fclose(file) >= 0);
  H5Pclose(fapl);
  free(buf);
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) {
    MPI_File_delete(path, MPI_INFO_NULL);
    printf("hdf5_test %s: OK (%d ranks, %d x %d doubles, contiguous and chunked)\n", argv[1], np, N, M);
  }
  MPI_Finalize();
  return 0;
}
