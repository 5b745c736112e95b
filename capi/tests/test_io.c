/* test_io - data path: write then read back across strips, unaligned
 * ranges against a local shadow copy, end of file, holes, positions,
 * O_APPEND, O_TRUNC, truncate, fsync, stat, the shared counter, and a
 * buffer freed and reallocated between calls. Needs $FERRY_CONFIG. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "check.h"

#define STRIP 4096
#define FILE_SIZE (STRIP * 4 * 5 + 123) /* 5 rounds over 4 servers, and a bit */

static char dir[64];

static void path(char *buf, size_t len, const char *name) {
  snprintf(buf, len, "%s/%s", dir, name);
}

static void test_roundtrip(void) {
  char p[128];
  path(p, sizeof p, "roundtrip");
  struct ferry_layout l = {STRIP, 4, 0};
  int fh = ferry_open_layout(p, O_CREAT | O_EXCL | O_RDWR, 0640, &l);
  CHECK_OK(fh);

  unsigned char *w = malloc(FILE_SIZE), *r = malloc(FILE_SIZE);
  fill(w, FILE_SIZE, 1);
  CHECK_EQ(ferry_pwrite(fh, w, FILE_SIZE, 0), FILE_SIZE);
  memset(r, 0xAA, FILE_SIZE);
  CHECK_EQ(ferry_pread(fh, r, FILE_SIZE, 0), FILE_SIZE);
  CHECK(memcmp(w, r, FILE_SIZE) == 0);

  struct ferry_stat st;
  CHECK_OK(ferry_fstat(fh, &st));
  CHECK_EQ(st.size, FILE_SIZE);
  CHECK_EQ(st.strip_size, STRIP);
  CHECK_EQ(st.server_count, 4);
  CHECK_EQ(st.mode, S_IFREG | 0640);
  CHECK(st.mtime.tv_sec > 1600000000);
  CHECK_EQ(st.reserved[0], 0);
  int64_t size = -1;
  CHECK_OK(ferry_get_size(fh, &size));
  CHECK_EQ(size, FILE_SIZE);
  CHECK_OK(ferry_fsync(fh));
  CHECK_OK(ferry_close(fh));

  /* Another handle, read-only, sees the same bytes and layout. */
  fh = ferry_open("ferry:" "/dummy", O_RDONLY, 0); /* "ferry:" prefix accepted */
  CHECK_ERR(fh, ENOENT);
  char fp[140];
  snprintf(fp, sizeof fp, "ferry:%s", p);
  fh = ferry_open(fp, O_RDONLY, 0);
  CHECK_OK(fh);
  memset(r, 0, FILE_SIZE);
  CHECK_EQ(ferry_pread(fh, r, FILE_SIZE, 0), FILE_SIZE);
  CHECK(memcmp(w, r, FILE_SIZE) == 0);
  memset(&st, 0xFF, sizeof st);
  CHECK_OK(ferry_stat(p, &st));
  CHECK_EQ(st.size, FILE_SIZE);
  CHECK_EQ(st.strip_size, STRIP);
  CHECK_OK(ferry_close(fh));
  free(w);
  free(r);
}

/* Random unaligned writes and reads, checked against a local copy. */
static void test_unaligned(void) {
  char p[128];
  path(p, sizeof p, "unaligned");
  struct ferry_layout l = {STRIP, 3, 0};
  int fh = ferry_open_layout(p, O_CREAT | O_RDWR, 0644, &l);
  CHECK_OK(fh);
  enum { N = 3 * STRIP * 7 };
  unsigned char *shadow = calloc(1, N), *buf = malloc(N), *got = malloc(N);
  size_t end = 0;
  unsigned seed = 42;
  for (int i = 0; i < 40; i++) {
    seed = seed * 1103515245u + 12345u;
    size_t off = (seed >> 8) % (N - 1);
    seed = seed * 1103515245u + 12345u;
    size_t len = 1 + (seed >> 8) % (N - off);
    if (i % 4 == 0)
      len = 1 + len % 17; /* some tiny ones */
    fill(buf, len, (unsigned)i + 7);
    CHECK_EQ(ferry_pwrite(fh, buf, len, (off_t)off), len);
    memcpy(shadow + off, buf, len);
    if (off + len > end)
      end = off + len;

    seed = seed * 1103515245u + 12345u;
    size_t roff = (seed >> 8) % N;
    seed = seed * 1103515245u + 12345u;
    size_t rlen = 1 + (seed >> 8) % (N - roff);
    ssize_t want = roff >= end ? 0 : (ssize_t)((roff + rlen > end ? end : roff + rlen) - roff);
    memset(got, 0x5A, N);
    CHECK_EQ(ferry_pread(fh, got, rlen, (off_t)roff), want);
    CHECK(memcmp(got, shadow + roff, (size_t)want) == 0);
    CHECK(want == (ssize_t)rlen || got[want] == 0x5A); /* nothing past the end */
  }
  memset(got, 0, N);
  CHECK_EQ(ferry_pread(fh, got, N, 0), end);
  CHECK(memcmp(got, shadow, end) == 0);
  CHECK_OK(ferry_close(fh));
  free(shadow);
  free(buf);
  free(got);
}

