/* test_loader - libferry loads libfabric with the stand-ins for its PSM
 * dependencies (build/lib/ferry, beside libferry) in place of the real
 * libraries, and a program that sets FERRY_PSM_STUBS=off with setenv
 * before ferry_init gets no stand-in: the variable is read as C sees it
 * at the first fabric open. Bytes written and read back are equal either
 * way. Needs $FERRY_CONFIG. */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include "check.h"

extern char **environ;

/* stand_in_mapped says whether a PSM stand-in (a libpsm*.so under a
 * directory named ferry) is mapped into this process. */
static int stand_in_mapped(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  CHECK(f != NULL);
  char line[4096];
  int found = 0;
  while (fgets(line, sizeof line, f))
    if (strstr(line, "/ferry/libpsm"))
      found = 1;
  fclose(f);
  return found;
}

/* io writes 1 MiB, reads it back and compares, so the fabric is open. */
static void io(const char *path) {
  enum { N = 1 << 20 };
  char *w = malloc(N), *r = malloc(N);
  CHECK(w && r);
  for (int i = 0; i < N; i++)
    w[i] = (char)(i * 7 + (i >> 12));
  int fh = ferry_open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
  CHECK_OK(fh);
  CHECK_EQ(ferry_pwrite(fh, w, N, 0), N);
  CHECK_EQ(ferry_pread(fh, r, N, 0), N);
  CHECK(memcmp(w, r, N) == 0);
  CHECK_OK(ferry_close(fh));
  CHECK_OK(ferry_unlink(path));
  free(w);
  free(r);
}

int main(int argc, char **argv) {
  (void)argc;
  int off = getenv("FERRY_TEST_LOADER_OFF") != NULL;
  if (off)
    CHECK(setenv("FERRY_PSM_STUBS", "off", 1) == 0); /* after libferry loaded */
  else
    unsetenv("FERRY_PSM_STUBS");
  CHECK_OK(ferry_init(NULL));
  char path[64];
  snprintf(path, sizeof path, "/loader-%d", (int)getpid());
  io(path);
  if (off) {
    CHECK(!stand_in_mapped());
  } else {
    CHECK(stand_in_mapped());
  }
  CHECK_OK(ferry_finalize());
  if (off)
    return 0;

  /* The same program again, told to set FERRY_PSM_STUBS=off itself. */
  CHECK(setenv("FERRY_TEST_LOADER_OFF", "1", 1) == 0);
  pid_t pid;
  int rc = posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ);
  CHECK_EQ(rc, 0);
  int status;
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  printf("test_loader: ok\n");
  return 0;
}
