/* test_listio - list I/O (ferry_preadv, ferry_pwritev): scattered file
 * segments to and from strided and separate buffers, against a local
 * shadow copy; many small segments; the end of the file and holes; the
 * argument errors. Needs $FERRY_CONFIG. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>

#include "check.h"

#define STRIP 4096
#define SIZE (STRIP * 4 * 8) /* 8 rounds over 4 servers */

static char dir[64];

static unsigned rnd(unsigned *x) {
  *x = *x * 1103515245u + 12345u;
  return *x >> 8;
}

/* make_list: sorted, disjoint segments of [0, size) and iovecs over buf
 * (every piece followed by a gap) holding the same bytes. Returns the total. */
static int64_t make_list(unsigned *seed, unsigned char *buf, int64_t size, int maxseg,
                         struct ferry_segment *segs, int *nsegs, struct iovec *iov, int *niov) {
  int64_t total = 0;
  *nsegs = 0;
  for (int64_t off = rnd(seed) % 1000; off < size;) {
    int64_t n = 1 + rnd(seed) % maxseg;
    if (n > size - off) n = size - off;
    segs[*nsegs].offset = off;
    segs[*nsegs].length = n;
    (*nsegs)++;
    total += n;
    off += n + rnd(seed) % 3000;
  }
  *niov = 0;
  size_t at = 0;
  for (int64_t left = total; left > 0;) {
    int64_t n = 1 + rnd(seed) % maxseg;
    if (n > left) n = left;
    iov[*niov].iov_base = buf + at;
    iov[*niov].iov_len = (size_t)n;
    (*niov)++;
    at += (size_t)n + rnd(seed) % 32;
    left -= n;
  }
  return total;
}

static void test_roundtrip(void) {
  char p[128];
  snprintf(p, sizeof p, "%s/roundtrip", dir);
  struct ferry_layout l = {STRIP, 4, 0};
  int fh = ferry_open_layout(p, O_CREAT | O_EXCL | O_RDWR, 0644, &l);
  CHECK_OK(fh);
  unsigned char *shadow = calloc(1, SIZE), *src = malloc(2 * SIZE), *dst = malloc(2 * SIZE),
                *whole = malloc(SIZE);
  struct ferry_segment *segs = malloc(sizeof *segs * SIZE);
  struct iovec *iov = malloc(sizeof *iov * SIZE);
  unsigned seed = 42;
  int ns, ni;
  for (int round = 0; round < 3; round++) {
    fill(src, 2 * SIZE, round + 1);
    int64_t total = make_list(&seed, src, SIZE, 9000, segs, &ns, iov, &ni);
    CHECK_EQ(ferry_pwritev(fh, iov, ni, segs, ns), total);
    /* the shadow: the pieces' bytes, in order, at the segments, in order */
    int k = 0;
    size_t ko = 0;
    for (int s = 0; s < ns; s++)
      for (int64_t j = 0; j < segs[s].length; j++) {
        while (ko == iov[k].iov_len) k++, ko = 0;
        shadow[segs[s].offset + j] = ((unsigned char *)iov[k].iov_base)[ko++];
      }
  }
  int64_t end = SIZE;
  while (end > 0 && shadow[end - 1] == 0) end--;
  CHECK_EQ(ferry_pread(fh, whole, SIZE, 0), end);
  CHECK(memcmp(whole, shadow, (size_t)end) == 0);

  /* read back: many small segments into scattered pieces */
  memset(dst, 0xAA, 2 * SIZE);
  int64_t total = make_list(&seed, dst, end, 700, segs, &ns, iov, &ni);
  CHECK(ns > 50);
  CHECK_EQ(ferry_preadv(fh, iov, ni, segs, ns), total);
  int k = 0;
  size_t ko = 0;
  for (int s = 0; s < ns; s++)
    for (int64_t j = 0; j < segs[s].length; j++) {
      while (ko == iov[k].iov_len) k++, ko = 0;
      CHECK_EQ(((unsigned char *)iov[k].iov_base)[ko++], shadow[segs[s].offset + j]);
    }

  /* separate allocations, segments out of order and overlapping */
  unsigned char *a = malloc(3000), *b = malloc(5000);
  struct iovec two[2] = {{a, 3000}, {b, 5000}};
  struct ferry_segment back[3] = {{20000, 4000}, {100, 2000}, {1100, 2000}};
  CHECK_EQ(ferry_preadv(fh, two, 2, back, 3), 8000);
  CHECK(memcmp(a, shadow + 20000, 3000) == 0);
  CHECK(memcmp(b, shadow + 23000, 1000) == 0);
  CHECK(memcmp(b + 1000, shadow + 100, 2000) == 0);
  CHECK(memcmp(b + 3000, shadow + 1100, 2000) == 0);
  free(a);
  free(b);
  CHECK_OK(ferry_close(fh));
  free(shadow);
  free(src);
  free(dst);
  free(whole);
  free(segs);
  free(iov);
}