static void test_eof_and_holes(void) {
  char p[128];
  path(p, sizeof p, "eof");
  struct ferry_layout l = {STRIP, 4, 0};
  int fh = ferry_open_layout(p, O_CREAT | O_RDWR, 0644, &l);
  CHECK_OK(fh);
  char buf[100];
  /* Empty file: reads return 0. */
  CHECK_EQ(ferry_pread(fh, buf, sizeof buf, 0), 0);
  CHECK_EQ(ferry_pread(fh, buf, sizeof buf, 1 << 20), 0);
  CHECK_EQ(ferry_pread(fh, buf, 0, 0), 0);
  /* 10 bytes at 3 * STRIP + 5: a hole before them, on other servers. */
  CHECK_EQ(ferry_pwrite(fh, "0123456789", 10, 3 * STRIP + 5), 10);
  int64_t size;
  CHECK_OK(ferry_get_size(fh, &size));
  CHECK_EQ(size, 3 * STRIP + 15);
  /* Straddling the end: the bytes there are. */
  memset(buf, 'x', sizeof buf);
  CHECK_EQ(ferry_pread(fh, buf, sizeof buf, 3 * STRIP + 10), 5);
  CHECK(memcmp(buf, "56789", 5) == 0 && buf[5] == 'x');
  /* At and past the end: 0. */
  CHECK_EQ(ferry_pread(fh, buf, sizeof buf, 3 * STRIP + 15), 0);
  CHECK_EQ(ferry_pread(fh, buf, sizeof buf, 100 * STRIP), 0);
  /* The hole reads as zeros, across strips on every server. */
  size_t n = 3 * STRIP + 15;
  unsigned char *h = malloc(n + 50);
  memset(h, 0xEE, n + 50);
  CHECK_EQ(ferry_pread(fh, h, n + 50, 0), n);
  for (size_t i = 0; i < 3 * STRIP + 5; i++)
    CHECK(h[i] == 0);
  CHECK(memcmp(h + 3 * STRIP + 5, "0123456789", 10) == 0);
  CHECK(h[n] == 0xEE);
  free(h);
  CHECK_OK(ferry_close(fh));
}

/* ferry_read / ferry_write / ferry_lseek on the handle's position. */
static void test_position(void) {
  char p[128];
  path(p, sizeof p, "position");
  int fh = ferry_open(p, O_CREAT | O_RDWR, 0644);
  CHECK_OK(fh);
  CHECK_EQ(ferry_lseek(fh, 0, SEEK_CUR), 0);
  CHECK_EQ(ferry_write(fh, "hello ", 6), 6);
  CHECK_EQ(ferry_write(fh, "world", 5), 5);
  CHECK_EQ(ferry_lseek(fh, 0, SEEK_CUR), 11);
  CHECK_EQ(ferry_lseek(fh, 0, SEEK_END), 11);
  CHECK_EQ(ferry_lseek(fh, -5, SEEK_END), 6);
  char buf[32] = {0};
  CHECK_EQ(ferry_read(fh, buf, sizeof buf), 5);
  CHECK(memcmp(buf, "world", 5) == 0);
  CHECK_EQ(ferry_read(fh, buf, sizeof buf), 0); /* at the end */
  CHECK_EQ(ferry_lseek(fh, 2, SEEK_SET), 2);
  CHECK_EQ(ferry_read(fh, buf, 3), 3);
  CHECK(memcmp(buf, "llo", 3) == 0);
  CHECK_EQ(ferry_lseek(fh, 1, SEEK_CUR), 6);
  /* pread/pwrite leave the position alone. */
  CHECK_EQ(ferry_pwrite(fh, "W", 1, 6), 1);
  CHECK_EQ(ferry_pread(fh, buf, 1, 0), 1);
  CHECK_EQ(ferry_lseek(fh, 0, SEEK_CUR), 6);
  CHECK_EQ(ferry_read(fh, buf, 5), 5);
  CHECK(memcmp(buf, "World", 5) == 0);
  /* Seeking past the end and writing leaves a hole. */
  CHECK_EQ(ferry_lseek(fh, 20, SEEK_SET), 20);
  CHECK_EQ(ferry_write(fh, "!", 1), 1);
  CHECK_EQ(ferry_pread(fh, buf, sizeof buf, 0), 21);
  CHECK(memcmp(buf, "hello World\0\0\0\0\0\0\0\0\0!", 21) == 0);
  CHECK_OK(ferry_close(fh));
}

