/* test_lifecycle - calls before ferry_init and after ferry_finalize fail
 * with -ENXIO (no crash); init finds its config (argument, $FERRY_CONFIG,
 * ./.ferry-local/ferry.toml) and reports a missing, malformed or
 * unreachable one; init/finalize nest; finalize closes every handle.
 * Needs $FERRY_CONFIG. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "check.h"

/* Every call that needs the library fails with -ENXIO. */
static void all_enxio(int fh) {
  char buf[8];
  int64_t v;
  struct ferry_stat st;
  struct ferry_dirent ent;
  CHECK_ERR(ferry_open("/x", O_RDONLY, 0), ENXIO);
  CHECK_ERR(ferry_open_layout("/x", O_RDONLY, 0, NULL), ENXIO);
  CHECK_ERR(ferry_open(NULL, O_RDONLY, 0), ENXIO);
  CHECK_ERR(ferry_close(fh), ENXIO);
  CHECK_ERR(ferry_pread(fh, buf, sizeof buf, 0), ENXIO);
  CHECK_ERR(ferry_pwrite(fh, buf, sizeof buf, 0), ENXIO);
  CHECK_ERR(ferry_read(fh, buf, sizeof buf), ENXIO);
  CHECK_ERR(ferry_write(fh, buf, sizeof buf), ENXIO);
  CHECK_ERR(ferry_lseek(fh, 0, SEEK_SET), ENXIO);
  CHECK_ERR(ferry_fsync(fh), ENXIO);
  CHECK_ERR(ferry_ftruncate(fh, 0), ENXIO);
  CHECK_ERR(ferry_get_size(fh, &v), ENXIO);
  CHECK_ERR(ferry_fetch_add(fh, 1, &v), ENXIO);
  CHECK_ERR(ferry_set_counter(fh, 1, &v), ENXIO);
  uint64_t id;
  CHECK_ERR(ferry_counter_new(fh, 0, &id), ENXIO);
  CHECK_ERR(ferry_counter_add(fh, 1, 1, &v), ENXIO);
  CHECK_ERR(ferry_counter_set(fh, 1, 1, &v), ENXIO);
  CHECK_ERR(ferry_counter_free(fh, 1), ENXIO);
  CHECK_ERR(ferry_fstat(fh, &st), ENXIO);
  CHECK_ERR(ferry_stat("/", &st), ENXIO);
  CHECK_ERR(ferry_unlink("/x"), ENXIO);
  CHECK_ERR(ferry_mkdir("/x", 0755), ENXIO);
  CHECK_ERR(ferry_rmdir("/x"), ENXIO);
  CHECK_ERR(ferry_rename("/x", "/y"), ENXIO);
  CHECK_ERR(ferry_opendir("/"), ENXIO);
  CHECK_ERR(ferry_readdir(0, &ent), ENXIO);
  CHECK_ERR(ferry_closedir(0), ENXIO);
  CHECK_ERR(ferry_finalize(), ENXIO);
}

static void write_file(const char *p, const char *text) {
  FILE *f = fopen(p, "w");
  CHECK(f != NULL);
  fputs(text, f);
  fclose(f);
}

