/* mpi_xfer: moves a file between Ferry, by MPI-IO through the
 * interposer, and a plain local file, each rank taking every np-th block.
 *
 *   mpi_xfer write ferry:/PATH SIZE   writes SIZE bytes of pattern(offset)
 *   mpi_xfer read ferry:/PATH LOCAL   copies the Ferry file to LOCAL
 *
 * Blocks are an odd size so that they straddle Ferry's strips. */
#include <fcntl.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK 100003

static unsigned char pattern(long long off) { return (unsigned char)((off * 7 + 13) ^ (off >> 9)); }

static void die(const char *what, int err) {
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(err, msg, &len);
  fprintf(stderr, "mpi_xfer: %s: %s\n", what, msg);
  MPI_Abort(MPI_COMM_WORLD, 1);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, np, err;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &np);
  if (argc != 4) {
    if (rank == 0) fprintf(stderr, "usage: mpi_xfer write|read ferry:/PATH SIZE|LOCAL\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  int writing = strcmp(argv[1], "write") == 0;
  MPI_File fh;
  int amode = writing ? MPI_MODE_CREATE | MPI_MODE_WRONLY : MPI_MODE_RDONLY;
  if ((err = MPI_File_open(MPI_COMM_WORLD, argv[2], amode, MPI_INFO_NULL, &fh)) != MPI_SUCCESS) die("open", err);
  MPI_Offset size;
  int out = -1;
  if (writing) {
    size = atoll(argv[3]);
  } else {
    if ((err = MPI_File_get_size(fh, &size)) != MPI_SUCCESS) die("get_size", err);
    out = open(argv[3], O_WRONLY | O_CREAT, 0644);
    if (out < 0) { perror(argv[3]); MPI_Abort(MPI_COMM_WORLD, 1); }
  }
  unsigned char *buf = malloc(BLOCK);
  for (long long off = (long long)rank * BLOCK; off < size; off += (long long)np * BLOCK) {
    int n = size - off < BLOCK ? (int)(size - off) : BLOCK;
    MPI_Status st;
    if (writing) {
      for (int i = 0; i < n; i++) buf[i] = pattern(off + i);
      if ((err = MPI_File_write_at(fh, off, buf, n, MPI_BYTE, &st)) != MPI_SUCCESS) die("write_at", err);
    } else {
      if ((err = MPI_File_read_at(fh, off, buf, n, MPI_BYTE, &st)) != MPI_SUCCESS) die("read_at", err);
      if (pwrite(out, buf, n, off) != n) { perror("pwrite"); MPI_Abort(MPI_COMM_WORLD, 1); }
    }
  }
  free(buf);
  if (out >= 0) close(out);
  if ((err = MPI_File_close(&fh)) != MPI_SUCCESS) die("close", err);
  MPI_Finalize();
  return 0;
}