static void test_append_trunc(void) {
  char p[128];
  path(p, sizeof p, "append");
  int fh = ferry_open(p, O_CREAT | O_WRONLY | O_APPEND, 0644);
  CHECK_OK(fh);
  CHECK_EQ(ferry_write(fh, "abc", 3), 3);
  CHECK_EQ(ferry_pwrite(fh, "def", 3, 0), 3); /* O_APPEND: offset ignored */
  CHECK_EQ(ferry_lseek(fh, 0, SEEK_SET), 0);
  CHECK_EQ(ferry_write(fh, "gh", 2), 2);
  CHECK_EQ(ferry_lseek(fh, 0, SEEK_CUR), 8);
  CHECK_OK(ferry_close(fh));
  char buf[16] = {0};
  fh = ferry_open(p, O_RDONLY, 0);
  CHECK_OK(fh);
  CHECK_EQ(ferry_pread(fh, buf, sizeof buf, 0), 8);
  CHECK(memcmp(buf, "abcdefgh", 8) == 0);
  CHECK_OK(ferry_close(fh));

  /* O_TRUNC empties it; O_CREAT on an existing file keeps the data. */
  fh = ferry_open(p, O_CREAT | O_RDWR, 0644);
  CHECK_OK(fh);
  int64_t size;
  CHECK_OK(ferry_get_size(fh, &size));
  CHECK_EQ(size, 8);
  CHECK_OK(ferry_close(fh));
  fh = ferry_open(p, O_RDWR | O_TRUNC, 0);
  CHECK_OK(fh);
  CHECK_OK(ferry_get_size(fh, &size));
  CHECK_EQ(size, 0);
  CHECK_EQ(ferry_pread(fh, buf, sizeof buf, 0), 0);

  /* ftruncate grows with zeros and shrinks. */
  CHECK_EQ(ferry_pwrite(fh, "0123456789", 10, 0), 10);
  CHECK_OK(ferry_ftruncate(fh, 4));
  CHECK_OK(ferry_get_size(fh, &size));
  CHECK_EQ(size, 4);
  CHECK_OK(ferry_ftruncate(fh, 3 * STRIP));
  unsigned char *b = malloc(3 * STRIP);
  memset(b, 1, 3 * STRIP);
  CHECK_EQ(ferry_pread(fh, b, 3 * STRIP, 0), 3 * STRIP);
  CHECK(memcmp(b, "0123", 4) == 0);
  for (int i = 4; i < 3 * STRIP; i++)
    CHECK(b[i] == 0);
  free(b);
  CHECK_OK(ferry_close(fh));
}

