/*
 * ferry_parallel_read - read one Ferry file with several threads, each
 * reading its own contiguous block, through one shared handle.
 *
 *   ferry_parallel_read PATH [THREADS]
 *
 * The file is cut into THREADS blocks (default 4); thread t reads block t
 * with ferry_pread in 1 MiB pieces into its own buffer. ferry_pread is
 * thread-safe and uses no shared position, so one handle serves every
 * thread. Prints the bytes read, a checksum (the same for any THREADS) and
 * the throughput.
 *
 * Build: cc ferry_parallel_read.c $(pkg-config --cflags --libs ferry) \
 *           -lpthread -o ferry_parallel_read
 */
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <ferry.h>

#define PIECE (1 << 20)

struct block {
  int fh;
  int64_t off, len;
  uint64_t sum;   /* out: sum of the bytes read */
  int64_t bytes;  /* out: bytes read */
  int err;        /* out: 0 or a negative errno */
};

static void *read_block(void *arg) {
  struct block *b = arg;
  unsigned char *buf = malloc(PIECE);
  if (!buf) {
    b->err = -12; /* ENOMEM */
    return NULL;
  }
  for (int64_t done = 0; done < b->len;) {
    size_t want = (size_t)(b->len - done < PIECE ? b->len - done : PIECE);
    ssize_t n = ferry_pread(b->fh, buf, want, b->off + done);
    if (n < 0) {
      b->err = (int)n;
      break;
    }
    if (n == 0) /* the file shrank under us */
      break;
    for (ssize_t i = 0; i < n; i++)
      b->sum += buf[i];
    done += n;
    b->bytes += n;
  }
  free(buf);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: ferry_parallel_read PATH [THREADS]\n");
    return 2;
  }
  int nthreads = argc == 3 ? atoi(argv[2]) : 4;
  if (nthreads < 1)
    nthreads = 1;

  int rc = ferry_init(NULL);
  if (rc < 0) {
    fprintf(stderr, "ferry_init: %s\n", ferry_strerror(rc));
    return 1;
  }
  int fh = ferry_open(argv[1], O_RDONLY, 0);
  int64_t size = 0;
  if (fh < 0 || (rc = ferry_get_size(fh, &size)) < 0) {
    fprintf(stderr, "%s: %s\n", argv[1], ferry_strerror(fh < 0 ? fh : rc));
    ferry_finalize(); /* else the fabric endpoint's files outlive the process */
    return 1;
  }

  struct block *blocks = calloc((size_t)nthreads, sizeof *blocks);
  pthread_t *threads = calloc((size_t)nthreads, sizeof *threads);
  int64_t per = (size + nthreads - 1) / nthreads;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int t = 0; t < nthreads; t++) {
    blocks[t].fh = fh;
    blocks[t].off = per * t < size ? per * t : size;
    blocks[t].len = blocks[t].off + per <= size ? per : size - blocks[t].off;
    pthread_create(&threads[t], NULL, read_block, &blocks[t]);
  }
  uint64_t sum = 0;
  int64_t bytes = 0;
  int status = 0;
  for (int t = 0; t < nthreads; t++) {
    pthread_join(threads[t], NULL);
    if (blocks[t].err < 0) {
      fprintf(stderr, "thread %d: %s\n", t, ferry_strerror(blocks[t].err));
      status = 1;
    }
    sum += blocks[t].sum;
    bytes += blocks[t].bytes;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("bytes %" PRId64 " checksum %" PRIu64 " threads %d %.1f MiB/s\n", bytes, sum,
         nthreads, secs > 0 ? (double)bytes / secs / (1 << 20) : 0.0);

  ferry_close(fh);
  ferry_finalize();
  free(blocks);
  free(threads);
  return status;
}