int main(void) {
  const char *cfg = getenv("FERRY_CONFIG");
  CHECK(cfg != NULL);
  char *config = strdup(cfg);

  /* Before init. */
  CHECK(strncmp(ferry_version(), FERRY_VERSION, strlen(FERRY_VERSION)) == 0 &&
        strchr("+", ferry_version()[strlen(FERRY_VERSION)]) != NULL);
  CHECK(strcmp(ferry_strerror(-ENXIO), "No such device or address") == 0);
  all_enxio(0);

  /* Config lookup failures. */
  char tmp[] = "/tmp/ferry-lifecycle-XXXXXX";
  CHECK(mkdtemp(tmp) != NULL);
  char bad[128], dead[128];
  snprintf(bad, sizeof bad, "%s/bad.toml", tmp);
  snprintf(dead, sizeof dead, "%s/dead.toml", tmp);
  write_file(bad, "this is [not toml\n");
  /* A server that is not there: port 1 on loopback refuses. */
  write_file(dead, "timeout = \"2s\"\n[[server]]\nid = 0\naddress = \"127.0.0.1:1\"\n"
                   "storage = \"/tmp/none\"\n");
  CHECK_ERR(ferry_init("/nonexistent/ferry.toml"), ENOENT);
  CHECK_ERR(ferry_init(bad), EINVAL);
  CHECK_ERR(ferry_init(dead), ECONNREFUSED);
  CHECK(chdir(tmp) == 0);
  unsetenv("FERRY_CONFIG");
  CHECK_ERR(ferry_init(NULL), ENOENT); /* nothing: no env, no ./.ferry-local */
  CHECK_ERR(ferry_init(""), ENOENT);
  all_enxio(0); /* failed inits leave it uninitialized */

  /* ./.ferry-local/ferry.toml is found (a symlink to the real config). */
  CHECK(mkdir(".ferry-local", 0755) == 0);
  CHECK(symlink(config, ".ferry-local/ferry.toml") == 0);
  CHECK_OK(ferry_init(NULL));
  CHECK_OK(ferry_finalize());
  all_enxio(0);

  /* $FERRY_CONFIG is found, and explicit paths work. */
  setenv("FERRY_CONFIG", config, 1);
  CHECK_OK(ferry_init(NULL));
  CHECK_OK(ferry_finalize());
  CHECK_OK(ferry_init(config));

  /* Nesting: a second init only counts; handles survive the inner finalize. */
  CHECK_OK(ferry_init("/ignored/when/nested.toml"));
  char p[64];
  snprintf(p, sizeof p, "/test_lifecycle-%d", (int)getpid());
  int fh = ferry_open(p, O_CREAT | O_RDWR, 0644);
  CHECK_OK(fh);
  int dh = ferry_opendir("/");
  CHECK_OK(dh);
  CHECK_OK(ferry_finalize());
  CHECK_EQ(ferry_pwrite(fh, "abc", 3, 0), 3);
  CHECK_OK(ferry_finalize()); /* the last one: everything closed */
  all_enxio(fh);
  CHECK_ERR(ferry_readdir(dh, NULL), ENXIO);

  /* Init again: old handles are gone, the data is not. */
  CHECK_OK(ferry_init(NULL));
  CHECK_ERR(ferry_pread(fh, p, 1, 0), EBADF);
  CHECK_ERR(ferry_close(fh), EBADF);
  CHECK_ERR(ferry_closedir(dh), EBADF);
  int fh2 = ferry_open(p, O_RDONLY, 0);
  CHECK_EQ(fh2, 0); /* tables start empty */
  char buf[8] = {0};
  CHECK_EQ(ferry_pread(fh2, buf, sizeof buf, 0), 3);
  CHECK(memcmp(buf, "abc", 3) == 0);

  /* A forked child gets -ENXIO at once from every call (the Go runtime
   * does not survive fork: calls used to wait forever); the parent goes on. */
  const char *ver = ferry_version();
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    all_enxio(fh2);
    CHECK_ERR(ferry_init(NULL), ENXIO);
    CHECK(ferry_version() == ver);
    _exit(0);
  }
  int status = -1;
  for (int i = 0; i < 600 && waitpid(child, &status, WNOHANG) == 0; i++) usleep(50000);
  if (waitpid(child, &status, WNOHANG) == 0) {
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    CHECK(!"the forked child hung in a libferry call");
  }
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK_EQ(ferry_pread(fh2, buf, sizeof buf, 0), 3);
  CHECK_OK(ferry_close(fh2));
  CHECK_OK(ferry_unlink(p));
  CHECK_OK(ferry_finalize());
  all_enxio(0);

  unlink(".ferry-local/ferry.toml");
  rmdir(".ferry-local");
  unlink(bad);
  unlink(dead);
  CHECK(chdir("/") == 0);
  rmdir(tmp);
  free(config);
  printf("test_lifecycle: ok\n");
  return 0;
}
