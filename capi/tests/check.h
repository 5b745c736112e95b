/* check.h - tiny assertion helpers for the libferry C tests. */
#ifndef FERRY_TEST_CHECK_H
#define FERRY_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ferry.h>

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond)) {                                                           \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      exit(1);                                                               \
    }                                                                        \
  } while (0)

/* CHECK_EQ(got, want): both evaluated once, compared as long long. */
#define CHECK_EQ(got, want)                                                  \
  do {                                                                       \
    long long g_ = (long long)(got), w_ = (long long)(want);                 \
    if (g_ != w_) {                                                          \
      fprintf(stderr, "%s:%d: %s = %lld (%s), want %s = %lld\n", __FILE__,   \
              __LINE__, #got, g_, g_ < 0 ? ferry_strerror((int)g_) : "",     \
              #want, w_);                                                    \
      exit(1);                                                               \
    }                                                                        \
  } while (0)

/* CHECK_OK(call): call returns >= 0. */
#define CHECK_OK(call)                                                       \
  do {                                                                       \
    long long r_ = (long long)(call);                                        \
    if (r_ < 0) {                                                            \
      fprintf(stderr, "%s:%d: %s = %lld (%s)\n", __FILE__, __LINE__, #call,  \
              r_, ferry_strerror((int)r_));                                  \
      exit(1);                                                               \
    }                                                                        \
  } while (0)

/* CHECK_ERR(call, E): call returns -E. */
#define CHECK_ERR(call, E) CHECK_EQ(call, -(E))

/* test_dir makes a fresh directory /<name>-<pid> in Ferry's namespace and
 * writes its path into buf. */
static inline void test_dir(char *buf, size_t len, const char *name) {
  snprintf(buf, len, "/%s-%d", name, (int)getpid());
  CHECK_OK(ferry_mkdir(buf, 0755));
}

/* fill makes deterministic test data: byte i of the pattern seeded by seed. */
static inline void fill(unsigned char *p, size_t n, unsigned seed) {
  unsigned x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    x = x * 1103515245u + 12345u;
    p[i] = (unsigned char)(x >> 16);
  }
}

#endif