static void test_end_of_file(void) {
  char p[128];
  snprintf(p, sizeof p, "%s/eof", dir);
  int fh = ferry_open(p, O_CREAT | O_EXCL | O_RDWR, 0644);
  CHECK_OK(fh);
  unsigned char seven[100];
  memset(seven, 7, sizeof seven);
  CHECK_EQ(ferry_pwrite(fh, seven, 100, 300000), 100);
  static unsigned char a[70000], b[200];
  memset(a, 0xEE, sizeof a);
  memset(b, 0xEE, sizeof b);
  struct iovec iov[2] = {{a, sizeof a}, {b, sizeof b}};
  struct ferry_segment segs[2] = {{230000, 70000}, {300050, 200}};
  /* a hole below the end reads zeros; the list stops at the end */
  CHECK_EQ(ferry_preadv(fh, iov, 2, segs, 2), 70050);
  for (size_t i = 0; i < sizeof a; i++) CHECK_EQ(a[i], 0);
  for (int i = 0; i < 50; i++) CHECK_EQ(b[i], 7);
  struct ferry_segment past = {400000, 200};
  CHECK_EQ(ferry_preadv(fh, iov + 1, 1, &past, 1), 0);
  /* past the largest file size is past the end too, as for ferry_pread */
  struct ferry_segment beyond[2] = {{300000, 100}, {((off_t)1 << 50) - 100, 100}};
  CHECK_EQ(ferry_preadv(fh, iov + 1, 1, beyond, 2), 100);
  beyond[1].offset = (off_t)1 << 50;
  CHECK_EQ(ferry_preadv(fh, iov + 1, 1, beyond, 2), 100);
  struct iovec half = {b, 100};
  CHECK_EQ(ferry_preadv(fh, &half, 1, beyond + 1, 1), 0);
  CHECK_EQ(ferry_preadv(fh, NULL, 0, NULL, 0), 0);
  CHECK_OK(ferry_close(fh));
}

static void test_errors(void) {
  char p[128];
  snprintf(p, sizeof p, "%s/errors", dir);
  int fh = ferry_open(p, O_CREAT | O_EXCL | O_WRONLY, 0644);
  CHECK_OK(fh);
  char buf[16];
  struct iovec iov = {buf, sizeof buf};
  struct ferry_segment seg = {0, sizeof buf}, longer = {0, sizeof buf + 1}, neg = {-1, sizeof buf};
  CHECK_ERR(ferry_pwritev(fh, &iov, 1, &longer, 1), EINVAL);
  CHECK_ERR(ferry_pwritev(fh, &iov, 1, &neg, 1), EINVAL);
  struct ferry_segment past_limit = {((off_t)1 << 50) - 5, sizeof buf}; /* ends past 1 PiB */
  CHECK_ERR(ferry_pwritev(fh, &iov, 1, &past_limit, 1), EFBIG);
  CHECK_ERR(ferry_pwritev(fh, &iov, -1, &seg, 1), EINVAL);
  CHECK_ERR(ferry_pwritev(fh, NULL, 1, &seg, 1), EFAULT);
  CHECK_ERR(ferry_pwritev(fh, &iov, 1, NULL, 1), EFAULT);
  struct iovec nullbase = {NULL, 16};
  CHECK_ERR(ferry_pwritev(fh, &nullbase, 1, &seg, 1), EFAULT);
  CHECK_ERR(ferry_preadv(fh, &iov, 1, &seg, 1), EBADF); /* O_WRONLY */
  CHECK_EQ(ferry_pwritev(fh, &iov, 1, &seg, 1), 16);
  CHECK_OK(ferry_close(fh));
  CHECK_ERR(ferry_pwritev(fh, &iov, 1, &seg, 1), EBADF);
  fh = ferry_open(p, O_RDONLY, 0);
  CHECK_ERR(ferry_pwritev(fh, &iov, 1, &seg, 1), EBADF);
  CHECK_OK(ferry_close(fh));
  fh = ferry_open(p, O_WRONLY | O_APPEND, 0);
  CHECK_ERR(ferry_pwritev(fh, &iov, 1, &seg, 1), EINVAL);
  CHECK_OK(ferry_close(fh));
}

int main(void) {
  CHECK_OK(ferry_init(NULL));
  test_dir(dir, sizeof dir, "listio");
  test_roundtrip();
  test_end_of_file();
  test_errors();
  CHECK_OK(ferry_finalize());
  printf("test_listio: ok\n");
  return 0;
}
