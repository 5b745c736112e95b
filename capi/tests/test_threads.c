/* test_threads - many threads on one file: disjoint unaligned pwrites and
 * preads on one shared handle, a handle per thread, the shared counter,
 * open/close churn on the handle table, a close racing reads (no crash;
 * reads succeed or fail with -EBADF) and ferry_finalize racing reads (they
 * succeed or fail, then -ENXIO). Needs $FERRY_CONFIG. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>

#include "check.h"

#define THREADS 16
#define BLOCK 10007 /* prime: blocks straddle strips unaligned */
#define ADDS 10

static char path[128];
static int shared_fh;

static void *writer(void *arg) {
  int t = (int)(long)arg;
  unsigned char *b = malloc(BLOCK), *r = malloc(BLOCK);
  fill(b, BLOCK, (unsigned)t);
  CHECK_EQ(ferry_pwrite(shared_fh, b, BLOCK, (off_t)t * BLOCK), BLOCK);
  CHECK_EQ(ferry_pread(shared_fh, r, BLOCK, (off_t)t * BLOCK), BLOCK);
  CHECK(memcmp(b, r, BLOCK) == 0);
  free(b);
  free(r);
  return NULL;
}

/* Each thread opens its own handle and checks every block. */
static void *reader(void *arg) {
  int t = (int)(long)arg;
  int fh = ferry_open(path, O_RDONLY, 0);
  CHECK_OK(fh);
  unsigned char *b = malloc(BLOCK), *r = malloc(BLOCK);
  for (int i = 0; i < THREADS; i++) {
    int blk = (i + t) % THREADS;
    fill(b, BLOCK, (unsigned)blk);
    CHECK_EQ(ferry_pread(fh, r, BLOCK, (off_t)blk * BLOCK), BLOCK);
    CHECK(memcmp(b, r, BLOCK) == 0);
  }
  CHECK_OK(ferry_close(fh));
  free(b);
  free(r);
  return NULL;
}

static int64_t olds[THREADS * ADDS];

static void *adder(void *arg) {
  int t = (int)(long)arg;
  for (int i = 0; i < ADDS; i++)
    CHECK_OK(ferry_fetch_add(shared_fh, 1, &olds[t * ADDS + i]));
  return NULL;
}

static void *churn(void *arg) {
  (void)arg;
  for (int i = 0; i < 8; i++) {
    int fh = ferry_open(path, O_RDONLY, 0);
    CHECK_OK(fh);
    char c;
    CHECK_EQ(ferry_pread(fh, &c, 1, 0), 1);
    CHECK_OK(ferry_close(fh));
  }
  return NULL;
}

static int victim;

static void *racer(void *arg) {
  (void)arg;
  char buf[4096];
  for (int i = 0; i < 50; i++) {
    ssize_t n = ferry_pread(victim, buf, sizeof buf, 0);
    CHECK(n == (ssize_t)sizeof buf || n == -EBADF);
  }
  return NULL;
}

/* Reads on a shared handle while ferry_finalize runs: each one succeeds or
 * fails with an error; after finalize they fail with -ENXIO. */
static void *finalize_racer(void *arg) {
  (void)arg;
  char buf[4096];
  ssize_t n = 0;
  for (int i = 0; i < 200; i++) {
    n = ferry_pread(victim, buf, sizeof buf, 0);
    CHECK(n == (ssize_t)sizeof buf || n < 0);
    if (n == -ENXIO)
      break;
  }
  return NULL;
}

static void run(void *(*fn)(void *)) {
  pthread_t th[THREADS];
  for (long t = 0; t < THREADS; t++)
    CHECK_EQ(pthread_create(&th[t], NULL, fn, (void *)t), 0);
  for (int t = 0; t < THREADS; t++)
    CHECK_EQ(pthread_join(th[t], NULL), 0);
}

static int cmp64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

int main(void) {
  CHECK_OK(ferry_init(NULL));
  char dir[64];
  test_dir(dir, sizeof dir, "test_threads");
  snprintf(path, sizeof path, "%s/shared", dir);
  struct ferry_layout l = {4096, 4, 0};
  shared_fh = ferry_open_layout(path, O_CREAT | O_RDWR, 0644, &l);
  CHECK_OK(shared_fh);

  run(writer);
  int64_t size;
  CHECK_OK(ferry_get_size(shared_fh, &size));
  CHECK_EQ(size, (int64_t)THREADS * BLOCK);
  run(reader);

  run(adder);
  qsort(olds, THREADS * ADDS, sizeof olds[0], cmp64);
  for (int i = 0; i < THREADS * ADDS; i++)
    CHECK_EQ(olds[i], i); /* every old value seen exactly once */
  int64_t v;
  CHECK_OK(ferry_fetch_add(shared_fh, 0, &v));
  CHECK_EQ(v, THREADS * ADDS);

  run(churn);

  victim = ferry_open(path, O_RDONLY, 0);
  CHECK_OK(victim);
  pthread_t th[4];
  for (int t = 0; t < 4; t++)
    CHECK_EQ(pthread_create(&th[t], NULL, racer, NULL), 0);
  usleep(2000);
  CHECK_OK(ferry_close(victim));
  for (int t = 0; t < 4; t++)
    CHECK_EQ(pthread_join(th[t], NULL), 0);

  CHECK_OK(ferry_close(shared_fh));

  victim = ferry_open(path, O_RDONLY, 0);
  CHECK_OK(victim);
  for (int t = 0; t < 4; t++)
    CHECK_EQ(pthread_create(&th[t], NULL, finalize_racer, NULL), 0);
  usleep(2000);
  CHECK_OK(ferry_finalize());
  for (int t = 0; t < 4; t++)
    CHECK_EQ(pthread_join(th[t], NULL), 0);
  char c;
  CHECK_ERR(ferry_pread(victim, &c, 1, 0), ENXIO);

  CHECK_OK(ferry_init(NULL));
  CHECK_OK(ferry_unlink(path));
  CHECK_OK(ferry_rmdir(dir));
  CHECK_OK(ferry_finalize());
  printf("test_threads: ok\n");
  return 0;
}