static void test_counter(void) {
  char p[128];
  path(p, sizeof p, "counter");
  int a = ferry_open(p, O_CREAT | O_RDWR, 0644), b = ferry_open(p, O_RDONLY, 0);
  CHECK_OK(a);
  CHECK_OK(b);
  int64_t old = -1;
  CHECK_OK(ferry_fetch_add(a, 10, &old));
  CHECK_EQ(old, 0);
  CHECK_OK(ferry_fetch_add(b, 5, &old)); /* shared by every handle */
  CHECK_EQ(old, 10);
  CHECK_OK(ferry_fetch_add(a, -3, NULL));
  CHECK_OK(ferry_fetch_add(b, 0, &old));
  CHECK_EQ(old, 12);
  CHECK_OK(ferry_set_counter(a, 100, &old));
  CHECK_EQ(old, 12);
  CHECK_OK(ferry_fetch_add(a, 0, &old));
  CHECK_EQ(old, 100);
  /* Neither below 0 nor past INT64_MAX; the counter stays. */
  CHECK_ERR(ferry_fetch_add(a, -101, NULL), EINVAL);
  CHECK_ERR(ferry_set_counter(a, -1, NULL), EINVAL);
  CHECK_OK(ferry_set_counter(a, INT64_MAX, NULL));
  CHECK_ERR(ferry_fetch_add(b, 1, NULL), EOVERFLOW);
  CHECK_OK(ferry_fetch_add(a, 0, &old));
  CHECK_EQ(old, INT64_MAX);

  /* Made counters: apart from the file's own and from each other,
   * shared by the handles given the id, gone once freed. */
  uint64_t x = 0, y = 0;
  CHECK_OK(ferry_counter_new(a, 7, &x));
  CHECK_OK(ferry_counter_new(b, 0, &y));
  CHECK(x != 0 && y != 0 && x != y);
  CHECK_OK(ferry_counter_add(b, x, 3, &old)); /* another handle, same id */
  CHECK_EQ(old, 7);
  CHECK_OK(ferry_counter_add(a, y, 1, &old));
  CHECK_EQ(old, 0);
  CHECK_OK(ferry_counter_set(a, x, 50, &old));
  CHECK_EQ(old, 10);
  CHECK_OK(ferry_counter_add(a, 0, 0, &old)); /* id 0: the file's own, untouched */
  CHECK_EQ(old, INT64_MAX);
  CHECK_ERR(ferry_counter_new(a, -1, &x), EINVAL);
  CHECK_ERR(ferry_counter_new(a, 0, NULL), EFAULT);
  CHECK_OK(ferry_counter_free(a, x));
  CHECK_ERR(ferry_counter_add(a, x, 1, NULL), ENOENT);
  CHECK_ERR(ferry_counter_set(a, x, 1, NULL), ENOENT);
  CHECK_ERR(ferry_counter_free(a, x), ENOENT);
  CHECK_ERR(ferry_counter_free(a, 0), EINVAL);
  CHECK_OK(ferry_close(a));
  CHECK_OK(ferry_close(b));
}

/* A buffer freed and reallocated between calls (what a registration cache
 * must get right): every read lands in the current buffer. */
static void test_realloc_buffer(void) {
  char p[128];
  path(p, sizeof p, "realloc");
  struct ferry_layout l = {STRIP, 4, 0};
  int fh = ferry_open_layout(p, O_CREAT | O_RDWR, 0644, &l);
  CHECK_OK(fh);
  enum { N = 8 * STRIP + 77 };
  unsigned char *w = malloc(N);
  fill(w, N, 99);
  CHECK_EQ(ferry_pwrite(fh, w, N, 0), N);
  for (int i = 0; i < 20; i++) {
    size_t n = (i % 2) ? N : N / 3;
    unsigned char *r = malloc(n);
    memset(r, i, n);
    CHECK_EQ(ferry_pread(fh, r, n, 0), n);
    CHECK(memcmp(r, w, n) == 0);
    free(r);
    /* and a write from a fresh buffer */
    unsigned char *src = malloc(n);
    memcpy(src, w, n);
    CHECK_EQ(ferry_pwrite(fh, src, n, 0), n);
    free(src);
  }
  free(w);
  CHECK_OK(ferry_close(fh));
}

/* Freed handle numbers are reused, lowest first. */
static void test_handle_reuse(void) {
  char p[128];
  path(p, sizeof p, "reuse");
  int h[5];
  for (int i = 0; i < 5; i++) {
    h[i] = ferry_open(p, O_CREAT | O_RDWR, 0644);
    CHECK_OK(h[i]);
    if (i > 0)
      CHECK(h[i] > h[i - 1]);
  }
  CHECK_OK(ferry_close(h[3]));
  CHECK_OK(ferry_close(h[1]));
  CHECK_EQ(ferry_open(p, O_RDONLY, 0), h[1]);
  CHECK_EQ(ferry_open(p, O_RDONLY, 0), h[3]);
  CHECK_EQ(ferry_open(p, O_RDONLY, 0), h[4] + 1);
  for (int i = 0; i < 5; i++)
    CHECK_OK(ferry_close(h[i]));
  CHECK_OK(ferry_close(h[4] + 1));
}

int main(void) {
  CHECK_OK(ferry_init(NULL));
  test_dir(dir, sizeof dir, "test_io");
  test_roundtrip();
  test_unaligned();
  test_eof_and_holes();
  test_position();
  test_append_trunc();
  test_counter();
  test_realloc_buffer();
  test_handle_reuse();
  CHECK_OK(ferry_finalize());
  printf("test_io: ok\n");
  return 0;
}
