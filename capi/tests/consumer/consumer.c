/* consumer - writes and reads back one file through an installed libferry
 * (or the build tree's). It includes no <errno.h>: ferry.h must. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <ferry.h>

int main(int argc, char **argv) {
  const char *how = argc > 1 ? argv[1] : "?";
  int rc = ferry_init(NULL);
  if (rc < 0) {
    fprintf(stderr, "ferry_init: %s\n", ferry_strerror(rc));
    return 1;
  }
  char path[64], buf[16] = {0};
  snprintf(path, sizeof path, "/consumer-%s-%d", how, (int)getpid());
  int fh = ferry_open(path, O_CREAT | O_RDWR | O_EXCL, 0644);
  if (fh < 0 || ferry_pwrite(fh, "consumed", 8, 0) != 8 || ferry_pread(fh, buf, sizeof buf, 0) != 8 ||
      strcmp(buf, "consumed") != 0) {
    fprintf(stderr, "consumer (%s): I/O failed\n", how);
    return 1;
  }
  ferry_close(fh);
  /* ferry.h alone brings the E* values its calls return. */
  if (ferry_open(path, O_CREAT | O_RDWR | O_EXCL, 0644) != -EEXIST) {
    fprintf(stderr, "consumer (%s): second O_EXCL create did not fail with -EEXIST\n", how);
    return 1;
  }
  struct ferry_statfs fs;
  if (ferry_statfs(&fs) != 0 || fs.servers < 1 || fs.bytes_avail > fs.bytes) {
    fprintf(stderr, "consumer (%s): ferry_statfs failed\n", how);
    return 1;
  }
  ferry_unlink(path);
  ferry_finalize();
  printf("consumer (%s): ok, library %s, header %s\n", how, ferry_version(), FERRY_VERSION);
  size_t n = strlen(FERRY_VERSION);
  const char *v = ferry_version();
  return strncmp(v, FERRY_VERSION, n) != 0 || (v[n] != '\0' && v[n] != '+');
}
