/*
 * ferry_cp - copy a file between the local file system and Ferry.
 *
 *   ferry_cp [-s STRIP_SIZE] [-c SERVER_COUNT] SRC DST
 *
 * Exactly one of SRC and DST is a Ferry path, written "ferry:/dir/file";
 * the other is a local path. A new Ferry file gets the layout -s and -c ask
 * for (the file system's defaults otherwise). The copy moves one full
 * stripe (strip size x server count) per call, so every ferry_pwrite or
 * ferry_pread keeps all the file's servers busy at once.
 *
 * The config comes from $FERRY_CONFIG (or ./.ferry-local/ferry.toml).
 *
 * Build: cc ferry_cp.c $(pkg-config --cflags --libs ferry) -o ferry_cp
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ferry.h>

static int is_ferry(const char *p) { return strncmp(p, "ferry:", 6) == 0; }

/* die reports err and exits. It finalizes first: a process that exits
 * without ferry_finalize() leaves its fabric endpoint's files behind (the
 * shm provider's in /dev/shm). */
static void die(const char *what, const char *path, int err) {
  fprintf(stderr, "ferry_cp: %s %s: %s\n", what, path, ferry_strerror(err));
  ferry_finalize();
  exit(1);
}

/* to_ferry copies local file src to Ferry path dst. */
static void to_ferry(const char *src, const char *dst, struct ferry_layout *hints) {
  int in = open(src, O_RDONLY);
  if (in < 0)
    die("open", src, -errno);
  int out = ferry_open_layout(dst, O_CREAT | O_WRONLY | O_TRUNC, 0644, hints);
  if (out < 0)
    die("open", dst, out);

  /* One stripe per call: the layout the file really got. */
  struct ferry_stat st;
  int rc = ferry_fstat(out, &st);
  if (rc < 0)
    die("stat", dst, rc);
  size_t chunk = (size_t)st.strip_size * (size_t)st.server_count;
  char *buf = malloc(chunk);
  if (!buf)
    die("malloc", "", -ENOMEM);

  off_t off = 0;
  for (;;) {
    ssize_t n = 0, r;
    while ((size_t)n < chunk && (r = read(in, buf + n, chunk - (size_t)n)) > 0)
      n += r; /* fill the whole stripe unless at end of file */
    if (r < 0)
      die("read", src, -errno);
    if (n == 0)
      break;
    ssize_t w = ferry_pwrite(out, buf, (size_t)n, off);
    if (w < 0)
      die("write", dst, (int)w);
    off += w;
  }
  rc = ferry_fsync(out); /* durable before we say done */
  if (rc < 0)
    die("fsync", dst, rc);
  ferry_close(out);
  close(in);
  free(buf);
}

/* from_ferry copies Ferry path src to local file dst. */
static void from_ferry(const char *src, const char *dst) {
  int in = ferry_open(src, O_RDONLY, 0);
  if (in < 0)
    die("open", src, in);
  struct ferry_stat st;
  int rc = ferry_fstat(in, &st);
  if (rc < 0)
    die("stat", src, rc);
  int out = open(dst, O_CREAT | O_WRONLY | O_TRUNC, 0644);
  if (out < 0)
    die("open", dst, -errno);
  size_t chunk = (size_t)st.strip_size * (size_t)st.server_count;
  char *buf = malloc(chunk);
  if (!buf)
    die("malloc", "", -ENOMEM);

  off_t off = 0;
  for (;;) {
    ssize_t n = ferry_pread(in, buf, chunk, off);
    if (n < 0)
      die("read", src, (int)n);
    if (n == 0) /* end of file */
      break;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = write(out, buf + done, (size_t)(n - done));
      if (w < 0)
        die("write", dst, -errno);
      done += w;
    }
    off += n;
  }
  if (close(out) < 0)
    die("close", dst, -errno);
  ferry_close(in);
  free(buf);
}

int main(int argc, char **argv) {
  struct ferry_layout hints = {0, 0, 0};
  int opt;
  while ((opt = getopt(argc, argv, "s:c:")) != -1) {
    switch (opt) {
    case 's':
      hints.strip_size = strtoll(optarg, NULL, 0);
      break;
    case 'c':
      hints.server_count = atoi(optarg);
      break;
    default:
      goto usage;
    }
  }
  if (argc - optind != 2 || is_ferry(argv[optind]) == is_ferry(argv[optind + 1]))
    goto usage;
  const char *src = argv[optind], *dst = argv[optind + 1];

  int rc = ferry_init(NULL);
  if (rc < 0)
    die("init", "", rc);
  if (is_ferry(dst))
    to_ferry(src, dst, &hints);
  else
    from_ferry(src, dst);
  ferry_finalize();
  return 0;

usage:
  fprintf(stderr, "usage: ferry_cp [-s STRIP_SIZE] [-c SERVER_COUNT] SRC DST\n"
                  "  one of SRC, DST is ferry:/path, the other a local file\n");
  return 2;
}
