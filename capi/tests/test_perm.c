/* test_perm - ferry_chmod and ferry_chown round trips, the mode given at
 * create and mkdir, and the servers enforcing them on an unprivileged
 * user: the test runs itself again as user nobody (it must start as root
 * to do so; otherwise that part is skipped with a message). Needs
 * $FERRY_CONFIG. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "check.h"

#define NOBODY 65534

/* as_nobody is the part run as nobody: dir is root's 0755 directory with
 * a 0600 file "secret", a 0644 file "open" and a sticky 01777 directory
 * "tmp" holding root's 0666 file "theirs". */
static int as_nobody(const char *dir) {
  char p[200], q[200];
  struct ferry_stat st;
  CHECK_OK(ferry_init(NULL));
  CHECK_EQ(getuid(), NOBODY);

  snprintf(p, sizeof p, "%s/secret", dir);
  CHECK_ERR(ferry_open(p, O_RDONLY, 0), EACCES);
  CHECK_ERR(ferry_open(p, O_WRONLY, 0), EACCES);
  CHECK_OK(ferry_stat(p, &st)); /* stat needs only search on the way */
  CHECK_EQ(st.mode, S_IFREG | 0600);
  CHECK_ERR(ferry_chmod(p, 0666), EPERM);
  CHECK_ERR(ferry_chown(p, NOBODY, (gid_t)-1), EPERM);
  CHECK_ERR(ferry_unlink(p), EACCES); /* dir is 0755: no write for others */

  snprintf(p, sizeof p, "%s/open", dir);
  int fh = ferry_open(p, O_RDONLY, 0);
  CHECK_OK(fh);
  char b[4];
  CHECK_EQ(ferry_pread(fh, b, 4, 0), 4);
  CHECK(memcmp(b, "open", 4) == 0);
  CHECK_OK(ferry_close(fh));
  CHECK_ERR(ferry_open(p, O_RDWR, 0), EACCES);

  snprintf(p, sizeof p, "%s/new", dir);
  CHECK_ERR(ferry_open(p, O_CREAT | O_WRONLY, 0644), EACCES);
  CHECK_ERR(ferry_mkdir(p, 0755), EACCES);

  /* In the sticky directory: make and remove our own file, not root's. */
  snprintf(p, sizeof p, "%s/tmp/mine", dir);
  fh = ferry_open(p, O_CREAT | O_EXCL | O_WRONLY, 0400);
  CHECK_OK(fh);
  CHECK_EQ(ferry_pwrite(fh, "mine", 4, 0), 4); /* the creator may, mode or not */
  CHECK_OK(ferry_close(fh));
  CHECK_OK(ferry_stat(p, &st));
  CHECK_EQ(st.uid, NOBODY);
  CHECK_EQ(st.mode, S_IFREG | 0400);
  CHECK_OK(ferry_chmod(p, 0640));
  snprintf(q, sizeof q, "%s/tmp/theirs", dir);
  CHECK_ERR(ferry_unlink(q), EPERM);
  CHECK_ERR(ferry_rename(q, p), EPERM);
  CHECK_ERR(ferry_rename(p, q), EPERM); /* would replace root's file */
  fh = ferry_open(q, O_RDWR, 0); /* 0666: writable, just not removable */
  CHECK_OK(fh);
  CHECK_OK(ferry_close(fh));
  CHECK_OK(ferry_unlink(p));
  CHECK_OK(ferry_finalize());
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--as-nobody") == 0)
    return as_nobody(argv[2]);

  CHECK_OK(ferry_init(NULL));
  char dir[64], p[160], q[160];
  test_dir(dir, sizeof dir, "test_perm");
  struct ferry_stat st;

  /* The mode given at create and mkdir is what the entry gets. */
  snprintf(p, sizeof p, "%s/secret", dir);
  int fh = ferry_open(p, O_CREAT | O_EXCL | O_WRONLY, 0600);
  CHECK_OK(fh);
  CHECK_OK(ferry_close(fh));
  CHECK_OK(ferry_stat(p, &st));
  CHECK_EQ(st.mode, S_IFREG | 0600);
  snprintf(q, sizeof q, "%s/tmp", dir);
  CHECK_OK(ferry_mkdir(q, 01777));
  CHECK_OK(ferry_stat(q, &st));
  CHECK_EQ(st.mode, S_IFDIR | 01777);

  /* chmod and chown round trips. */
  CHECK_OK(ferry_chmod(p, 0640));
  CHECK_OK(ferry_stat(p, &st));
  CHECK_EQ(st.mode, S_IFREG | 0640);
  CHECK_OK(ferry_chown(p, 1234, 5678));
  CHECK_OK(ferry_stat(p, &st));
  CHECK_EQ(st.uid, 1234);
  CHECK_EQ(st.gid, 5678);
  CHECK_OK(ferry_chown(p, (uid_t)-1, 42));
  CHECK_OK(ferry_stat(p, &st));
  CHECK_EQ(st.uid, 1234);
  CHECK_EQ(st.gid, 42);
  CHECK_OK(ferry_chown(p, 0, 0));
  CHECK_OK(ferry_chmod(p, 0600));
  CHECK_ERR(ferry_chmod(p, 010000), EINVAL);
  CHECK_ERR(ferry_chmod(NULL, 0600), EFAULT);
  snprintf(q, sizeof q, "%s/missing", dir);
  CHECK_ERR(ferry_chmod(q, 0600), ENOENT);
  CHECK_ERR(ferry_chown(q, 0, 0), ENOENT);

  snprintf(p, sizeof p, "%s/open", dir);
  fh = ferry_open(p, O_CREAT | O_EXCL | O_WRONLY, 0644);
  CHECK_OK(fh);
  CHECK_EQ(ferry_pwrite(fh, "open", 4, 0), 4);
  CHECK_OK(ferry_close(fh));
  snprintf(p, sizeof p, "%s/tmp/theirs", dir);
  fh = ferry_open(p, O_CREAT | O_EXCL | O_WRONLY, 0666);
  CHECK_OK(fh);
  CHECK_OK(ferry_close(fh));
  CHECK_OK(ferry_finalize());

  if (geteuid() != 0) {
    printf("test_perm: not root, skipping the part run as nobody\n");
    return 0;
  }
  /* The library's runtime has threads: run the other user in a fresh
   * process image, never in a bare fork. */
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    if (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
      _exit(125);
    execl("/proc/self/exe", argv[0], "--as-nobody", dir, (char *)NULL);
    _exit(126);
  }
  int status;
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 0);

  /* Root's files are as they were. */
  CHECK_OK(ferry_init(NULL));
  snprintf(p, sizeof p, "%s/tmp/theirs", dir);
  CHECK_OK(ferry_stat(p, &st));
  CHECK_EQ(st.uid, 0);
  CHECK_OK(ferry_finalize());
  return 0;
}
